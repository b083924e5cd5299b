"""Assigning leads: the round robin for new leads, the team pool (公海), reassign, claim, leave.

Every assignment, reassignment, claim and pool entry is an append-only Assignment row with the
actor and the reason. Concurrency: before counting loads, the candidate reps' rows are locked
(`uow.workload.lock_reps`: SELECT … FOR UPDATE on PostgreSQL, the write lock on SQLite), so two
transactions assigning to the same team run one after the other and never exceed a capacity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from core import audit, permissions
from core.assignment import (
    AssignmentConfig,
    Lead,
    RepLoad,
    matching_teams,
    on_leave,
    rank,
    team_manager,
)
from core.errors import Conflict, InvalidInput, PermissionDenied, RuleViolation
from core.model import Assignment, Customer, CustomerStatus, Role, User, UserStatus
from core.ports import StageUnitOfWork

AUTO_REASON = "轮转分配"
POOL_REASON = "无人可接，进入公海"


@dataclass
class AssignOutcome:
    customer: Customer
    rep: User | None  # None: the lead went to the pool
    team: str | None
    manager: User | None  # who hears about a pool lead
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (rep name, why not) for the pool card


class LeadAssigner:
    """The configured round robin. `tz` decides what "today" is (leave dates, the daily share)."""

    def __init__(self, config: AssignmentConfig | None = None, tz: ZoneInfo | None = None) -> None:
        self.config = config or AssignmentConfig()
        self.tz = tz or ZoneInfo("Asia/Shanghai")

    def today(self, now: datetime) -> date:
        return now.astimezone(self.tz).date()

    def day_start(self, now: datetime) -> datetime:
        return datetime.combine(self.today(now), time(0), self.tz)

    def assign(
        self,
        uow: StageUnitOfWork,
        actor_id: str,
        customer: Customer,
        now: datetime,
        *,
        product: str | None = None,
    ) -> AssignOutcome:
        return self.assign_many(uow, actor_id, [customer], now, products=[product])[0]

    def assign_many(
        self,
        uow: StageUnitOfWork,
        actor_id: str,
        customers: Sequence[Customer],
        now: datetime,
        *,
        products: Sequence[str | None] | None = None,
    ) -> list[AssignOutcome]:
        """Assign a batch (an import) in one pass: one lock, one load query, loads kept as we go."""
        users = uow.users.list()
        leads = [Lead(c.team, c.region, (products[i] if products else None)) for i, c in enumerate(customers)]
        teams_for = [matching_teams(lead, users, self.config) for lead in leads]
        wanted = sorted(
            {u.id for u in users if u.team in {t for ts in teams_for for t in ts} and u.has(Role.REP)}
        )
        reps = uow.workload.lock_reps(wanted) if wanted else []
        loads = uow.workload.loads([r.id for r in reps], self.day_start(now)) if reps else {}
        today = self.today(now)
        by_team: dict[str, list[User]] = {}
        for r in reps:
            by_team.setdefault(r.team or "", []).append(r)
        managers: dict[str | None, User | None] = {}
        out = []
        moves: list[tuple[Customer, User | None, str | None, str]] = []
        for customer, lead, teams in zip(customers, leads, teams_for, strict=True):
            pool = [r for t in teams for r in by_team.get(t, [])]
            if self.config.enabled:
                rep, skipped = rank(pool, lead, loads, today, self.config)
            else:
                rep, skipped = None, [(r.name, "未启用自动分配") for r in pool]
            if rep is not None:
                load = loads.get(rep.id, RepLoad())
                loads[rep.id] = replace(
                    load,
                    new_leads=load.new_leads + 1,
                    received_today=load.received_today + 1,
                    last_assigned_at=now,
                )
                moves.append((customer, rep, rep.team, AUTO_REASON))
                out.append(AssignOutcome(customer, rep, rep.team, None))
                continue
            team = teams[0] if len(teams) == 1 else customer.team
            if team not in managers:
                managers[team] = team_manager(team, users, self.config)
            moves.append((customer, None, team, POOL_REASON))
            out.append(AssignOutcome(customer, None, team, managers[team], skipped))
        hand_over(uow, moves, actor_id, now)
        return out


def hand_over(
    uow: StageUnitOfWork,
    moves: Sequence[tuple[Customer, User | None, str | None, str]],
    actor_id: str,
    now: datetime,
) -> None:
    """Give each customer and its open deals to the rep (None: the team pool), with an Assignment row each.

    Written in bulk (one UPDATE batch for customers, one for deals) so an import of thousands stays fast.
    """
    deals = uow.workload.open_deals([c.id or 0 for c, _, _, _ in moves])
    deal_owners: list[tuple[int, str | None]] = []
    for customer, rep, team, reason in moves:
        previous = customer.owner_id
        customer.owner_id = rep.id if rep else None
        customer.team = team or customer.team
        customer.assigned_at = now if rep else None
        customer.updated_at = now
        to_user = customer.owner_id
        uow.history.add_assignment(
            Assignment(None, "customer", customer.id or 0, previous, to_user, actor_id, reason, now)
        )
        for deal in deals.get(customer.id or 0, []):
            if deal.owner_id != to_user:
                uow.history.add_assignment(
                    Assignment(None, "deal", deal.id or 0, deal.owner_id, to_user, actor_id, reason, now)
                )
                deal_owners.append((deal.id or 0, to_user))
    uow.workload.set_owners([c for c, _, _, _ in moves], now)
    uow.workload.set_deal_owners(deal_owners, now)


def give(
    uow: StageUnitOfWork, customer: Customer, rep: User, actor_id: str, reason: str, now: datetime
) -> None:
    hand_over(uow, [(customer, rep, rep.team, reason)], actor_id, now)


# ---------------------------------------------------------------------------- people's commands
def _manages(actor: User, customer_team: str | None) -> bool:
    if actor.has(Role.DIRECTOR, Role.ADMIN):
        return True
    return actor.has(Role.MANAGER) and (customer_team is None or customer_team == actor.team)


@dataclass
class ManualResult:
    customer: Customer
    rep: User
    previous: User | None
    load: RepLoad
    over_capacity: bool = False


def reassign(
    uow: StageUnitOfWork,
    actor: User,
    customer: Customer,
    target: User,
    now: datetime,
    *,
    assigner: LeadAssigner,
    reason: str = "",
) -> ManualResult:
    """A manager moves a customer (with its open deals) to a rep of the team."""
    if not _manages(actor, customer.team):
        raise PermissionDenied("只有本组主管（或总监、管理员）可以转派客户。")
    if customer.status != CustomerStatus.ACTIVE:
        raise Conflict(f"客户「{customer.name}」已失效或已合并，不能转派。")
    if not target.has(Role.REP):
        raise InvalidInput(f"{target.name}不是销售，不能接收客户。")
    if not actor.has(Role.DIRECTOR, Role.ADMIN) and target.team != actor.team:
        raise PermissionDenied(f"{target.name}不在您的团队（{actor.team or '未分组'}），不能转派给他。")
    [fresh] = uow.workload.lock_reps([target.id]) or [target]
    if fresh.status == UserStatus.OFFBOARDED:
        raise RuleViolation(f"{fresh.name}已离职，不能接收客户。")
    if on_leave(fresh, assigner.today(now)):
        raise RuleViolation(
            f"{fresh.name}休假至 {fresh.leave_until:%Y-%m-%d}，期间不接收新客户。"
            if fresh.leave_until
            else f"{fresh.name}正在休假，不接收新客户。"
        )
    if customer.owner_id == fresh.id:
        raise Conflict(f"客户「{customer.name}」已经由{fresh.name}负责了。")
    previous = uow.users.get(customer.owner_id) if customer.owner_id else None
    load = uow.workload.loads([fresh.id], assigner.day_start(now)).get(fresh.id, RepLoad())
    text = "主管转派" + (f"：{reason}" if reason else "")
    give(uow, customer, fresh, actor.id, text, now)
    audit.record(
        uow,
        actor_id=actor.id,
        action="customer.reassign",
        subject_type="customer",
        subject_id=customer.id or 0,
        now=now,
        before={"owner_id": previous.id if previous else None},
        after={"owner_id": fresh.id, "reason": text},
    )
    return ManualResult(customer, fresh, previous, load, load.new_leads >= fresh.capacity)


def claim(
    uow: StageUnitOfWork, actor: User, customer: Customer, now: datetime, *, assigner: LeadAssigner
) -> ManualResult:
    """A rep takes a lead from the team pool, within their capacity."""
    if not actor.has(Role.REP):
        raise PermissionDenied("只有销售可以从公海领取客户；主管请用 /转派 客户 @销售。")
    if customer.owner_id == actor.id:
        raise Conflict(f"客户「{customer.name}」已经归您负责了。")
    if customer.owner_id is not None:
        owner = uow.users.get(customer.owner_id)
        raise Conflict(
            f"客户「{customer.name}」已由{owner.name if owner else '他人'}负责，不在公海中。",
            hint="如需接手，请联系主管转派。",
        )
    if not permissions.can_see_customer(actor, customer):
        raise PermissionDenied(f"客户「{customer.name}」在其他团队的公海中，您不能领取。")
    if customer.status != CustomerStatus.ACTIVE:
        raise Conflict(f"客户「{customer.name}」已失效或已合并，不能领取。")
    [fresh] = uow.workload.lock_reps([actor.id]) or [actor]
    if on_leave(fresh, assigner.today(now)):
        raise RuleViolation("您正在休假，休假期间不能领取新客户。")
    load = uow.workload.loads([fresh.id], assigner.day_start(now)).get(fresh.id, RepLoad())
    if load.new_leads >= fresh.capacity:
        raise RuleViolation(
            f"您名下还没联系的线索已有 {load.new_leads} 个（上限 {fresh.capacity}），请先跟进已有线索再领取。"
        )
    give(uow, customer, fresh, actor.id, "从公海领取", now)
    return ManualResult(customer, fresh, None, load)


def set_leave(
    uow: StageUnitOfWork, actor: User, rep: User, until: date, now: datetime, *, assigner: LeadAssigner
) -> User:
    """On leave until `until` (inclusive): no new leads meanwhile. Managers of the rep's team or HR."""
    is_their_manager = actor.has(Role.MANAGER) and (
        rep.manager_id == actor.id or (rep.team is not None and rep.team == actor.team)
    )
    if not (is_their_manager or actor.has(Role.HR, Role.DIRECTOR, Role.ADMIN)):
        raise PermissionDenied("只有该销售的主管或人事可以登记休假。")
    if rep.status == UserStatus.OFFBOARDED:
        raise Conflict(f"{rep.name}已离职。")
    if until < assigner.today(now):
        raise InvalidInput(f"休假结束日期 {until:%Y-%m-%d} 已经过去了，请给一个今天或以后的日期。")
    if (until - assigner.today(now)).days > 366:
        raise InvalidInput("休假不能超过一年；长期离开请用离职交接。")
    return _set_leave(uow, actor, rep, UserStatus.ON_LEAVE, until, "user.leave", now)


def _set_leave(uow: StageUnitOfWork, actor: User, rep: User, status: UserStatus, until: date | None,
               action: str, now: datetime) -> User:
    before = audit.snapshot(rep, ("status", "leave_until"))
    rep.status, rep.leave_until = status, until
    uow.users.save(rep)
    audit.record(uow, actor_id=actor.id, action=action, subject_type="user", subject_id=rep.id, now=now,
                 before=before, after=audit.snapshot(rep, ("status", "leave_until")))
    return rep


def end_leave(uow: StageUnitOfWork, actor: User, rep: User, now: datetime) -> User:
    is_their_manager = actor.has(Role.MANAGER) and (
        rep.manager_id == actor.id or (rep.team is not None and rep.team == actor.team)
    )
    if not (is_their_manager or actor.has(Role.HR, Role.DIRECTOR, Role.ADMIN) or actor.id == rep.id):
        raise PermissionDenied("只有本人、主管或人事可以结束休假。")
    if rep.status != UserStatus.ON_LEAVE:
        raise Conflict(f"{rep.name}当前没有在休假。")
    return _set_leave(uow, actor, rep, UserStatus.ACTIVE, None, "user.leave_end", now)
