"""Chinese numerals (一百二十万, 两千, 叁拾万, 十五) to numbers."""

from __future__ import annotations

_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "壹": 1, "二": 2, "两": 2, "贰": 2, "貳": 2, "三": 3, "叁": 3, "參": 3,
    "四": 4, "肆": 4, "五": 5, "伍": 5, "六": 6, "陆": 6, "陸": 6, "七": 7, "柒": 7,
    "八": 8, "捌": 8, "九": 9, "玖": 9,
}  # fmt: skip
_SMALL_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_BIG_UNITS = {"万": 10_000, "萬": 10_000, "亿": 100_000_000, "億": 100_000_000}
CN_NUMERAL_CHARS = "".join(_DIGITS) + "".join(_SMALL_UNITS) + "".join(_BIG_UNITS)


def _section(text: str) -> float | None:
    """A numeral below 万: 三千五百, 二十, 十五, 三千五 (a trailing digit takes the next unit down)."""
    total = 0.0
    digit: int | None = None
    last_unit = 10_000
    zero = False
    for ch in text:
        if ch in "零〇":
            zero = True
        elif ch in _DIGITS:
            if digit is not None and digit != 0:
                return None  # "三四" is a range, not a number
            digit = _DIGITS[ch]
        elif ch in _SMALL_UNITS:
            unit = _SMALL_UNITS[ch]
            if unit >= last_unit:
                return None
            total += (1 if digit is None else digit) * unit
            digit = None
            last_unit = unit
        else:
            return None
    if digit:
        # 三千五 = 3500, 两万三 handled by the caller: an abbreviated tail takes one unit down
        total += digit * (last_unit // 10 if last_unit <= 1000 and total and not zero else 1)
    return total


def cn_to_number(text: str) -> float | None:
    """Parses a Chinese numeral (also financial capitals); None if it is not one."""
    text = text.strip()
    if not text:
        return None
    if all(ch in _DIGITS for ch in text) and len(text) > 1:
        if len(text) < 4 and not set(text) & {"零", "〇"}:
            return None  # 三四 is a range ("three or four"), not 34
        # 二〇二六 style: digit by digit
        return float("".join(str(_DIGITS[c]) for c in text))
    total = 0.0
    rest = text
    for unit_char, unit in sorted(_BIG_UNITS.items(), key=lambda kv: -kv[1]):
        if unit_char in rest:
            head, rest = rest.split(unit_char, 1)
            value = _section(head) if head else 1.0
            if value is None:
                return None
            total += value * unit
            if rest and all(ch in _DIGITS for ch in rest) and len(rest) == 1:
                # 两万三 = 23000
                total += _DIGITS[rest] * unit / 10
                rest = ""
    if rest:
        value = _section(rest)
        if value is None:
            return None
        total += value
    return total


def to_number(text: str) -> float | None:
    """Arabic ("1.2", "1,200") or Chinese numerals."""
    t = text.replace(",", "").strip()
    try:
        return float(t)
    except ValueError:
        return cn_to_number(t)
