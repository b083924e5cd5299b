"""Typed, namespaced action ids for card buttons: `namespace:verb:arg1:arg2`.

A button carries ids only, never state; the handler re-reads the state and checks permissions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PART = re.compile(r"^[A-Za-z0-9_\-.]{1,64}$")
MAX_LEN = 200


class BadActionId(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ActionId:
    namespace: str
    verb: str
    args: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}:{self.verb}"

    def pack(self) -> str:
        return ":".join((self.namespace, self.verb, *self.args))

    def int_arg(self, index: int) -> int:
        try:
            return int(self.args[index])
        except (IndexError, ValueError) as exc:
            raise BadActionId(f"{self.pack()}: argument {index} is not a number") from exc

    @classmethod
    def parse(cls, text: str) -> ActionId:
        if not text or len(text) > MAX_LEN:
            raise BadActionId("empty or too long")
        parts = text.split(":")
        if len(parts) < 2 or not all(_PART.match(p) for p in parts):
            raise BadActionId(f"malformed action id {text!r}")
        return cls(parts[0], parts[1], tuple(parts[2:]))


def action(namespace: str, verb: str, *args: object) -> str:
    return ActionId(namespace, verb, tuple(str(a) for a in args)).pack()
