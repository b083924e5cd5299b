"""Reminder and escalation rules (design.md §6).

Part 1 — the rules, as pure functions: given the facts of a deal or a lead, `now`, the working
time and the thresholds, which (rule, subject, level, window) alerts are due and for whom.
Part 2 — acting on an alert (已跟进 / 延期 / 转派 / 标记无效): use cases on a unit of work that
change the CRM and stop the alert's ladder. They never commit; the caller does.

A ladder is the levels of one rule for one subject and one *window* (the due date, the stage
entry, the assignment). Windows are keyed by what the alert is about, never by the minute, so a
scan after a restart finds the same keys and the ledger's unique index makes it fire once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core import audit, permissions
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.model import (
    Alert,
    Assignment,
    Customer,
    CustomerStatus,
    Deal,
    DealStatus,
    FollowUpSource,
    Role,
    User,
    UserStatus,
)
from core.ports import UnitOfWork
from core.usecases.followups import FollowUpInput, FollowUpResult, record_followup
from core.validation import require_reason
from core.worktime import WorkTime, parse_hhmm

FOLLOWUP = "followup"
STALL = "stall"
UNTOUCHED = "untouched"
UNASSIGNED = "unassigned"
DIGEST = "digest"

RULE_NAMES_ZH = {
    FOLLOWUP: "跟进提醒",
    STALL: "商机停滞",
    UNTOUCHED: "新线索未跟进",
    UNASSIGNED: "线索未分配",
    DIGEST: "每日汇总",
}

# the highest level of each ladder: once a window has it (sent or stopped), the ladder is over
TOP_LEVEL = {FOLLOWUP: 3, STALL: 3, UNTOUCHED: 1, UNASSIGNED: 1, DIGEST: 1}

# who gets a level: the subject's owner (rep), the owner's manager, the director above, or the
# manager of the lead's team (nobody owns an unassigned lead)
OWNER, MANAGER, DIRECTOR, TEAM_MANAGER = "owner", "manager", "director", "team_manager"

# alert states that mean a person acted: the ladder for that window stops
STOPPED = frozenset({"done", "snoozed", "reassigned", "invalid", "superseded"})

STATE_NAMES_ZH = {
    "open": "待处理",
    "done": "已跟进",
    "snoozed": "已延期",
    "reassigned": "已转派",
    "invalid": "已标记无效",
    "superseded": "已由他人处理",
    "sent": "已发送",
}


# ====================================================================== configuration
class ReminderConfig(BaseModel):
    """`[reminders]` in crmbot.toml. Every key has a shipped default."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    scan_interval_seconds: int = Field(60, ge=5, le=3600)
    # follow-up due: level 1 at work start on the due working day; 2 and 3 when overdue by …
    overdue_rep_workdays: int = Field(1, ge=1)
    overdue_manager_workdays: int = Field(3, ge=1)
    # a new lead with no follow-up this long after assignment goes to the manager and 待激活
    untouched_work_hours: float = Field(72, gt=0)
    # a lead nobody owns this long goes to the team's manager
    unassigned_work_hours: float = Field(2, gt=0)
    # stage dwell limits in working days (used until the stage rules supply their own)
    stall_default_days: int = Field(5, ge=1)
    stall_days: dict[str, int] = Field(default_factory=lambda: {"quote": 3})
    stall_manager_after_days: int = Field(2, ge=1)  # past the limit → the manager
    stall_director_after_days: int = Field(5, ge=1)  # past the limit → the director
    digest_time: str = "18:00"
    hold_on_rest_days: bool = True  # cards due on a weekend or holiday wait for the working morning
    lookback_days: int = Field(14, ge=1, le=365)  # how far back a restart catches up
    snooze_days: list[int] = Field(default_factory=lambda: [1, 3, 7])
    batch_size: int = Field(500, ge=1, le=10000)

    @field_validator("digest_time")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        parse_hhmm(value)
        return value

    @field_validator("stall_days")
    @classmethod
    def _positive(cls, value: dict[str, int]) -> dict[str, int]:
        bad = [k for k, v in value.items() if v < 1]
        if bad:
            raise ValueError(f"停留上限必须至少 1 个工作日：{', '.join(bad)}")
        return value

    @model_validator(mode="after")
    def _ladders_go_up(self) -> ReminderConfig:
        if self.overdue_manager_workdays <= self.overdue_rep_workdays:
            raise ValueError("overdue_manager_workdays 必须大于 overdue_rep_workdays")
        if self.stall_director_after_days <= self.stall_manager_after_days:
            raise ValueError("stall_director_after_days 必须大于 stall_manager_after_days")
        if (
            not self.snooze_days
            or len(self.snooze_days) > 3
            or any(d < 1 or d > 90 for d in self.snooze_days)
        ):
            raise ValueError("snooze_days 应为 1 到 3 个 1–90 之间的天数")
        return self

    def dwell_days(self, stage: str) -> int:
        return self.stall_days.get(stage, self.stall_default_days)


