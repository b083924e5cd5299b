"""Stage moves under the configured rules: advance, regress (approval), lost, frozen fields, evidence.

Every writer (chat, card buttons, imports, the API) goes through these functions, so the rules hold
for all of them. Refusals that are the rules speaking (skipping a stage, missing evidence) are
recorded as StageChange(kind="refused") and returned, not raised: a raised error rolls the
transaction back, and the refusal must stay on record. Bad input and permission problems raise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core import audit, permissions
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.model import Customer, Deal, DealStatus, Role, StageChange, User
from core.ports import FileStore, StageUnitOfWork
from core.stages import DEAL_FIELD_NAMES, Approval, EvidenceFile, EvidenceSummary, StageRules
from core.validation import require_reason

EDITABLE_FIELDS = ("amount", "products", "payment_terms", "competitor")
_STAGE_FIELDS = ("stage", "status", "stage_entered_at", "lost_reason", "close_date")
STATE_NAMES_ZH = {"pending": "待审批", "approved": "已批准", "rejected": "已驳回", "cancelled": "已失效"}


@dataclass
class MoveResult:
    deal: Deal
    moved: bool
    from_stage: str
    to_stage: str
    missing: list[str] = field(default_factory=list)
    message: str = ""  # the refusal, in Chinese


@dataclass
class RequestResult:
    """A regression or frozen-field edit: applied at once (no approval needed) or waiting for one."""

    deal: Deal
    applied: bool
    approval: Approval | None = None
    approver: User | None = None


@dataclass
class DecisionResult:
    approval: Approval
    deal: Deal
    applied: bool  # approved and carried out
    stale: bool = False  # the deal changed since the request: nothing applied
    requester: User | None = None


@dataclass(frozen=True)
class StoredUpload:
    filename: str
    sha256: str
    size: int
    stored_path: str
    content_type: str = "application/octet-stream"


def _customer(uow: StageUnitOfWork, deal: Deal) -> Customer:
    customer = uow.customers.get(deal.customer_id)
    if customer is None:
        raise NotFound("找不到这个商机的客户，可能已被合并。")
    return customer


def _require_open(deal: Deal, rules: StageRules, what: str) -> None:
    if deal.status != DealStatus.OPEN:
        raise Conflict(
            f"商机「{deal.title}」已经是「{rules.name(deal.stage)}」，不能{what}。",
            hint="如需重新打开，请用 /回退 客户 阶段 原因（需主管审批）。",
        )


def evidence_summary(uow: StageUnitOfWork, deal: Deal) -> EvidenceSummary:
    kinds = frozenset(e.kind for e in uow.evidence.for_deal(deal.id or 0))
    calls = sum(1 for f in uow.followups.for_deal(deal.id or 0, limit=500) if f.effective)
    return EvidenceSummary(kinds, calls)


def _stage_change(
    uow: StageUnitOfWork,
    deal: Deal,
    from_stage: str | None,
    to_stage: str,
    kind: str,
    actor_id: str,
    now: datetime,
    reason: str,
) -> None:
    uow.history.add_stage_change(
        StageChange(None, deal.id or 0, from_stage, to_stage, kind, actor_id, now, reason)
    )


def _move_recorded(uow: StageUnitOfWork, deal: Deal, target: str, rules: StageRules, now: datetime, *,
                   actor_id: str, kind: str, reason: str, action: str = "deal.stage",
                   from_stage: str | None = None, lost_reason: str | None = None) -> None:
    """Move the deal and record it twice: the StageChange history and the audit entry."""
    previous = from_stage or deal.stage
    before = _move(uow, deal, target, rules, now)
    if lost_reason is not None:
        deal.lost_reason = lost_reason
        uow.deals.update(deal)
    _stage_change(uow, deal, previous, target, kind, actor_id, now, reason)
    audit.record(uow, actor_id=actor_id, action=action, subject_type="deal", subject_id=deal.id or 0, now=now,
                 before=before, after=audit.snapshot(deal, _STAGE_FIELDS))


def _move(uow: StageUnitOfWork, deal: Deal, target: str, rules: StageRules, now: datetime) -> dict[str, Any]:
    before = audit.snapshot(deal, _STAGE_FIELDS)
    deal.stage = target
    deal.stage_entered_at = now
    outcome = rules.get(target).outcome
    deal.status = DealStatus(outcome) if outcome else DealStatus.OPEN
    if outcome != "lost":
        deal.lost_reason = None
    deal.close_date = now.date() if outcome == "won" else None
    deal.updated_at = now
    uow.deals.update(deal)
    return before


# ---------------------------------------------------------------------------- forward
def advance(
    uow: StageUnitOfWork,
    actor: User,
    deal: Deal,
    target: str,
    now: datetime,
    *,
    rules: StageRules,
    via: str = "",
) -> MoveResult:
    """One stage forward, when the evidence for it is on file."""
    customer = _customer(uow, deal)
    permissions.require_change(actor, customer)
    rule = rules.get(target)
    if rule.outcome == "lost":
        raise InvalidInput(
            "标记流失请用 /流失 客户 原因。", hint=f"可选原因：{'、'.join(rules.config.lost_reasons)}"
        )
    _require_open(deal, rules, "再推进")
    current, wanted = rules.position(deal.stage), rules.position(target)
    if wanted == current:
        raise Conflict(f"商机「{deal.title}」已经在「{rule.name}」阶段了。")
    if wanted < current:
        raise InvalidInput(
            f"「{rule.name}」在当前阶段「{rules.name(deal.stage)}」之前，这是回退。",
            hint=f"回退请用 /回退 {customer.name} {rule.name} 原因（需主管审批）。",
        )
    summary = evidence_summary(uow, deal)
    nxt = rules.next_stage(deal.stage)
    assert nxt is not None  # an open stage before `target` always has a successor
    missing = rules.missing_evidence(deal, nxt.key, summary)
    if wanted > current + 1:
        skipped = "、".join(s.name for s in rules.between(deal.stage, target))
        message = (
            f"不能从「{rules.name(deal.stage)}」直接跳到「{rule.name}」：商机需要逐级推进，"
            f"中间还有「{skipped}」。下一步是「{nxt.name}」，"
        )
        message += (
            f"进入它还缺：{'；'.join(missing)}。"
            if missing
            else f"条件已满足，可以先 /推进 {customer.name} {nxt.name}。"
        )
        _stage_change(
            uow,
            deal,
            deal.stage,
            target,
            "refused",
            actor.id,
            now,
            f"跳过阶段；{nxt.name}还缺：{'；'.join(missing) or '无'}",
        )
        return MoveResult(deal, False, deal.stage, target, missing, message)
    if missing:
        message = f"还不能进入「{rule.name}」，还缺：{'；'.join(missing)}。"
        _stage_change(
            uow, deal, deal.stage, target, "refused", actor.id, now, "缺少证据：" + "；".join(missing)
        )
        return MoveResult(deal, False, deal.stage, target, missing, message)
    from_stage = deal.stage
    _move_recorded(uow, deal, target, rules, now, actor_id=actor.id, kind="forward", reason=via or "推进")
    return MoveResult(deal, True, from_stage, target)


# ---------------------------------------------------------------------------- approvals
def approver_for(uow: StageUnitOfWork, deal: Deal, customer: Customer, actor: User) -> User:
    """The rep's manager: the deal owner's manager, else the requester's."""
    owner = uow.users.get(deal.owner_id or customer.owner_id or actor.id)
    for candidate in ((owner.manager_id if owner else None), actor.manager_id):
        if candidate:
            manager = uow.users.get(candidate)
            if manager is not None and manager.is_active:
                return manager
    raise InvalidInput("没有找到可以审批的主管。", hint="请联系管理员在用户表里为负责人设置主管。")


