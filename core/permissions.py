"""Who may see and change what. Enforced in use cases so every channel obeys the same rules.

Three layers, all pure:
- scope: which customers a user sees (`can_see_customer`) and may change (`can_change_customer`);
- actions by role (`may`): offboard, read the audit log, register leave… — the permission table;
- field-level rules, configured by `[permissions]` in crmbot.toml (`FieldRules`): contract amount and
  payment terms only for director and finance by default, other reps' customers' phones masked.
  `Viewer` is the ONE view function every card, export and API answer goes through; it remembers the
  sensitive values it revealed so the caller can audit the read (`core.audit.record_reads`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.errors import PermissionDenied
from core.model import ROLE_NAMES_ZH, Customer, Deal, Role, User

EVERYTHING = (Role.DIRECTOR, Role.FINANCE, Role.ADMIN)
MASK = "***"

# the fields a rule may name; amount covers the deal's (contract) amount and amounts on follow-ups
SENSITIVE_FIELDS = ("amount", "payment_terms")
FIELD_NAMES_ZH = {"amount": "合同金额", "payment_terms": "付款条件", "phone": "电话"}


# ---------------------------------------------------------------------------- scope
def can_see_customer(user: User, customer: Customer) -> bool:
    if user.has(*EVERYTHING):
        return True
    if customer.owner_id == user.id:
        return True
    same_team = customer.team is not None and customer.team == user.team
    if user.has(Role.MANAGER) and same_team:
        return True
    # the team pool (公海): unowned leads of the rep's own team, or of no team at all
    return customer.owner_id is None and (same_team or customer.team is None)


def can_change_customer(user: User, customer: Customer) -> bool:
    if user.has(Role.DIRECTOR, Role.ADMIN):
        return True
    if customer.owner_id == user.id:
        return True
    return user.has(Role.MANAGER) and customer.team is not None and customer.team == user.team


def require_change(user: User, customer: Customer) -> None:
    if not can_change_customer(user, customer):
        raise PermissionDenied(f"客户「{customer.name}」不归您负责，不能修改。如需接手，请联系主管转派。")


def require_role(user: User, *roles: Role, action: str) -> None:
    if not user.has(*roles):
        raise PermissionDenied(f"抱歉，只有{'/'.join(_zh(r) for r in roles)}可以{action}。")


def _zh(role: Role) -> str:
    return ROLE_NAMES_ZH[role]


# ---------------------------------------------------------------------------- actions by role
# action → the roles that may do it. "delete" is nobody: crmbot never deletes, "删除" marks invalid.
ACTIONS: dict[str, frozenset[Role]] = {
    "customer.view": frozenset(Role),  # within scope (can_see_customer)
    "customer.change": frozenset({Role.REP, Role.MANAGER, Role.DIRECTOR, Role.ADMIN}),  # within scope
    "customer.invalidate": frozenset({Role.REP, Role.MANAGER, Role.DIRECTOR, Role.ADMIN}),
    "customer.delete": frozenset(),
    "export.chat": frozenset({Role.REP, Role.MANAGER, Role.DIRECTOR, Role.FINANCE, Role.ADMIN}),
    "audit.view": frozenset({Role.MANAGER, Role.DIRECTOR, Role.ADMIN}),
    "user.offboard": frozenset({Role.HR, Role.ADMIN}),
    "user.leave": frozenset({Role.MANAGER, Role.HR, Role.DIRECTOR, Role.ADMIN}),
}

ACTION_NAMES_ZH = {
    "customer.delete": "删除数据",
    "export.chat": "导出数据",
    "audit.view": "查看审计记录",
    "user.offboard": "办理离职交接",
    "user.leave": "登记休假",
}


def may(user: User, action: str) -> bool:
    return any(r in ACTIONS[action] for r in user.roles)


def require(user: User, action: str) -> None:
    if may(user, action):
        return
    allowed = [r for r in Role if r in ACTIONS[action]]
    what = ACTION_NAMES_ZH.get(action, action)
    if not allowed:
        raise PermissionDenied(
            f"crmbot 不提供{what}的功能。", hint="需要作废的数据请用 /无效 标记并写明原因，记录会保留。"
        )
    raise PermissionDenied(f"抱歉，只有{'/'.join(_zh(r) for r in allowed)}可以{what}。")


# ---------------------------------------------------------------------------- field-level rules
class FieldRules(BaseModel):
    """`[permissions]` in crmbot.toml. Every key has a shipped default.

    [permissions]
    mask_other_reps_phones = true
    export_confirm_rows = 1000
    [permissions.fields]
    amount = ["director", "finance"]
    payment_terms = ["director", "finance"]
    """

    model_config = ConfigDict(extra="forbid")

    fields: dict[str, list[Role]] = Field(
        default_factory=lambda: {
            "amount": [Role.DIRECTOR, Role.FINANCE],
            "payment_terms": [Role.DIRECTOR, Role.FINANCE],
        }
    )
    mask_other_reps_phones: bool = True
    export_confirm_rows: int = Field(1000, ge=1)  # a chat export above this asks a second time

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: dict[str, list[Role]]) -> dict[str, list[Role]]:
        unknown = [k for k in value if k not in SENSITIVE_FIELDS]
        if unknown:
            raise ValueError(f"未知字段：{', '.join(unknown)}（可配置：{', '.join(SENSITIVE_FIELDS)}）")
        return value

    def roles_for(self, name: str) -> frozenset[Role]:
        return frozenset(self.fields.get(name, list(Role)))


def can_see_field(user: User, name: str, rules: FieldRules) -> bool:
    """Amount and payment terms: by role (config). Unknown names are not restricted."""
    if name not in SENSITIVE_FIELDS:
        return True
    return any(r in rules.roles_for(name) for r in user.roles)


def can_see_phone(user: User, customer: Customer, rules: FieldRules) -> bool:
    """A phone of a customer owned by another rep is masked (the team's manager and director see it)."""
    if not rules.mask_other_reps_phones:
        return True
    if customer.owner_id in (None, user.id) or user.has(*EVERYTHING):
        return True
    return user.has(Role.MANAGER) and customer.team is not None and customer.team == user.team


def mask_phone(phone: str | None) -> str:
    if not phone:
        return ""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) < 7:
        return MASK
    return digits[:3] + "****" + digits[-4:]