# ====================================================================== facts and results
@dataclass(frozen=True, slots=True)
class DealFacts:
    deal_id: int
    customer_id: int
    owner_id: str | None
    stage: str
    next_followup_on: date | None
    last_followup_at: datetime | None
    stage_entered_at: datetime | None
    title: str = ""
    customer_name: str = ""
    team: str | None = None


@dataclass(frozen=True, slots=True)
class LeadFacts:
    customer_id: int
    owner_id: str | None
    team: str | None
    assigned_at: datetime | None
    created_at: datetime
    name: str = ""


@dataclass(frozen=True, slots=True)
class Due:
    """One alert that is due: the ledger key, when it fell due, and who should get it."""

    rule: str
    subject_type: str
    subject_id: int
    level: int
    window: str
    due_at: datetime
    audience: str

    @property
    def ladder(self) -> tuple[str, str, int, str]:
        return (self.rule, self.subject_type, self.subject_id, self.window)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    rule: str
    subject_type: str
    subject_id: int
    level: int
    window: str
    state: str

    @property
    def ladder(self) -> tuple[str, str, int, str]:
        return (self.rule, self.subject_type, self.subject_id, self.window)


# ====================================================================== the rules
def followup_dues(deal: DealFacts, now: datetime, wt: WorkTime, cfg: ReminderConfig) -> list[Due]:
    """Follow-up due (rep) → overdue by 1 working day (rep) → by 3 (the rep's manager).

    A follow-up recorded on or after the due date (without a new date) ends the ladder; a new
    date starts a new window.
    """
    due_on = deal.next_followup_on
    if due_on is None:
        return []
    if deal.last_followup_at is not None and deal.last_followup_at >= wt.day_start(due_on):
        return []
    window = due_on.isoformat()
    times = _followup_times(wt, due_on, cfg.overdue_rep_workdays, cfg.overdue_manager_workdays)
    return [
        Due(FOLLOWUP, "deal", deal.deal_id, level, window, at, audience)
        for level, at, audience in times
        if at <= now
    ]


# Many deals share a due date or a stage-entry day: the calendar walk is done once per day, not per deal.
@lru_cache(maxsize=4096)
def _followup_times(
    wt: WorkTime, due_on: date, rep_days: int, manager_days: int
) -> tuple[tuple[int, datetime, str], ...]:
    due_day = wt.workday_on_or_after(due_on)
    steps = ((1, 0, OWNER), (2, rep_days, OWNER), (3, manager_days, MANAGER))
    return tuple(
        (level, wt.at(wt.calendar.add_workdays(due_day, days), wt.work_start), audience)
        for level, days, audience in steps
    )


def stall_dues(
    deal: DealFacts, now: datetime, wt: WorkTime, cfg: ReminderConfig, limit_days: int
) -> list[Due]:
    """Past the stage's dwell limit → the rep; +2 working days → the manager; +5 → the director.

    Dwell counts whole working days after the day the deal entered the stage; the card goes at
    work start on the first working day past the limit.
    """
    if deal.stage_entered_at is None:
        return []
    entered = wt.local(deal.stage_entered_at).date()
    window = f"{deal.stage}@{_instant_key(deal.stage_entered_at)}"
    steps = (
        (1, 0, OWNER),
        (2, cfg.stall_manager_after_days, MANAGER),
        (3, cfg.stall_director_after_days, DIRECTOR),
    )
    out = []
    for level, extra, audience in steps:
        at = wt.at(wt.calendar.add_workdays(entered, limit_days + extra + 1), wt.work_start)
        if at <= now:
            out.append(Due(STALL, "deal", deal.deal_id, level, window, at, audience))
    return out


