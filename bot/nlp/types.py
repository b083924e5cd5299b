"""Result and input models of the free-text parser."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import pydantic

MethodT = Literal["phone", "visit", "wechat", "email", "video"]
ConclusionT = Literal["advance", "hold", "reject"]
NextActionT = Literal["demo", "quote", "contract", "visit", "call", "send_material", "group_chat"]
StageT = Literal["qualified", "demo", "quote", "negotiation", "won", "lost"]
PainPointT = Literal["after_sales", "competitor", "delivery", "price"]
IntentT = Literal["followup", "lookup", "help", "greeting", "smalltalk"]

# The order of the output line (and of the scorer's fields).
OUTPUT_FIELDS: tuple[str, ...] = (
    "contact_name",
    "company",
    "phone",
    "method",
    "conclusion",
    "next_action",
    "next_followup",
    "stage",
    "amount",
    "pain_points",
    "effective",
)


class Extraction(pydantic.BaseModel):
    """What one message (or call log) says; None means "not stated"."""

    contact_name: str | None = None
    company: str | None = None
    phone: str | None = None
    method: MethodT | None = None
    conclusion: ConclusionT | None = None
    next_action: NextActionT | None = None
    next_followup: dt.date | None = None
    stage: StageT | None = None
    amount: float | None = None  # yuan
    pain_points: list[PainPointT] = pydantic.Field(default_factory=list)
    effective: bool | None = None  # calls only
    confidence: dict[str, float] = pydantic.Field(default_factory=dict)

    def is_empty(self) -> bool:
        return all(getattr(self, f) in (None, []) for f in OUTPUT_FIELDS)

    def to_output(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in OUTPUT_FIELDS:
            value = getattr(self, f)
            if isinstance(value, dt.date):
                value = value.isoformat()
            elif f == "amount" and value is not None:
                value = int(value) if float(value).is_integer() else float(value)
            elif f == "pain_points":
                value = sorted(value)
            out[f] = value
        return out


class Message(pydantic.BaseModel):
    """An input line of `crmbot parse`: a chat message and when it was sent."""

    id: str
    now: dt.datetime
    text: str


class CallLog(pydantic.BaseModel):
    """A call record from the phone system, with its ASR transcript."""

    id: str | None = None
    call_id: str
    rep: str | None = None
    customer_phone: str = ""
    started_at: dt.datetime
    duration_s: int = pydantic.Field(default=0, ge=0)
    transcript: str = ""