def _self_approves(actor: User, approver: User) -> bool:
    return actor.id == approver.id or actor.has(Role.DIRECTOR, Role.ADMIN)


def request_regress(
    uow: StageUnitOfWork,
    actor: User,
    deal: Deal,
    target: str,
    reason: str,
    now: datetime,
    *,
    rules: StageRules,
) -> RequestResult:
    """Back to an earlier stage (or reopen a won/lost deal): with a reason, through the manager."""
    reason = require_reason(reason, "回退原因")
    customer = _customer(uow, deal)
    permissions.require_change(actor, customer)
    rule = rules.get(target)
    if rule.outcome is not None:
        raise InvalidInput(f"不能回退到「{rule.name}」。", hint="回退只能退到进行中的阶段。")
    if deal.status == DealStatus.OPEN and rules.position(target) >= rules.position(deal.stage):
        raise InvalidInput(
            f"「{rule.name}」不在当前阶段「{rules.name(deal.stage)}」之前，回退只能退到更早的阶段。",
            hint=f"向前推进请用 /推进 {customer.name} {rule.name}。",
        )
    if any(a.kind == "stage_regression" for a in uow.approvals.pending_for_deal(deal.id or 0)):
        raise Conflict(f"商机「{deal.title}」已有一个待审批的回退申请，请等主管处理后再提交。")
    approver = approver_for(uow, deal, customer, actor)
    if not rules.regression_needs_approval(deal.stage) or _self_approves(actor, approver):
        _move_recorded(uow, deal, target, rules, now, actor_id=actor.id, kind="backward", reason=reason)
        return RequestResult(deal, True)
    _stage_change(uow, deal, deal.stage, target, "requested", actor.id, now, reason)
    return _request_approval(uow, "stage_regression", deal, actor, approver,
                             {"from": deal.stage, "to": target, "status": deal.status.value}, reason, now)


