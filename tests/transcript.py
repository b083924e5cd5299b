"""Run a chat transcript through the console channel and return what the bot printed."""

from __future__ import annotations

import textwrap

from bot.clock import FakeClock
from bot.script import run_script
from bot.services import Services


def run(services: Services, script: str) -> str:
    clock = services.clock
    assert isinstance(clock, FakeClock)
    lines: list[str] = []
    run_script(services, clock, textwrap.dedent(script).strip().splitlines(), lines.append)
    return "\n".join(lines)


def replies(output: str, user: str) -> list[str]:
    """The bot's messages to one user, each with its continuation lines."""
    out: list[str] = []
    current: list[str] | None = None
    for line in output.splitlines():
        if line.startswith("→ "):
            if current is not None:
                out.append("\n".join(current))
            current = [line] if line.startswith(f"→ {user}: ") else None
            if current is None:
                continue
        elif line.startswith("@") or line.startswith("!"):
            if current is not None:
                out.append("\n".join(current))
            current = None
        elif current is not None:
            current.append(line)
    if current is not None:
        out.append("\n".join(current))
    return out
