"""Declarative handler registration: slash commands, card actions, dialog steps and free text.

Each feature module in bot/handlers/ owns a `Router`; `bot.handlers.build_root_router()` includes
them all. Handlers are plain functions `(ctx, ...) -> None` run in a worker thread inside one
transaction; they talk to the user only through `ctx` (reply / card / ask / notify).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.actions import ActionId

if TYPE_CHECKING:
    from bot.context import Context
    from storage.messaging import Dialog

CommandHandler = Callable[["Context", str], None]
ActionHandler = Callable[["Context", ActionId], None]
DialogHandler = Callable[["Context", "Dialog", str], None]
TextHandler = Callable[["Context", str], None]


@dataclass(frozen=True)
class Command:
    name: str
    handler: CommandHandler
    usage: str
    help: str
    aliases: tuple[str, ...] = ()


@dataclass
class Router:
    name: str
    commands: dict[str, Command] = field(default_factory=dict)
    actions: dict[str, ActionHandler] = field(default_factory=dict)
    dialogs: dict[tuple[str, str], DialogHandler] = field(default_factory=dict)
    text_handler: TextHandler | None = None
    children: list[Router] = field(default_factory=list)

    def command(self, name: str, *, usage: str, help: str, aliases: tuple[str, ...] = ()) -> Callable[
            [CommandHandler], CommandHandler]:
        def register(fn: CommandHandler) -> CommandHandler:
            cmd = Command(name, fn, usage, help, aliases)
            for key in (name, *aliases):
                if key in self.commands:
                    raise ValueError(f"command /{key} registered twice")
                self.commands[key] = cmd
            return fn

        return register

    def action(self, key: str) -> Callable[[ActionHandler], ActionHandler]:
        """`key` is `namespace:verb`; the rest of the id are arguments."""

        def register(fn: ActionHandler) -> ActionHandler:
            if key in self.actions:
                raise ValueError(f"action {key} registered twice")
            self.actions[key] = fn
            return fn

        return register

    def dialog(self, kind: str, step: str) -> Callable[[DialogHandler], DialogHandler]:
        def register(fn: DialogHandler) -> DialogHandler:
            self.dialogs[(kind, step)] = fn
            return fn

        return register

    def text(self) -> Callable[[TextHandler], TextHandler]:
        def register(fn: TextHandler) -> TextHandler:
            self.text_handler = fn
            return fn

        return register

    def include(self, child: Router) -> None:
        self.children.append(child)

    # ------------------------------------------------------------ lookup over the tree
    def _walk(self) -> list[Router]:
        out = [self]
        for child in self.children:
            out.extend(child._walk())
        return out

    def find_command(self, name: str) -> Command | None:
        for r in self._walk():
            if name in r.commands:
                return r.commands[name]
        return None

    def all_commands(self) -> list[Command]:
        seen: dict[str, Command] = {}
        for r in self._walk():
            for cmd in r.commands.values():
                seen.setdefault(cmd.name, cmd)
        return list(seen.values())

    def find_action(self, key: str) -> ActionHandler | None:
        for r in self._walk():
            if key in r.actions:
                return r.actions[key]
        return None

    def find_dialog(self, kind: str, step: str) -> DialogHandler | None:
        for r in self._walk():
            if (kind, step) in r.dialogs:
                return r.dialogs[(kind, step)]
        return None

    def find_text(self) -> TextHandler | None:
        for r in self._walk():
            if r.text_handler is not None:
                return r.text_handler
        return None


def split_args(text: str) -> list[str]:
    """Arguments separated by spaces (full-width too); quotes keep a name with spaces together."""
    import shlex

    text = text.replace("\u3000", " ").replace("“", '"').replace("”", '"')
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def parse_command(text: str) -> tuple[str, str] | None:
    """`/新客户 a b` → ("新客户", "a b"); full-width slash accepted."""
    stripped = text.strip()
    if not stripped or stripped[0] not in "/／":
        return None
    parts = stripped[1:].split(maxsplit=1)  # any whitespace, the full-width space of Chinese IMEs too
    if not parts:
        return None
    return parts[0], parts[1].strip() if len(parts) > 1 else ""


Payload = dict[str, Any]