def _request_approval(uow: StageUnitOfWork, kind: str, deal: Deal, actor: User, approver: User,
                      payload: dict[str, Any], reason: str, now: datetime) -> RequestResult:
    """File an approval for the approver and audit the request; the deal itself does not change yet."""
    approval = uow.approvals.add(
        Approval(None, kind, deal.id or 0, actor.id, approver.id, payload, reason, created_at=now)
    )
    audit.record(
        uow,
        actor_id=actor.id,
        action="approval.request",
        subject_type="deal",
        subject_id=deal.id or 0,
        now=now,
        after={
            "approval_id": approval.id,
            "kind": approval.kind,
            **approval.payload,
            "reason": reason,
            "approver": approver.id,
        },
    )
    return RequestResult(deal, False, approval, approver)


def _parse_field_value(name: str, raw: Any) -> Any:
    if name == "amount":
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise InvalidInput(f"金额「{raw}」看不懂，请写成「50万」或「500000」。") from None
        if not 0 < value < 1e12:
            raise InvalidInput("金额看起来不对，请用「50万」或「500000」这样的写法。")
        return value
    text = " ".join(str(raw or "").split())
    if not text:
        raise InvalidInput(f"{DEAL_FIELD_NAMES[name]}不能为空。")
    if len(text) > 200:
        raise InvalidInput(f"{DEAL_FIELD_NAMES[name]}太长了（最多 200 个字）。")
    return text


def _set_field(
    uow: StageUnitOfWork,
    actor_id: str,
    deal: Deal,
    name: str,
    value: Any,
    now: datetime,
    action: str,
    extra: dict[str, Any] | None = None,
) -> None:
    before = {name: audit.snapshot(deal, (name,)).get(name)}
    setattr(deal, name, value)
    deal.updated_at = now
    uow.deals.update(deal)
    audit.record(
        uow,
        actor_id=actor_id,
        action=action,
        subject_type="deal",
        subject_id=deal.id or 0,
        now=now,
        before=before,
        after={name: audit.snapshot(deal, (name,)).get(name), **(extra or {})},
    )


