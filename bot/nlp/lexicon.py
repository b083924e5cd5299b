"""Loads the lexicon data files shipped in bot/nlp/lexicons (read once, cached)."""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any


def _read(name: str) -> str:
    return resources.files("bot.nlp").joinpath("lexicons", name).read_text(encoding="utf-8")


@cache
def load_lines(name: str) -> tuple[str, ...]:
    """A word list: one entry a line, `#` starts a comment, blank lines ignored."""
    out = []
    for line in _read(name).splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return tuple(out)


@cache
def load_json(name: str) -> Any:
    return json.loads(_read(name))


def alternation(words: tuple[str, ...] | list[str]) -> str:
    """A regex alternation of literal words, longest first so that 有限公司 wins over 公司."""
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))