@dataclass
class Viewer:
    """One user's view of records: masks what the rules hide, remembers the sensitive values it showed.

    `revealed` holds (subject_type, subject_id, field) for every restricted value shown unmasked, so the
    read can be audited (`core.audit.record_reads`) — a director opening a deal card leaves a trace.
    """

    user: User
    rules: FieldRules = field(default_factory=FieldRules)
    revealed: list[tuple[str, str, str]] = field(default_factory=list)

    def sees(self, name: str) -> bool:
        return can_see_field(self.user, name, self.rules)

    def value(self, name: str, value: Any, subject_type: str, subject_id: int | str | None) -> Any:
        """The value, or MASK when the user may not see it. None stays None (nothing to hide)."""
        if value is None or value == "":
            return value
        if not self.sees(name):
            return MASK
        if name in SENSITIVE_FIELDS:
            self.revealed.append((subject_type, str(subject_id), name))
        return value

    def amount(self, deal: Deal) -> float | str | None:
        return self.value("amount", deal.amount, "deal", deal.id)

    def payment_terms(self, deal: Deal) -> str | None:
        return self.value("payment_terms", deal.payment_terms, "deal", deal.id)  # type: ignore[no-any-return]

    def phone(self, customer: Customer, phone: str | None) -> str:
        if not phone:
            return ""
        return phone if can_see_phone(self.user, customer, self.rules) else mask_phone(phone)

    def masks_phone(self, customer: Customer) -> bool:
        return not can_see_phone(self.user, customer, self.rules)

    def redact(self, data: dict[str, Any]) -> dict[str, Any]:
        """An audit before/after or export row with the restricted keys masked (no reveal recorded)."""
        return {
            k: (MASK if k in SENSITIVE_FIELDS and v not in (None, "") and not self.sees(k) else v)
            for k, v in data.items()
        }
