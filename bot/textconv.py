"""Text converters injected into core.dedup: traditional → simplified (OpenCC) and a sound key (pinyin).

Both are loaded once per process and cached per character or per string, because dedupe calls them
for every row of sheets with a million rows.
"""

from __future__ import annotations

from functools import lru_cache

import opencc
from pypinyin import Style, lazy_pinyin

_T2S = opencc.OpenCC("t2s")


@lru_cache(maxsize=1 << 18)
def to_simplified(text: str) -> str:
    """Traditional Chinese converted to Simplified; other text unchanged."""
    if text.isascii():
        return text
    return _T2S.convert(text)


@lru_cache(maxsize=1 << 16)
def _char_sound(char: str) -> str:
    if "\u3400" <= char <= "\u9fff":
        # toneless pinyin: 明/鸣, 博/搏, 晶/静 sound alike and are the usual typos in typed names
        return lazy_pinyin(char, style=Style.NORMAL, errors="default")[0] + " "
    return char


def to_phonetic(text: str) -> str:
    """A key that is equal for words that sound alike: toneless pinyin per Chinese character."""
    return "".join(_char_sound(c) for c in text).rstrip()


def make_normalizer():  # -> core.dedup.normalize.Normalizer (imported lazily to keep start-up cheap)
    from core.dedup.normalize import Normalizer

    return Normalizer(to_simplified=to_simplified, to_phonetic=to_phonetic)