def request_field_edit(
    uow: StageUnitOfWork,
    actor: User,
    deal: Deal,
    name: str,
    raw_value: Any,
    reason: str,
    now: datetime,
    *,
    rules: StageRules,
) -> RequestResult:
    """Change a deal field; a field frozen by the stage changes only through the manager's approval."""
    if name not in EDITABLE_FIELDS:
        options = "、".join(DEAL_FIELD_NAMES[f] for f in EDITABLE_FIELDS)
        raise InvalidInput(f"不能修改「{DEAL_FIELD_NAMES.get(name, name)}」。可修改：{options}。")
    customer = _customer(uow, deal)
    permissions.require_change(actor, customer)
    value = _parse_field_value(name, raw_value)
    if getattr(deal, name) == value:
        raise Conflict(f"{DEAL_FIELD_NAMES[name]}已经是这个值了。")
    if name not in rules.frozen_fields(deal.stage):
        _set_field(uow, actor.id, deal, name, value, now, "deal.edit")
        return RequestResult(deal, True)
    reason = require_reason(
        reason, f"修改{DEAL_FIELD_NAMES[name]}的原因（该字段在「{rules.name(deal.stage)}」后已冻结）"
    )
    approver = approver_for(uow, deal, customer, actor)
    if _self_approves(actor, approver):
        _set_field(uow, actor.id, deal, name, value, now, "deal.edit_frozen", {"reason": reason})
        return RequestResult(deal, True)
    if any(
        a.kind == "frozen_field" and a.payload.get("field") == name
        for a in uow.approvals.pending_for_deal(deal.id or 0)
    ):
        raise Conflict(f"{DEAL_FIELD_NAMES[name]}已有一个待审批的修改申请，请等主管处理后再提交。")
    old = audit.snapshot(deal, (name,)).get(name)
    return _request_approval(uow, "frozen_field", deal, actor, approver,
                             {"field": name, "old": old, "new": value}, reason, now)


def decide(
    uow: StageUnitOfWork,
    actor: User,
    approval_id: int,
    approve: bool,
    now: datetime,
    *,
    rules: StageRules,
    note: str = "",
) -> DecisionResult:
    """The approver approves or rejects, once. Approving applies the change if the deal is unchanged."""
    approval = uow.approvals.get(approval_id, lock=True)
    if approval is None:
        raise NotFound(f"没有找到编号为 {approval_id} 的审批申请。")
    if approval.approver_id != actor.id:
        approver = uow.users.get(approval.approver_id)
        raise PermissionDenied(
            f"这个申请只能由审批人{approver.name if approver else approval.approver_id}处理。"
        )
    if approval.state != "pending":
        who = uow.users.get(approval.decided_by) if approval.decided_by else None
        raise Conflict(
            f"这个申请已处理（{STATE_NAMES_ZH.get(approval.state, approval.state)}"
            f"{'，' + who.name if who else ''}）。"
        )
    deal = uow.deals.get(approval.deal_id)
    if deal is None:
        raise NotFound("这个申请对应的商机已不存在。")
    requester = uow.users.get(approval.requested_by)
    p = approval.payload
    stale = False
    applied = False
    if approval.kind == "stage_regression":
        if approve and (deal.stage != p.get("from") or deal.status.value != p.get("status", "open")):
            stale = True
        elif approve:
            _move_recorded(uow, deal, str(p["to"]), rules, now, actor_id=actor.id, kind="approved",
                           reason=approval.reason, from_stage=str(p["from"]))
            applied = True
        else:
            _stage_change(
                uow, deal, deal.stage, str(p["to"]), "rejected", actor.id, now, note or approval.reason
            )
    elif approval.kind == "frozen_field":
        name = str(p["field"])
        if approve and audit.snapshot(deal, (name,)).get(name) != p.get("old"):
            stale = True
        elif approve:
            _set_field(
                uow,
                actor.id,
                deal,
                name,
                p["new"],
                now,
                "deal.edit_frozen",
                {
                    "reason": approval.reason,
                    "approval_id": approval.id,
                    "requested_by": approval.requested_by,
                },
            )
            applied = True
    else:
        raise InvalidInput(f"未知的审批类型：{approval.kind}")
    approval.state = "cancelled" if stale else ("approved" if approve else "rejected")
    approval.decided_by, approval.decided_at = actor.id, now
    uow.approvals.update(approval)
    audit.record(
        uow,
        actor_id=actor.id,
        action=f"approval.{approval.state}",
        subject_type="deal",
        subject_id=deal.id or 0,
        now=now,
        after={"approval_id": approval.id, "kind": approval.kind, **p, "note": note},
    )
    return DecisionResult(approval, deal, applied, stale, requester)


