"""The periodic reminder scans (design.md §6): few scans, not one job per reminder.

Each scan runs ONE indexed range query for candidates, asks the pure rules in `core.reminders`
which alert is due, and for each writes the Alert row with insert-or-ignore on the ledger key
and its card to the cards table and the outbox — in the same transaction. Two processes scanning
the same database therefore never send an alert twice (the second insert is a no-op), and a crash
before the commit loses nothing (the next scan finds the same keys again).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.cards import card_to_dict
from bot.context import new_card_id
from bot.reminders import cards
from bot.types import Card
from core import reminders as rules
from core.model import Alert, Role, User
from core.reminders import Due, ReminderConfig
from core.worktime import WorkTime
from storage.reminder_queries import SqlReminderQueries

if TYPE_CHECKING:
    from bot.services import Services
    from storage.uow import SqlUnitOfWork

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------- stage rules (issue 6)
@dataclass(frozen=True)
class StageHooks:
    dwell_limit: Callable[[str], int | None]  # working days a stage may last; None = no limit
    missing_evidence: Callable[[Any, int], list[str]] | None  # (uow, deal_id) → what is missing to advance
    stall_stages: Callable[[], list[str]]  # open stages that have a limit


def stage_hooks(services: Services, cfg: ReminderConfig) -> StageHooks:
    """The ONE place that knows where dwell limits and missing evidence come from.

    With the stage rules (core.stages) present, the pipeline's `max_dwell_days` and the evidence
    needed for the next stage are used; without them, `[reminders] stall_days` and no evidence.
    """
    terminal = {s.key for s in services.pipeline.stages if s.terminal}
    try:
        from core import stages as stage_rules
    except ImportError:
        return StageHooks(
            cfg.dwell_days, None, lambda: [s.key for s in services.pipeline.stages if not s.terminal]
        )
    rules_obj = services.extras.get("stage_rules") or stage_rules.StageRules.from_settings(
        services.settings.pipeline
    )

    def missing(uow: Any, deal_id: int) -> list[str]:
        deal = uow.deals.get(deal_id)
        nxt = rules_obj.next_stage(deal.stage) if deal is not None else None
        if nxt is None or not hasattr(uow, "evidence"):
            return []
        from core.usecases.stages import evidence_summary

        return list(stage_rules.missing_evidence(deal, nxt.key, evidence_summary(uow, deal), rules=rules_obj))

    def open_limited() -> list[str]:
        return [
            s.key
            for s in rules_obj.config.stages
            if s.outcome is None and s.key not in terminal and s.max_dwell_days is not None
        ]

    return StageHooks(rules_obj.dwell_limit_days, missing, open_limited)


# ---------------------------------------------------------------------- the engine
@dataclass
class ReminderEngine:
    cfg: ReminderConfig
    wt: WorkTime
    hooks: StageHooks


def build_engine(services: Services) -> ReminderEngine:
    cfg = ReminderConfig.model_validate(services.settings.reminders or {})
    calendar = services.calendar
    if calendar is None:
        from bot.workcal import build_work_calendar

        calendar = build_work_calendar(services.settings.calendar)
    cal_cfg = services.settings.calendar
    wt = WorkTime(
        calendar,
        services.tz,
        work_start=cal_cfg.work_start,
        work_end=cal_cfg.work_end,
        quiet_start=cal_cfg.quiet_start,
        quiet_end=cal_cfg.quiet_end,
        hold_on_rest_days=cfg.hold_on_rest_days,
    )
    return ReminderEngine(cfg, wt, stage_hooks(services, cfg))


def engine_of(services: Services) -> ReminderEngine:
    engine = services.extras.get("reminders")
    if engine is None:
        engine = services.extras["reminders"] = build_engine(services)
    return engine  # type: ignore[no-any-return]


def run_scans(services: Services) -> dict[str, int]:
    """Every scan once; returns how many alerts each fired. Sync: call it from a worker thread."""
    engine = engine_of(services)
    now = services.clock.now()
    if not engine.cfg.enabled or not engine.wt.may_send(now):
        return {}  # quiet hours: what falls due now waits for the morning scan
    out = {}
    for scan in SCANS:
        try:
            out[scan.__name__] = scan(services, engine, now)
        except Exception:  # one broken scan must not starve the others
            log.exception("reminder scan %s failed", scan.__name__)
            out[scan.__name__] = -1
    return out


# ---------------------------------------------------------------------- writing alerts
def send_card(
    uow: SqlUnitOfWork, services: Services, user: User, card: Card, card_id: str, now: datetime
) -> None:
    """What `Context.notify` does, without a Context: the card row and its outbox row."""
    channel, recipient = services.route_for(user)
    body = card_to_dict(card)
    uow.cards.add(card_id=card_id, channel=channel, user_id=user.id, body=body, now=now)
    uow.outbox.add(
        channel=channel,
        user_id=user.id,
        recipient=recipient,
        kind="card",
        body={"card": body},
        now=now,
        card_id=card_id,
    )


CardFn = Callable[[Alert, Due, Any, User | None], Card]
AfterFn = Callable[[Alert, Any], None]


@dataclass
class _Batch:
    services: Services
    engine: ReminderEngine
    uow: SqlUnitOfWork
    now: datetime
    _users: dict[str, User] | None = None

    @property
    def users(self) -> dict[str, User]:
        if self._users is None:
            self._users = {u.id: u for u in self.uow.users.list(include_offboarded=True)}
        return self._users

    def fire(
        self,
        rule: str,
        subject_type: str,
        hits: Sequence[tuple[Any, list[Due]]],
        build: CardFn,
        after: AfterFn | None = None,
    ) -> int:
        """Fire what is due for `hits` ((facts, dues) pairs), committing every batch_size alerts."""
        if not hits:
            return 0
        q = SqlReminderQueries(self.uow.session)
        fired = 0
        size = self.engine.cfg.batch_size
        for start in range(0, len(hits), size):
            chunk = hits[start : start + size]
            # No read of the ledger first: its unique key decides. A level already fired, or stopped
            # by someone's action (stop_ladder writes every remaining level), makes the insert a no-op.
            pending: list[tuple[Alert, Due, Any, User | None, User]] = []
            for facts, dues in chunk:
                due = rules.choose(dues, (), self.now, self.engine.wt)
                if due is None:
                    continue
                owner = self.users.get(facts.owner_id) if facts.owner_id else None
                recipient = rules.audience_user(due.audience, owner, facts.team, self.users)
                if recipient is None:
                    log.warning("no one to receive %s for %s %s", rule, subject_type, due.subject_id)
                    continue
                alert = Alert(
                    None,
                    rule,
                    subject_type,
                    due.subject_id,
                    due.level,
                    due.window,
                    recipient.id,
                    self.now,
                    due_at=due.due_at,
                    card_id=new_card_id(),
                )
                pending.append((alert, due, facts, owner, recipient))
            # one insert-or-ignore for the batch; only what this scanner inserted gets a card
            inserted = q.add_alerts_if_absent([p[0] for p in pending])
            card_rows: list[dict[str, Any]] = []
            outbox_rows: list[dict[str, Any]] = []
            for alert, due, facts, owner, recipient in pending:
                alert_id = inserted.get(alert.ledger_key)
                if alert_id is None:
                    continue  # another scanner (replica) fired it first
                alert.id = alert_id
                body = card_to_dict(build(alert, due, facts, owner))
                channel, to = self.services.route_for(recipient)
                card_rows.append(
                    {
                        "id": alert.card_id,
                        "channel": channel,
                        "user_id": recipient.id,
                        "body": body,
                        "created_at": self.now,
                    }
                )
                outbox_rows.append(
                    {
                        "channel": channel,
                        "user_id": recipient.id,
                        "recipient": to,
                        "kind": "card",
                        "body": {"card": body},
                        "card_id": alert.card_id,
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": self.now,
                        "created_at": self.now,
                    }
                )
                if after is not None:
                    after(alert, facts)
                fired += 1
            q.add_cards(card_rows, outbox_rows)
            self.uow.commit()
        return fired


# ---------------------------------------------------------------------- the scans
def scan_followups(services: Services, engine: ReminderEngine, now: datetime) -> int:
    cfg, wt = engine.cfg, engine.wt
    lo, hi = rules.followup_date_range(now, wt, cfg)
    with services.uow_factory() as uow:
        candidates = SqlReminderQueries(uow.session).followup_candidates(lo, hi)
        hits = [
            (d, dues)
            for d in sorted(candidates, key=lambda d: d.deal_id)
            if (dues := rules.followup_dues(d, now, wt, cfg))
        ]

        def build(alert: Alert, due: Due, deal: rules.DealFacts, owner: User | None) -> Card:
            overdue = rules.overdue_workdays(deal.next_followup_on, now, wt) if deal.next_followup_on else 0
            return cards.followup_card(
                alert,
                due,
                deal,
                owner,
                services.pipeline.name(deal.stage),
                overdue,
                services.tz,
                cfg.snooze_days,
            )

        return _Batch(services, engine, uow, now).fire(rules.FOLLOWUP, "deal", hits, build)


def _stall_limits(engine: ReminderEngine) -> dict[int, list[str]]:
    """Stages grouped by their dwell limit, so the scan has one range per distinct limit."""
    groups: dict[int, list[str]] = {}
    for stage in engine.hooks.stall_stages():
        limit = engine.hooks.dwell_limit(stage)
        if limit:
            groups.setdefault(limit, []).append(stage)
    return groups


def scan_stalls(services: Services, engine: ReminderEngine, now: datetime) -> int:
    cfg, wt = engine.cfg, engine.wt
    groups = _stall_limits(engine)
    ranges = [(stages, *rules.stall_entry_range(now, wt, cfg, limit)) for limit, stages in groups.items()]
    with services.uow_factory() as uow:
        candidates = SqlReminderQueries(uow.session).stall_candidates(ranges)
        hits = []
        for d in sorted(candidates, key=lambda d: d.deal_id):
            limit = engine.hooks.dwell_limit(d.stage)
            if limit and (dues := rules.stall_dues(d, now, wt, cfg, limit)):
                hits.append((d, dues))

        def build(alert: Alert, due: Due, deal: rules.DealFacts, owner: User | None) -> Card:
            limit = engine.hooks.dwell_limit(deal.stage) or 0
            recent, missing = [], None
            if due.audience != rules.OWNER:  # the diagnostic is for the manager and the director
                recent = uow.followups.for_deal(deal.deal_id, limit=3)
                if engine.hooks.missing_evidence is not None:
                    missing = engine.hooks.missing_evidence(uow, deal.deal_id)
            return cards.stall_card(
                alert,
                due,
                deal,
                owner,
                services.pipeline.name(deal.stage),
                rules.dwell_text(deal, now, wt, limit),
                recent,
                missing,
                services.tz,
                cfg.snooze_days,
            )

        return _Batch(services, engine, uow, now).fire(rules.STALL, "deal", hits, build)


def _lead_hits(candidates: Any, dues_of: Any) -> list[Any]:
    """Leads in a stable order (by customer id) with the alert levels now due for each."""
    return [(c, dues) for c in sorted(candidates, key=lambda c: c.customer_id) if (dues := dues_of(c))]


def scan_untouched(services: Services, engine: ReminderEngine, now: datetime) -> int:
    cfg, wt = engine.cfg, engine.wt
    lo, hi = rules.hours_range(now, wt, cfg, cfg.untouched_work_hours)
    with services.uow_factory() as uow:
        candidates = SqlReminderQueries(uow.session).untouched_candidates(lo, hi)
        hits = _lead_hits(candidates, lambda c: rules.untouched_dues(c, now, wt, cfg))

        def build(alert: Alert, due: Due, lead: rules.LeadFacts, owner: User | None) -> Card:
            return cards.untouched_card(alert, lead, owner, cfg.untouched_work_hours, services.tz)

        def dormant(alert: Alert, lead: rules.LeadFacts) -> None:
            rules.mark_dormant(uow, lead.customer_id, now, alert.id)

        return _Batch(services, engine, uow, now).fire(rules.UNTOUCHED, "customer", hits, build, dormant)


def scan_unassigned(services: Services, engine: ReminderEngine, now: datetime) -> int:
    cfg, wt = engine.cfg, engine.wt
    lo, hi = rules.hours_range(now, wt, cfg, cfg.unassigned_work_hours)
    with services.uow_factory() as uow:
        candidates = SqlReminderQueries(uow.session).unassigned_candidates(lo, hi)
        hits = _lead_hits(candidates, lambda c: rules.unassigned_dues(c, now, wt, cfg))

        def build(alert: Alert, due: Due, lead: rules.LeadFacts, owner: User | None) -> Card:
            return cards.unassigned_card(alert, lead, cfg.unassigned_work_hours, services.tz)

        return _Batch(services, engine, uow, now).fire(rules.UNASSIGNED, "customer", hits, build)


def scan_digests(services: Services, engine: ReminderEngine, now: datetime) -> int:
    """At 18:00 on working days: each manager's summary of the team's alerts (once per day)."""
    cfg, wt = engine.cfg, engine.wt
    if rules.digest_due("-", now, wt, cfg) is None:
        return 0
    today = wt.today(now)
    today_start = wt.day_start(today)
    fired = 0
    with services.uow_factory() as uow:
        q = SqlReminderQueries(uow.session)
        users = {u.id: u for u in uow.users.list(include_offboarded=True)}
        managers = sorted(
            (u for u in users.values() if u.has(Role.MANAGER) and u.is_active), key=lambda u: u.id
        )
        dues = {m.id: rules.digest_due(m.id, now, wt, cfg) for m in managers}
        done = q.digest_windows([d.window for d in dues.values() if d is not None])
        for manager in managers:
            due = dues[manager.id]
            if due is None or due.window in done:
                continue
            team = [manager.id] + [u.id for u in users.values() if u.manager_id == manager.id]
            alerts = q.alerts_for(team, today_start - timedelta(days=cfg.lookback_days))
            alerts = [a for a in alerts if a.created_at >= today_start or a.state == "open"]
            if not alerts:
                continue  # nothing happened and nothing waits: no card to read
            card_id = new_card_id()
            alert = Alert(
                None,
                rules.DIGEST,
                "digest",
                0,
                1,
                due.window,
                manager.id,
                now,
                state="sent",
                action="digest",
                due_at=due.due_at,
                card_id=card_id,
            )
            if uow.alerts.add_if_absent(alert) is None:
                continue
            subjects = _subject_names(q, alerts)
            card = cards.digest_card(today.strftime("%m-%d"), alerts, today_start, users, subjects)
            send_card(uow, services, manager, card, card_id, now)
            fired += 1
        uow.commit()
    return fired


def _subject_names(q: SqlReminderQueries, alerts: Sequence[Alert]) -> dict[tuple[str, int], str]:
    deals = q.deal_customers([a.subject_id for a in alerts if a.subject_type == "deal"])
    customers = q.customer_names([a.subject_id for a in alerts if a.subject_type == "customer"])
    return {("deal", k): v for k, v in deals.items()} | {("customer", k): v for k, v in customers.items()}


SCANS: tuple[Callable[[Services, ReminderEngine, datetime], int], ...] = (
    scan_followups,
    scan_stalls,
    scan_untouched,
    scan_unassigned,
    scan_digests,
)
