"""Phone numbers: finding them in text and normalising them (digits only, no +86/0086)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_SEP = r"[\s\-.]?"
# Mobile: 1[3-9]x xxxx xxxx with optional separators, optional +86 / 0086 / 86 prefix.
_MOBILE = re.compile(
    rf"(?<![\dA-Za-z])(?:(?:\+|00)?86{_SEP}|\(\+?86\){_SEP})?(1[3-9]\d(?:{_SEP}\d){{8}})(?![\d])"
)
# Landline: area code 0xx / 0xxx (maybe in brackets) then 7-8 digits in groups.
_LANDLINE = re.compile(
    rf"(?<![\dA-Za-z])(?:(?:\+|00)?86{_SEP})?(\(0\d{{2,3}}\)|0\d{{2,3}})\s?[\-.]?\s?(\d{{3,4}}){_SEP}(\d{{4}})(?!\d)"
)
# Words right before a number that make it someone else's (our colleague's) number.
_NOT_CUSTOMER = re.compile(r"(同事|我们的|我的|我司|公司的?总机|客服电话|400)[^,，。;；]{0,6}$")
_LABEL = re.compile(r"(电话|手机|座机|联系方式|号码|手机号|微信号|tel|TEL|Tel)[是为:：\s]*$")


# A mobile read out digit by digit (voice input): 手机号是 一三八 零五七一 二二六九, 幺三九…
_SPOKEN_DIGITS = {"零": "0", "〇": "0", "洞": "0", "幺": "1", "一": "1", "二": "2", "两": "2", "三": "3", "四": "4",
                  "五": "5", "六": "6", "七": "7", "八": "8", "九": "9"}
_SPOKEN_MOBILE = re.compile(
    r"(?:电话|手机|号码|手机号|联系方式)[是为:：\s]*((?:[零〇洞幺一二两三四五六七八九]\s*){10}[零〇洞幺一二两三四五六七八九])"
    r"(?![零〇洞幺一二两三四五六七八九])"
)


@dataclass(frozen=True, slots=True)
class PhoneMatch:
    start: int
    end: int
    number: str
    confidence: float


def normalize_phone(raw: str) -> str | None:
    """Digits only; drops +86 / 0086 / 86 in front of a mobile; keeps a landline's leading 0.

    Returns None when the result is not a plausible Chinese mobile or landline number.
    """
    digits = "".join(ch for ch in unicodedata.normalize("NFKC", raw or "") if ch.isdigit())
    if not digits:
        return None
    for prefix in ("0086", "86"):
        rest = digits[len(prefix) :]
        if digits.startswith(prefix) and (
            (len(rest) == 11 and rest.startswith("1")) or (rest.startswith("0") and 10 <= len(rest) <= 12)
        ):
            digits = rest
            break
    if digits.startswith("86") and 11 <= len(digits) - 2 <= 12 and not digits.startswith("861"):
        # 86 + landline without its trunk 0 (international form): put the 0 back
        digits = "0" + digits[2:]
    if len(digits) == 11 and digits[0] == "1" and digits[1] in "3456789":
        return digits
    if digits[0] == "0" and 10 <= len(digits) <= 12 and digits[1] != "0":
        return digits
    return None


def find_phones(text: str) -> list[PhoneMatch]:
    """All phone numbers in `text` (already width-folded), in order, with a confidence."""
    found: list[PhoneMatch] = []
    taken: list[tuple[int, int]] = []
    for pattern, base in ((_MOBILE, 0.95), (_LANDLINE, 0.9)):
        for m in pattern.finditer(text):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            number = normalize_phone(m.group(0))
            if number is None:
                continue
            before = text[max(0, m.start() - 12) : m.start()]
            conf = base
            if _NOT_CUSTOMER.search(before):
                conf = 0.2
            elif _LABEL.search(before):
                conf = min(1.0, base + 0.05)
            taken.append((m.start(), m.end()))
            found.append(PhoneMatch(m.start(), m.end(), number, conf))
    for m in _SPOKEN_MOBILE.finditer(text):
        number = normalize_phone("".join(_SPOKEN_DIGITS[ch] for ch in m.group(1) if not ch.isspace()))
        if number is not None and number.startswith("1"):
            found.append(PhoneMatch(m.start(1), m.end(1), number, 0.85))
    found.sort(key=lambda p: p.start)
    return found