# ---------------------------------------------------------------------------- lost
def mark_lost(
    uow: StageUnitOfWork,
    actor: User,
    deal: Deal,
    reason: str,
    now: datetime,
    *,
    rules: StageRules,
    note: str = "",
) -> Deal:
    reason = rules.resolve_lost_reason(reason)
    customer = _customer(uow, deal)
    permissions.require_change(actor, customer)
    _require_open(deal, rules, "标记流失")
    note = " ".join(note.split())
    if len(note) > 500:
        raise InvalidInput("补充说明太长了（最多 500 个字）。")
    lost_reason = f"{reason}：{note}" if note else reason
    _move_recorded(uow, deal, rules.lost.key, rules, now, actor_id=actor.id, kind="lost", reason=lost_reason,
                   action="deal.lost", lost_reason=lost_reason)
    return deal


# ---------------------------------------------------------------------------- evidence
def store_upload(
    filename: str,
    path: str,
    store: FileStore,
    *,
    rules: StageRules,
    content_type: str = "application/octet-stream",
) -> StoredUpload:
    """Check a received file (present, not empty, not too large) and keep it by content hash."""
    name = filename or "文件"
    size = store.stat(path) if path else None
    if size is None:
        raise InvalidInput(f"没有收到文件「{name}」的内容（文件不存在或已过期），请重新发送。")
    if size == 0:
        raise InvalidInput(f"文件「{name}」是空的，请检查后重新发送。")
    limit = rules.config.max_attachment_mb
    if size > limit * 1024 * 1024:
        raise InvalidInput(
            f"文件「{name}」有 {size / 1024 / 1024:.1f} MB，超过了 {limit:g} MB 的上限。",
            hint="请压缩或拆分后再发送。",
        )
    sha256, stored_path = store.put(path)
    return StoredUpload(name[:255], sha256, size, stored_path, content_type)


@dataclass
class AttachResult:
    evidence: EvidenceFile
    duplicate: bool


def attach_evidence(
    uow: StageUnitOfWork,
    actor: User,
    deal: Deal,
    kind: str,
    upload: StoredUpload,
    now: datetime,
    *,
    rules: StageRules,
) -> AttachResult:
    if kind not in rules.config.attachment_kinds:
        raise InvalidInput(
            f"没有「{kind}」这种材料。可选：{'、'.join(rules.config.attachment_kinds.values())}。"
        )
    customer = _customer(uow, deal)
    permissions.require_change(actor, customer)
    for existing in uow.evidence.for_deal(deal.id or 0):
        if existing.sha256 == upload.sha256 and existing.kind == kind:
            return AttachResult(existing, True)
    evidence = uow.evidence.add(
        EvidenceFile(
            None,
            deal.id,
            deal.customer_id,
            kind,
            upload.sha256,
            upload.filename,
            upload.size,
            upload.stored_path,
            actor.id,
            now,
            upload.content_type,
        )
    )
    audit.record(
        uow,
        actor_id=actor.id,
        action="evidence.attach",
        subject_type="deal",
        subject_id=deal.id or 0,
        now=now,
        after={"kind": kind, "filename": upload.filename, "sha256": upload.sha256, "size": upload.size},
    )
    return AttachResult(evidence, False)