def untouched_dues(lead: LeadFacts, now: datetime, wt: WorkTime, cfg: ReminderConfig) -> list[Due]:
    """No follow-up `untouched_work_hours` working hours after assignment → the manager.

    The caller only passes leads still `new` with no follow-up since `assigned_at`.
    """
    if lead.assigned_at is None or lead.owner_id is None:
        return []
    at = wt.add_work_hours(lead.assigned_at, cfg.untouched_work_hours)
    if at > now:
        return []
    return [Due(UNTOUCHED, "customer", lead.customer_id, 1, _instant_key(lead.assigned_at), at, MANAGER)]


def unassigned_dues(lead: LeadFacts, now: datetime, wt: WorkTime, cfg: ReminderConfig) -> list[Due]:
    """A lead nobody owns for `unassigned_work_hours` working hours → the team's manager."""
    if lead.owner_id is not None:
        return []
    at = wt.add_work_hours(lead.created_at, cfg.unassigned_work_hours)
    if at > now:
        return []
    return [Due(UNASSIGNED, "customer", lead.customer_id, 1, _instant_key(lead.created_at), at, TEAM_MANAGER)]


def digest_due(manager_id: str, now: datetime, wt: WorkTime, cfg: ReminderConfig) -> Due | None:
    """The day's summary for a manager at 18:00 on working days; a missed one is not sent late."""
    local = wt.local(now)
    today = local.date()
    if not wt.is_workday(today):
        return None
    at = wt.at(today, parse_hhmm(cfg.digest_time))
    if at > now or wt.is_quiet(now):
        return None
    return Due(DIGEST, "digest", 0, 1, f"{today.isoformat()}:{manager_id}"[:64], at, MANAGER)


