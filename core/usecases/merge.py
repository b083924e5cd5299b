"""Merging duplicate customers, reversibly: the loser is kept, linked, and can be restored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core import audit
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.model import Customer, CustomerStatus, MergeLink, Role, User
from core.permissions import can_see_customer
from core.ports import UnitOfWork
from core.validation import require_reason

UNDO_WINDOW = timedelta(days=30)
MERGERS = (Role.MANAGER, Role.DIRECTOR, Role.ADMIN)


@dataclass
class MergeResult:
    winner: Customer
    loser: Customer
    link: MergeLink


def _require_merger(actor: User, *customers: Customer) -> None:
    if not actor.has(*MERGERS):
        raise PermissionDenied("只有主管及以上可以合并客户。销售发现重复客户，请告诉主管，或用 /无效 标记。")
    for customer in customers:
        if not can_see_customer(actor, customer):
            raise PermissionDenied(f"客户「{customer.name}」不在您的管理范围内，不能合并。")


require_merger = _require_merger  # handlers check the role before looking customers up


def merge_customers(uow: UnitOfWork, actor: User, winner: Customer, loser: Customer, reason: str,
                    now: datetime) -> MergeResult:
    """Move the loser's contacts, deals, follow-ups, calls and files to the winner; keep the loser."""
    _require_merger(actor, winner, loser)
    if winner.id == loser.id:
        raise InvalidInput("不能把客户合并到它自己。")
    for c in (winner, loser):
        if c.status != CustomerStatus.ACTIVE:
            raise Conflict(f"客户「{c.name}」已{'合并' if c.status == CustomerStatus.MERGED else '标记无效'}，不能再合并。")
    reason = require_reason(reason or "重复客户", "合并原因")
    moved = uow.merges.owned_rows(loser.id or 0)
    uow.merges.move_rows(moved, winner.id or 0)
    before = audit.snapshot(loser, ("status", "merged_into"))
    loser.status, loser.merged_into, loser.updated_at = CustomerStatus.MERGED, winner.id, now
    uow.customers.update(loser)
    link = uow.merges.add(MergeLink(None, winner.id or 0, loser.id or 0, actor.id, now, reason, moved))
    audit.record(uow, actor_id=actor.id, action="customer.merge", subject_type="customer", subject_id=loser.id or 0,
                 now=now, before=before, after={"status": "merged", "merged_into": winner.id, "reason": reason,
                                                "moved": {k: len(v) for k, v in moved.items()}})
    return MergeResult(uow.customers.get(winner.id or 0) or winner, loser, link)


def undo_merge(uow: UnitOfWork, actor: User, loser: Customer, now: datetime) -> MergeResult:
    """Within 30 days: everything that moved goes back and the loser is active again."""
    if loser.status != CustomerStatus.MERGED:
        raise InvalidInput(f"客户「{loser.name}」没有被合并，无需撤销。")
    link = uow.merges.latest_for_loser(loser.id or 0)
    if link is None or link.undone_at is not None:
        raise NotFound(f"找不到客户「{loser.name}」的合并记录。")
    winner = uow.customers.get(link.winner_id)
    if winner is None:
        raise NotFound("合并到的客户不存在了。")
    _require_merger(actor, winner)
    if now - link.at > UNDO_WINDOW:
        raise Conflict(f"合并已超过 30 天（{link.at:%Y-%m-%d}），不能撤销。如确有需要，请联系管理员。")
    if winner.status != CustomerStatus.ACTIVE:
        raise Conflict(f"客户「{winner.name}」之后又被合并或标记无效，请先撤销那一步。")
    uow.merges.move_rows(link.moved, loser.id or 0)
    loser.status, loser.merged_into, loser.updated_at = CustomerStatus.ACTIVE, None, now
    uow.customers.update(loser)
    link.undone_at, link.undone_by = now, actor.id
    uow.merges.mark_undone(link)
    audit.record(uow, actor_id=actor.id, action="customer.unmerge", subject_type="customer",
                 subject_id=loser.id or 0, now=now, before={"status": "merged", "merged_into": winner.id},
                 after={"status": "active", "merged_into": None})
    return MergeResult(winner, uow.customers.get(loser.id or 0) or loser, link)
