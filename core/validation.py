"""Input checks shared by use cases: phones, names, lengths. Messages are in Chinese."""

from __future__ import annotations

import re
import unicodedata

from core.errors import InvalidInput

MAX_NAME_LEN = 100
MAX_TEXT_LEN = 4000

_SEPARATORS = re.compile(r"[\s\-–—.()（）/]")


def fold_width(text: str) -> str:
    """Full-width digits/letters/punctuation to half-width (NFKC keeps CJK untouched)."""
    return unicodedata.normalize("NFKC", text)


def normalize_phone(raw: str) -> str | None:
    """Digits only; +86/0086/86 country prefix removed; landline area codes keep their 0.

    Returns None when the text does not look like a Chinese mobile or landline number.
    """
    text = fold_width(raw).strip().lower()
    text = text.removeprefix("tel:").strip()
    text = _SEPARATORS.sub("", text)
    international = False
    if text.startswith("+"):
        text = text[1:]
        if text.startswith("86"):
            text, international = text[2:], True
    elif text.startswith("0086"):
        text, international = text[4:], True
    elif text.startswith("86") and len(text) == 13 and text[2] == "1":
        text, international = text[2:], True
    if not text.isdigit():
        return None
    if len(text) == 11 and text[0] == "1" and text[1] in "3456789":
        return text
    if international and text[0] != "0":
        text = "0" + text  # +86 571 … drops the trunk 0 of the area code; put it back
    if text[0] == "0" and text[1] != "0" and 10 <= len(text) <= 12:
        return text
    return None


def require_phone(raw: str) -> str:
    phone = normalize_phone(raw)
    if phone is None:
        raise InvalidInput(
            f"「{raw}」不像是有效的电话号码。",
            hint="手机号是 11 位（如 138 1234 5678），座机请带区号（如 0571-8723 6610）。",
        )
    return phone


def require_name(raw: str, what: str = "名称") -> str:
    name = " ".join(fold_width(raw).split())
    if not name:
        raise InvalidInput(f"{what}不能为空。")
    if len(name) > MAX_NAME_LEN:
        raise InvalidInput(f"{what}太长了（最多 {MAX_NAME_LEN} 个字）。")
    return name


def require_reason(raw: str | None, what: str = "原因") -> str:
    reason = (raw or "").strip()
    if not reason:
        raise InvalidInput(f"请说明{what}。")
    if len(reason) > 500:
        raise InvalidInput(f"{what}太长了（最多 500 个字）。")
    return reason