def _instant_key(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def choose(dues: list[Due], ledger: Iterable[LedgerEntry], now: datetime, wt: WorkTime) -> Due | None:
    """The one alert of a ladder to fire now, or None.

    Nothing fires in quiet hours (it waits for the morning) or after someone acted on the ladder.
    When several levels fell due while the bot was down, only the highest goes out: a restart
    catches up once, not once per missed step.
    """
    if not dues or not wt.may_send(now):
        return None
    ladder = dues[0].ladder
    fired = [e for e in ledger if e.ladder == ladder]
    if any(e.state in STOPPED for e in fired):
        return None
    top = max(dues, key=lambda d: d.level)
    if fired and max(e.level for e in fired) >= top.level:
        return None
    return top


# ---------------------------------------------------------------------- query bounds
# The scans select candidates with one indexed range query; these give the ranges. They are
# supersets: the rule functions above make the exact decision.
def followup_date_range(now: datetime, wt: WorkTime, cfg: ReminderConfig) -> tuple[date, date]:
    today = wt.today(now)
    return today - timedelta(days=cfg.lookback_days), today


def stall_entry_range(
    now: datetime, wt: WorkTime, cfg: ReminderConfig, limit_days: int
) -> tuple[datetime, datetime]:
    """[lo, hi): deals that entered their stage in it may be stalled now or were within lookback."""
    today = wt.today(now)
    cal = wt.calendar
    latest = cal.add_workdays(today, -(limit_days + 1))  # level 1 due today at the latest
    hi = wt.day_start(cal.next_workday(latest))
    top = limit_days + 1 + cfg.stall_director_after_days
    lo = wt.day_start(cal.add_workdays(today - timedelta(days=cfg.lookback_days), -top) - timedelta(days=1))
    return lo, hi


def hours_range(now: datetime, wt: WorkTime, cfg: ReminderConfig, hours: float) -> tuple[datetime, datetime]:
    hi = wt.sub_work_hours(now, hours)
    return hi - timedelta(days=cfg.lookback_days), hi


# ---------------------------------------------------------------------- diagnostics
def dwell_text(deal: DealFacts, now: datetime, wt: WorkTime, limit_days: int) -> str:
    if deal.stage_entered_at is None:
        return "—"
    days = wt.workdays_since(deal.stage_entered_at, now)
    return f"{days} 个工作日（上限 {limit_days}）"


def overdue_workdays(due_on: date, now: datetime, wt: WorkTime) -> int:
    return max(0, wt.calendar.workdays_between(wt.workday_on_or_after(due_on), wt.today(now)))


# ====================================================================== acting on alerts
@dataclass
class AlertSubject:
    alert: Alert
    customer: Customer
    deal: Deal | None
    deals: list[Deal] = field(default_factory=list)  # the customer's open deals


def load_subject(uow: UnitOfWork, alert_id: int) -> AlertSubject:
    """The alert and what it is about; a forged or vanished id is refused."""
    alert = uow.alerts.get(alert_id)
    if alert is None or alert.rule == DIGEST:
        raise NotFound("找不到这条提醒，按钮可能已失效。")
    deal = None
    if alert.subject_type == "deal":
        deal = uow.deals.get(alert.subject_id)
        if deal is None:
            raise NotFound("这条提醒对应的商机已不存在。")
        customer_id = deal.customer_id
    else:
        customer_id = alert.subject_id
    customer = uow.customers.get(customer_id)
    if customer is None:
        raise NotFound("这条提醒对应的客户已不存在。")
    return AlertSubject(alert, customer, deal, uow.deals.for_customer(customer_id, open_only=True))


def require_open(uow: UnitOfWork, alert: Alert, tz: object) -> None:
    """A card whose alert someone already handled answers "已处理（张三 10:42）"."""
    if alert.state == "open":
        return
    who = uow.users.get(alert.acted_by) if alert.acted_by else None
    when = alert.acted_at.astimezone(tz).strftime("%H:%M") if alert.acted_at else ""  # type: ignore[arg-type]
    name = who.name if who else (alert.acted_by or "他人")
    raise Conflict(f"已处理（{name} {when}）。".replace(" ）", "）"))


def stop_ladder(
    uow: UnitOfWork, alert: Alert, actor: User, state: str, action: str, now: datetime
) -> list[Alert]:
    """Record what was done on `alert` and stop every open ladder of its subject.

    The other open alerts of the subject become `superseded` (their cards are outdated), and the
    levels not fired yet are written to the ledger as `superseded` too, so that no scan on any
    replica can fire them later: the unique key makes their insert a no-op. Returns the
    superseded alerts that had been sent (their cards should be updated).
    """
    alert.state, alert.acted_by, alert.acted_at, alert.action = state, actor.id, now, action
    uow.alerts.update(alert)
    outdated = []
    ladders = {(alert.rule, alert.window)}
    for other in uow.alerts.open_for_subject(alert.subject_type, alert.subject_id):
        if other.id == alert.id:
            continue
        other.state, other.acted_by, other.acted_at, other.action = "superseded", actor.id, now, action
        uow.alerts.update(other)
        outdated.append(other)
        ladders.add((other.rule, other.window))
    for rule, window in ladders:
        for level in range(1, TOP_LEVEL.get(rule, 1) + 1):
            uow.alerts.add_if_absent(
                Alert(
                    None,
                    rule,
                    alert.subject_type,
                    alert.subject_id,
                    level,
                    window,
                    actor.id,
                    now,
                    state="superseded",
                    acted_by=actor.id,
                    acted_at=now,
                    action=f"{action}（未发送）"[:64],
                )
            )
    return outdated


def parse_snooze(arg: str, choices: list[int]) -> int:
    """`3d` → 3, only for the offered choices (a forged button cannot pick 365 days)."""
    text = arg.strip().lower().removesuffix("d")
    if not text.isdigit() or int(text) not in choices:
        raise InvalidInput(f"延期天数只能是 {'/'.join(str(c) for c in choices)} 天。")
    return int(text)


def snooze(
    uow: UnitOfWork, actor: User, subject: AlertSubject, days: int, today: date, now: datetime
) -> date:
    """延期: the next follow-up moves to today + days (a new follow-up ladder), never past the close date."""
    customer = subject.customer
    permissions.require_change(actor, customer)
    deals = [subject.deal] if subject.deal is not None else subject.deals
    if not deals:
        raise InvalidInput(f"客户「{customer.name}」没有进行中的商机，无法延期跟进。")
    until = today + timedelta(days=days)
    for deal in deals:
        if deal.close_date is not None and until > deal.close_date:
            raise InvalidInput(
                f"不能延期到 {until:%Y-%m-%d}：商机「{deal.title}」的预计成交日期是 {deal.close_date:%Y-%m-%d}。",
                hint="请选择更短的延期，或先和主管确认调整预计成交日期。",
            )
    for deal in deals:
        before = audit.snapshot(deal, ("next_followup_on",))
        deal.next_followup_on = until
        deal.updated_at = now
        uow.deals.update(deal)
        audit.record(
            uow,
            actor_id=actor.id,
            action="deal.snooze",
            subject_type="deal",
            subject_id=deal.id or 0,
            now=now,
            before=before,
            after={"next_followup_on": until.isoformat(), "alert_id": subject.alert.id},
        )
    return until


def can_reassign(actor: User, customer: Customer) -> bool:
    if actor.has(Role.DIRECTOR, Role.ADMIN):
        return True
    return actor.has(Role.MANAGER) and (customer.team is None or customer.team == actor.team)


def reassign(
    uow: UnitOfWork,
    actor: User,
    subject: AlertSubject,
    target_id: str,
    now: datetime,
    next_due: date | None = None,
) -> User:
    """转派: the customer and its open deals go to another rep, who starts a fresh 72 h clock.

    A deal whose follow-up is overdue gets `next_due` (the next working day) so that the new owner
    is reminded: the old ladder was stopped with the action.
    """
    customer = subject.customer
    if not can_reassign(actor, customer):
        raise PermissionDenied("抱歉，只有该团队的主管（或总监）可以转派。")
    target = uow.users.get(target_id)
    if target is None:
        raise NotFound(f"没有找到同事「{target_id}」。")
    if target.status == UserStatus.OFFBOARDED:
        raise InvalidInput(f"{target.name} 已离职，不能接手客户。请选择其他同事。")
    if target.status == UserStatus.ON_LEAVE:
        until = f"（至 {target.leave_until:%m-%d}）" if target.leave_until else ""
        raise InvalidInput(f"{target.name} 正在休假{until}，暂不能接手客户。请选择其他同事。")
    if not target.has(Role.REP, Role.MANAGER):
        raise InvalidInput(f"{target.name} 不是销售，不能接手客户。")
    if not actor.has(Role.DIRECTOR, Role.ADMIN) and target.team != actor.team:
        raise PermissionDenied(f"{target.name} 不在您的团队，不能转派给他/她。")
    if customer.owner_id == target.id:
        raise InvalidInput(f"客户「{customer.name}」已经由 {target.name} 负责了。")
    if customer.status != CustomerStatus.ACTIVE:
        raise InvalidInput(f"客户「{customer.name}」已失效，无需转派。")
    before = audit.snapshot(customer, ("owner_id", "team", "assigned_at", "lead_state"))
    previous = customer.owner_id
    customer.owner_id, customer.assigned_at, customer.updated_at = target.id, now, now
    customer.team = target.team or customer.team
    if customer.lead_state == "dormant":
        customer.lead_state = "new"
    uow.customers.update(customer)
    uow.history.add_assignment(
        Assignment(
            None,
            "customer",
            customer.id or 0,
            previous,
            target.id,
            actor.id,
            f"提醒卡片转派（提醒 #{subject.alert.id}）",
            now,
        )
    )
    for deal in subject.deals:
        if deal.status == DealStatus.OPEN and deal.owner_id != target.id:
            uow.history.add_assignment(
                Assignment(None, "deal", deal.id or 0, deal.owner_id, target.id, actor.id, "随客户转派", now)
            )
            deal.owner_id, deal.updated_at = target.id, now
            if (
                next_due is not None
                and deal.next_followup_on is not None
                and deal.next_followup_on < next_due
            ):
                deal.next_followup_on = next_due
            uow.deals.update(deal)
    audit.record(
        uow,
        actor_id=actor.id,
        action="customer.reassign",
        subject_type="customer",
        subject_id=customer.id or 0,
        now=now,
        before=before,
        after=audit.snapshot(customer, ("owner_id", "team", "assigned_at", "lead_state")),
    )
    return target


def mark_invalid(uow: UnitOfWork, actor: User, subject: AlertSubject, reason: str, now: datetime) -> Customer:
    """标记无效, with the same rules as /无效: a reason, the right to change, nothing deleted."""
    reason = require_reason(reason, "标记无效的原因")
    customer = subject.customer
    permissions.require_change(actor, customer)
    if customer.status != CustomerStatus.ACTIVE:
        raise InvalidInput(f"客户「{customer.name}」已经是无效或已合并状态。")
    before = audit.snapshot(customer, ("status", "invalid_reason"))
    customer.status, customer.invalid_reason, customer.updated_at = CustomerStatus.INVALID, reason, now
    uow.customers.update(customer)
    audit.record(
        uow,
        actor_id=actor.id,
        action="customer.invalid",
        subject_type="customer",
        subject_id=customer.id or 0,
        now=now,
        before=before,
        after=audit.snapshot(customer, ("status", "invalid_reason")),
    )
    return customer


def mark_dormant(uow: UnitOfWork, customer_id: int, now: datetime, alert_id: int | None) -> Customer | None:
    """The untouched rule moves the lead to the 待激活 pool (the system is the actor)."""
    customer = uow.customers.get(customer_id)
    if customer is None or customer.lead_state != "new":
        return None
    customer.lead_state, customer.updated_at = "dormant", now
    uow.customers.update(customer)
    audit.record(
        uow,
        actor_id="system",
        action="customer.dormant",
        subject_type="customer",
        subject_id=customer_id,
        now=now,
        before={"lead_state": "new"},
        after={"lead_state": "dormant", "alert_id": alert_id},
    )
    return customer


def record_done(
    uow: UnitOfWork, actor: User, subject: AlertSubject, note: str, now: datetime,
    next_followup_on: date | None = None,
) -> FollowUpResult:
    """已跟进: the one-line note becomes a follow-up on the alert's deal (permissions as for /跟进).

    `next_followup_on` is the next date the note names, if any (the caller parses the note).
    """
    note = note.strip()
    if not note:
        raise InvalidInput("请用一句话说明这次跟进的情况。")
    data = FollowUpInput(
        customer_id=subject.customer.id or 0,
        occurred_at=now,
        source=FollowUpSource.CARD,
        raw_text=note,
        deal_id=subject.deal.id if subject.deal else None,
        next_followup_on=next_followup_on,
    )
    return record_followup(uow, actor, data, now)


def audience_user(audience: str, owner: User | None, team: str | None, users: dict[str, User]) -> User | None:
    """Who receives a level. An owner who left or is on leave is covered by their manager."""

    def reachable(u: User | None) -> User | None:
        return u if u is not None and u.status == UserStatus.ACTIVE else None

    def manager_of(u: User | None) -> User | None:
        if u is not None and u.manager_id:
            m = reachable(users.get(u.manager_id))
            if m is not None:
                return m
        return team_manager(u.team if u else team)

    def team_manager(t: str | None) -> User | None:
        found = [u for u in users.values() if t and u.team == t and u.has(Role.MANAGER) and reachable(u)]
        return sorted(found, key=lambda u: u.id)[0] if found else director()

    def director() -> User | None:
        found = [u for u in users.values() if u.has(Role.DIRECTOR) and reachable(u)]
        return sorted(found, key=lambda u: u.id)[0] if found else None

    if audience == OWNER:
        return reachable(owner) or manager_of(owner)
    if audience == MANAGER:
        return manager_of(owner) if owner is not None else team_manager(team)
    if audience == DIRECTOR:
        mgr = manager_of(owner) if owner is not None else team_manager(team)
        above = reachable(users.get(mgr.manager_id)) if mgr is not None and mgr.manager_id else None
        return above if above is not None and above.has(Role.DIRECTOR) else director()
    return team_manager(team)


LimitFn = Callable[[str], int]
