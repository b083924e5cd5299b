"""Small helpers the handlers share: Chinese labels, date words, formatting."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from core.errors import InvalidInput
from core.model import (
    CONCLUSION_NAMES_ZH,
    METHOD_NAMES_ZH,
    NEXT_ACTION_NAMES_ZH,
    Conclusion,
    Method,
    NextAction,
)

METHODS = {v: k for k, v in METHOD_NAMES_ZH.items()} | {"上门": Method.VISIT, "见面": Method.VISIT,
                                                       "面谈": Method.VISIT, "上门拜访": Method.VISIT,
                                                       "打电话": Method.PHONE, "电联": Method.PHONE,
                                                       "通话": Method.PHONE, "视频": Method.VIDEO,
                                                       "邮箱": Method.EMAIL}
CONCLUSIONS = {v: k for k, v in CONCLUSION_NAMES_ZH.items()} | {"有意向": Conclusion.ADVANCE,
                                                               "犹豫": Conclusion.HOLD,
                                                               "不考虑": Conclusion.REJECT}
NEXT_ACTIONS = {v: k for k, v in NEXT_ACTION_NAMES_ZH.items()} | {"回电": NextAction.CALL,
                                                                 "送资料": NextAction.SEND_MATERIAL,
                                                                 "发方案": NextAction.SEND_MATERIAL}
SKIP = {"-", "—", "无", "空", "略"}


def pick(table: dict[str, object], word: str, what: str) -> object | None:
    if word in SKIP:
        return None
    value = table.get(word) or table.get(word.lower())
    if value is None:
        options = "、".join(dict.fromkeys(table))
        raise InvalidInput(f"「{word}」不是有效的{what}。可选：{options}，不填写「-」。")
    return value


_ISO = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")
_MD = re.compile(r"^(\d{1,2})[-/.月](\d{1,2})[日号]?$")


def parse_date_word(word: str, today: date) -> date | None:
    """The dates a structured command accepts; free text goes through bot/nlp instead."""
    if word in SKIP:
        return None
    relative = {"今天": 0, "明天": 1, "后天": 2, "大后天": 3}
    if word in relative:
        return today + timedelta(days=relative[word])
    m = _ISO.match(word)
    try:
        if m:
            return date(int(m[1]), int(m[2]), int(m[3]))
        m = _MD.match(word)
        if m:
            candidate = date(today.year, int(m[1]), int(m[2]))
            return candidate if candidate >= today else date(today.year + 1, int(m[1]), int(m[2]))
    except ValueError as exc:
        raise InvalidInput(f"日期「{word}」不存在，请检查月份和日期。") from exc
    raise InvalidInput(f"看不懂日期「{word}」。可以写 2026-03-18、3月18日、明天或后天。")


def fmt_date(d: date | None) -> str:
    return d.strftime("%Y-%m-%d") if d else "未设置"


def fmt_time(dt: datetime | None, tz: object) -> str:
    if dt is None:
        return "—"
    return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M")  # type: ignore[arg-type]


def fmt_amount(amount: float | None) -> str:
    if amount is None:
        return "—"
    if amount >= 10000:
        return f"{amount / 10000:g} 万元"
    return f"{amount:g} 元"


def mask_phone(phone: str | None) -> str:
    if not phone:
        return "—"
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) < 7:
        return "***"
    return digits[:3] + "****" + digits[-4:]
