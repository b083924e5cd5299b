"""The CRM's domain model (design.md §3). Plain dataclasses: no database, no platform.

Histories (StageChange, Assignment, MergeLink, AuditEntry) are append-only; nothing is
hard-deleted — "delete" is `status = invalid`, a merge links the loser to the winner.
All datetimes are timezone-aware; storage keeps them in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    REP = "rep"
    MANAGER = "manager"
    DIRECTOR = "director"
    FINANCE = "finance"
    HR = "hr"
    ADMIN = "admin"


ROLE_NAMES_ZH = {
    Role.REP: "销售",
    Role.MANAGER: "主管",
    Role.DIRECTOR: "总监",
    Role.FINANCE: "财务",
    Role.HR: "人事",
    Role.ADMIN: "管理员",
}


class UserStatus(StrEnum):
    ACTIVE = "active"
    ON_LEAVE = "on_leave"
    OFFBOARDED = "offboarded"


class CustomerStatus(StrEnum):
    ACTIVE = "active"
    INVALID = "invalid"
    MERGED = "merged"


class DealStatus(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


class Method(StrEnum):
    PHONE = "phone"
    VISIT = "visit"
    WECHAT = "wechat"
    EMAIL = "email"
    VIDEO = "video"


METHOD_NAMES_ZH = {
    Method.PHONE: "电话",
    Method.VISIT: "拜访",
    Method.WECHAT: "微信",
    Method.EMAIL: "邮件",
    Method.VIDEO: "视频会议",
}


class Conclusion(StrEnum):
    ADVANCE = "advance"
    HOLD = "hold"
    REJECT = "reject"


CONCLUSION_NAMES_ZH = {Conclusion.ADVANCE: "推进", Conclusion.HOLD: "观望", Conclusion.REJECT: "拒绝"}


class NextAction(StrEnum):
    DEMO = "demo"
    QUOTE = "quote"
    CONTRACT = "contract"
    VISIT = "visit"
    CALL = "call"
    SEND_MATERIAL = "send_material"
    GROUP_CHAT = "group_chat"


NEXT_ACTION_NAMES_ZH = {
    NextAction.DEMO: "演示",
    NextAction.QUOTE: "报价",
    NextAction.CONTRACT: "合同",
    NextAction.VISIT: "拜访",
    NextAction.CALL: "电话",
    NextAction.SEND_MATERIAL: "发资料",
    NextAction.GROUP_CHAT: "拉群",
}


class FollowUpSource(StrEnum):
    CHAT = "chat"
    VOICE = "voice"
    CALL_LOG = "call_log"
    CARD = "card"
    COMMAND = "command"
    IMPORT = "import"
    API = "api"


@dataclass
class User:
    id: str  # crmbot userid
    name: str
    roles: frozenset[Role] = frozenset({Role.REP})
    team: str | None = None
    manager_id: str | None = None
    regions: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    capacity: int = 15
    status: UserStatus = UserStatus.ACTIVE
    leave_until: date | None = None
    wecom_userid: str | None = None
    dingtalk_staffid: str | None = None

    def has(self, *roles: Role) -> bool:
        return any(r in self.roles for r in roles)

    @property
    def is_active(self) -> bool:
        return self.status != UserStatus.OFFBOARDED


@dataclass
class Contact:
    id: int | None
    customer_id: int | None
    name: str  # as typed
    phone: str | None = None  # as typed
    phone_norm: str | None = None
    email: str | None = None
    title: str | None = None
    external_userid: str | None = None  # WeCom 客户联系 id, for 离职继承
    created_at: datetime | None = None


@dataclass
class Customer:
    id: int | None
    name: str  # as typed, never overwritten
    name_key: str  # normalized match key
    owner_id: str | None
    team: str | None = None
    region: str | None = None
    status: CustomerStatus = CustomerStatus.ACTIVE
    invalid_reason: str | None = None
    merged_into: int | None = None
    source: str = "chat"
    created_by: str | None = None
    assigned_at: datetime | None = None  # when the current owner got it (the 72 h untouched rule)
    lead_state: str = "new"  # new | contacted | dormant (待激活)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    contacts: list[Contact] = field(default_factory=list)


@dataclass
class Deal:
    id: int | None
    customer_id: int
    owner_id: str | None
    title: str
    stage: str
    status: DealStatus = DealStatus.OPEN
    amount: float | None = None
    products: str | None = None
    payment_terms: str | None = None
    pain_points: list[str] = field(default_factory=list)
    competitor: str | None = None
    lost_reason: str | None = None
    stage_entered_at: datetime | None = None
    last_followup_at: datetime | None = None
    next_followup_on: date | None = None
    close_date: date | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass
class FollowUp:
    id: int | None
    customer_id: int
    user_id: str
    occurred_at: datetime
    method: Method | None
    source: FollowUpSource
    deal_id: int | None = None
    contact_id: int | None = None
    conclusion: Conclusion | None = None
    next_action: NextAction | None = None
    next_followup_on: date | None = None
    stage_hint: str | None = None
    amount: float | None = None
    pain_points: list[str] = field(default_factory=list)
    raw_text: str = ""
    extracted: dict[str, Any] = field(default_factory=dict)
    call_id: str | None = None
    effective: bool | None = None
    status: str = "active"  # active | voided: a cancelled follow-up is kept, never deleted
    created_at: datetime | None = None


@dataclass
class StageChange:
    id: int | None
    deal_id: int
    from_stage: str | None
    to_stage: str
    kind: str  # forward | backward | refused | requested | approved | rejected | lost
    actor_id: str
    at: datetime
    reason: str = ""


@dataclass
class Assignment:
    id: int | None
    subject_type: str  # customer | deal | alert
    subject_id: int
    from_user: str | None
    to_user: str | None
    actor_id: str
    reason: str
    at: datetime


@dataclass
class MergeLink:
    id: int | None
    winner_id: int
    loser_id: int
    actor_id: str
    at: datetime
    reason: str = ""
    moved: dict[str, list[int]] = field(default_factory=dict)
    undone_at: datetime | None = None
    undone_by: str | None = None


@dataclass
class AuditEntry:
    id: int | None
    at: datetime
    actor_id: str
    action: str
    subject_type: str
    subject_id: str
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)


@dataclass
class Alert:
    id: int | None
    rule: str
    subject_type: str
    subject_id: int
    level: int
    window: str  # e.g. the due date, so the same rule fires again for a new due date
    recipient_id: str
    created_at: datetime
    state: str = "open"  # open | done | snoozed | reassigned | invalid | superseded
    acted_by: str | None = None
    acted_at: datetime | None = None
    action: str | None = None
    due_at: datetime | None = None
    card_id: str | None = None

    @property
    def ledger_key(self) -> tuple[str, str, int, int, str]:
        return (self.rule, self.subject_type, self.subject_id, self.level, self.window)


@dataclass
class CallLog:
    """A call as the phone system reported it (kept as received; idempotent by call_id)."""

    id: int | None
    call_id: str
    rep_id: str | None
    customer_phone: str
    phone_norm: str | None
    started_at: datetime
    duration_s: int
    transcript: str = ""
    customer_id: int | None = None
    followup_id: int | None = None
    status: str = "new"  # recorded | unknown_number | invalid | created
    created_at: datetime | None = None
