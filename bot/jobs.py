"""The tracked-job runner (offboarding handovers): resumable, batch by batch, one transaction each.

- `run_pending(services)` runs the database part of every unfinished job (a scan: `!advance`, the
  console after each message, `crmbot jobs --run`). Each batch takes the job's row lock first, works on
  what is still pending, marks it done and commits: a process killed in the middle loses at most the
  batch in flight, which was rolled back, and the next run picks up exactly there.
- `run_pending_async(services, client)` does the same and then the WeCom 离职继承 phases: start the
  transfers (≤100 contacts per call), then poll `resigned/transfer_result` on later runs — the job never
  blocks waiting for WeCom (a takeover completes within 24 h).
- `install(services)` registers the scan; `setup(bot_app)` resumes unfinished jobs when `crmbot serve`
  starts and runs them in the background (`bot.app` should call both, like the reminder hooks).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from bot.handlers.assignment import lead_assigner
from bot.notify import Notifier
from bot.types import Card
from bot.visibility import audit_reads, show_amount, viewer_for
from core.offboarding import (
    DONE,
    JOB_KIND,
    PHASE_FINISHED,
    PHASE_MOVE,
    PHASE_NAMES_ZH,
    PHASE_PLAN,
    PHASE_REPORT,
    PHASE_REST,
    PHASE_WECOM_PLAN,
    PHASE_WECOM_POLL,
    PHASE_WECOM_START,
    Job,
)
from core.usecases import offboarding as uc

if TYPE_CHECKING:
    from bot.app import BotApp
    from bot.services import Services
    from storage.uow import SqlUnitOfWork

log = logging.getLogger(__name__)

DB_PHASES = (PHASE_PLAN, PHASE_MOVE, PHASE_REST, PHASE_REPORT, PHASE_WECOM_PLAN)
WECOM_PHASES = (PHASE_WECOM_START, PHASE_WECOM_POLL)


@dataclass
class JobSettings:
    batch: int = 500  # customers per transaction
    poll_interval: timedelta = timedelta(minutes=10)  # between resigned/transfer_result polls
    loop_seconds: float = 5.0  # how often `crmbot serve` looks for work


def job_settings(services: Services) -> JobSettings:
    return services.extras.setdefault("job_settings", JobSettings())  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------- the database phases
def run_pending(services: Services, *, max_steps: int | None = None) -> int:
    """Run the database phases of every unfinished job; returns the steps taken (a scan function)."""
    steps = 0
    for job_id in unfinished_ids(services):
        steps += run_job(services, job_id, max_steps=None if max_steps is None else max_steps - steps)
        if max_steps is not None and steps >= max_steps:
            break
    return steps


def unfinished_ids(services: Services) -> list[int]:
    with services.uow_factory() as uow:
        return [j.id or 0 for j in uow.jobs.unfinished(JOB_KIND)]


def run_job(services: Services, job_id: int, *, max_steps: int | None = None) -> int:
    """Steps of one job until it needs WeCom, is finished, or `max_steps` were taken."""
    steps = 0
    while max_steps is None or steps < max_steps:
        try:
            more = _db_step(services, job_id)
        except Exception as exc:
            log.exception("job %s: step failed; it will be retried on the next run", job_id)
            _note_error(services, job_id, exc)
            return steps
        if not more:
            return steps
        steps += 1
    return steps


def _db_step(services: Services, job_id: int) -> bool:
    """One transaction. False when there is nothing more to do here (finished, or WeCom's turn)."""
    settings = job_settings(services)
    assigner = lead_assigner(services)
    now = services.clock.now()
    with services.uow_factory() as uow:
        job = uow.jobs.get(job_id, lock=True)
        if job is None or job.state not in ("pending", "running") or job.phase in WECOM_PHASES:
            return False
        phase = job.phase
        if phase in (PHASE_PLAN, PHASE_MOVE, PHASE_REST):
            outcome = uc.step(
                uow, job, now, today=assigner.today(now), config=assigner.config, batch=settings.batch
            )
            if outcome.approvals:
                _announce_approvals(services, uow, job, outcome.approvals, now)
        elif phase == PHASE_REPORT:
            _report(services, uow, job, now)
            uc.advance_phase(uow, job, PHASE_WECOM_PLAN if job.params.get("wecom") else PHASE_FINISHED, now)
            if not job.params.get("wecom"):
                _finish(uow, job, now)
        elif phase == PHASE_WECOM_PLAN:
            uc.plan_contacts(uow, job, now)
            uc.advance_phase(uow, job, PHASE_WECOM_START, now)
        else:
            _finish(uow, job, now)
        uow.commit()
        return True


def _finish(uow: SqlUnitOfWork, job: Job, now: datetime) -> None:
    job.state, job.finished_at, job.updated_at = DONE, now, now
    job.progress["phase"] = PHASE_FINISHED
    uow.jobs.update(job)


def _note_error(services: Services, job_id: int, exc: Exception) -> None:
    with contextlib.suppress(Exception), services.uow_factory() as uow:
        job = uow.jobs.get(job_id)
        if job is not None:
            job.progress["last_error"] = f"{type(exc).__name__}: {exc}"[:300]
            job.progress["errors"] = int(job.progress.get("errors", 0)) + 1
            job.updated_at = services.clock.now()
            uow.jobs.update(job)
            uow.commit()


# ---------------------------------------------------------------------------- WeCom 离职继承
async def run_pending_async(services: Services, client: Any = None) -> int:
    """The database phases in a worker thread, then one WeCom round per job (never blocking on it)."""
    steps = await asyncio.to_thread(run_pending, services)
    if client is None:
        return steps
    for job_id in await asyncio.to_thread(unfinished_ids, services):
        try:
            steps += await wecom_round(services, job_id, client)
        except Exception as exc:
            log.exception("job %s: WeCom round failed; retried on the next run", job_id)
            await asyncio.to_thread(_note_error, services, job_id, exc)
    return steps


async def wecom_round(services: Services, job_id: int, client: Any) -> int:
    """Start every pending transfer (100 contacts per call), then poll once if a poll is due."""
    from bot.channels.wecom.client import TRANSFER_BATCH, WeComAPIError

    job = await asyncio.to_thread(_load, services, job_id)
    if job is None or job.phase not in WECOM_PHASES:
        return 0
    handover = str(job.params.get("handover_wecom") or "")
    calls = 0
    while job.phase == PHASE_WECOM_START:
        items = await asyncio.to_thread(_pending_contacts, services, job_id, TRANSFER_BATCH)
        if not items:
            await asyncio.to_thread(_set_phase, services, job_id, PHASE_WECOM_POLL, services.clock.now())
            break
        takeover = str(items[0].result["takeover"])
        try:
            started = await client.transfer_resigned_customers(
                handover, takeover, [i.subject_id for i in items]
            )
            codes = {s.external_userid: s.errcode for s in started}
        except WeComAPIError as err:
            if err.retryable:
                raise
            codes = {i.subject_id: err.errcode or -1 for i in items}
        calls += 1
        await asyncio.to_thread(_record_started, services, items, codes)
    job = await asyncio.to_thread(_load, services, job_id)
    if job is None or job.phase != PHASE_WECOM_POLL:
        return calls
    due = job.progress.get("next_poll_at")
    now = services.clock.now()
    if due and datetime.fromisoformat(due) > now:
        return calls
    pairs = await asyncio.to_thread(_waiting_pairs, services, job_id)
    waiting = 0
    for takeover, items in pairs.items():
        statuses = await client.resigned_transfer_results(handover, takeover)
        calls += 1
        waiting += await asyncio.to_thread(
            _record_results, services, items, {s.external_userid: s.status for s in statuses}
        )
    await asyncio.to_thread(_after_poll, services, job_id, waiting)
    return calls


def _load(services: Services, job_id: int) -> Job | None:
    with services.uow_factory() as uow:
        return uow.jobs.get(job_id)


def _pending_contacts(services: Services, job_id: int, limit: int) -> list[Any]:
    with services.uow_factory() as uow:
        job = uow.jobs.get(job_id)
        return uc.pending_contacts(uow, job, limit=limit) if job else []


def _set_phase(services: Services, job_id: int, phase: str, now: datetime) -> None:
    with services.uow_factory() as uow:
        job = uow.jobs.get(job_id, lock=True)
        if job is not None:
            job.progress["next_poll_at"] = now.isoformat()
            uc.advance_phase(uow, job, phase, now)
            uow.commit()


def _record_started(services: Services, items: Sequence[Any], codes: dict[str, int]) -> None:
    with services.uow_factory() as uow:
        uc.record_started(uow, items, codes, services.clock.now())
        uow.commit()


def _waiting_pairs(services: Services, job_id: int) -> dict[str, list[Any]]:
    with services.uow_factory() as uow:
        job = uow.jobs.get(job_id)
        return uc.waiting_pairs(uow, job) if job else {}


def _record_results(services: Services, items: Sequence[Any], statuses: dict[str, int]) -> int:
    with services.uow_factory() as uow:
        waiting = uc.record_results(uow, items, statuses, services.clock.now())
        uow.commit()
        return waiting


def _after_poll(services: Services, job_id: int, waiting: int) -> None:
    now = services.clock.now()
    with services.uow_factory() as uow:
        job = uow.jobs.get(job_id, lock=True)
        if job is None or job.phase != PHASE_WECOM_POLL:
            return
        job.progress["polls"] = int(job.progress.get("polls", 0)) + 1
        if waiting:
            job.progress["next_poll_at"] = (now + job_settings(services).poll_interval).isoformat()
            job.updated_at = now
            uow.jobs.update(job)
        else:
            _report_wecom(services, uow, job, now)
            _finish(uow, job, now)
        uow.commit()


# ---------------------------------------------------------------------------- cards
def _names(uow: SqlUnitOfWork) -> dict[str, Any]:
    return {u.id: u for u in uow.users.list(include_offboarded=True)}


def summary_card(services: Services, s: uc.Summary, users: dict[str, Any]) -> Card:
    leaver = s.leaver.name if s.leaver else s.job.params.get("leaver")
    shares = (
        "；".join(
            f"{users[k].name if k in users else k} {len(v)} 个"
            for k, v in sorted(s.per_owner.items(), key=lambda kv: (kv[0] is None, -len(kv[1])))
            if k is not None
        )
        or "—"
    )
    fields: list[tuple[str, str]] = [
        ("离职人", str(leaver)),
        ("已转移客户", f"{s.moved} 个"),
        ("接手人", shares),
        ("商机", f"{s.deals} 个（随客户转移）"),
        ("待处理提醒", f"{s.alerts} 条"),
        ("待审批", f"{s.approvals} 个 → {s.manager.name if s.manager else '主管'}"),
    ]
    action_needed = []
    if s.to_pool:
        action_needed.append(f"{s.to_pool} 个未联系的线索因组内无人有余量进入公海，请主管分配")
    if s.failed:
        action_needed.append(f"{s.failed} 个客户转移失败")
    if s.skipped:
        fields.append(("未转移", f"{s.skipped} 个（交接前已由他人接手）"))
    if s.job.params.get("wecom"):
        fields.append(("企业微信客户", "正在通过离职继承迁移，结果出来后另行通知"))
    fields.append(("需要处理", "；".join(action_needed) or "无"))
    return Card(
        f"离职交接完成：{leaver}",
        tuple(fields),
        footer=f"任务 #{s.job.id} · 可用 crmbot jobs 查看进度；负责人变更均已记录。",
    )


def successor_card(
    services: Services, uow: SqlUnitOfWork, s: uc.Summary, owner: Any, customer_ids: list[int], now: datetime
) -> Card:
    leaver = s.leaver.name if s.leaver else s.job.params.get("leaver")
    viewer = viewer_for(services, owner)
    customers = uow.handover.customers(customer_ids[:5])
    names = "、".join(c.name for c in customers) + (" 等" if len(customer_ids) > 5 else "")
    fields: list[tuple[str, str]] = [("客户", f"{len(customer_ids)} 个：{names}")]
    by_id = {
        c.id: c.name
        for c in uow.handover.customers([d.customer_id for d in uc.top_deals(uow, owner.id, customer_ids)])
    }
    for deal in uc.top_deals(uow, owner.id, customer_ids):
        amount = f" · {show_amount(viewer.amount(deal))}" if deal.amount is not None else ""
        fields.append(
            (
                "重点商机",
                f"{by_id.get(deal.customer_id, '')} · {deal.title} · "
                f"{services.pipeline.name(deal.stage)}{amount}",
            )
        )
    audit_reads(uow, viewer, now, via="offboarding.successor_card")
    return Card(
        f"您接手了{leaver}的客户",
        tuple(fields),
        footer="相关商机和待处理提醒已一并转给您，请尽快联系客户；发送 /客户 名称 查看详情。",
    )


def _report(services: Services, uow: SqlUnitOfWork, job: Job, now: datetime) -> None:
    s = uc.summary(uow, job)
    users = _names(uow)
    notifier = Notifier(services, uow, now)
    card = summary_card(services, s, users)
    hr = users.get(job.created_by)
    if hr is not None:
        notifier.notify(hr, card)
    if s.manager is not None and s.manager.id != job.created_by:
        notifier.notify(s.manager, card)
    for owner_id, customer_ids in s.per_owner.items():
        owner = users.get(owner_id) if owner_id else None
        if owner is not None:
            notifier.notify(owner, successor_card(services, uow, s, owner, customer_ids, now))
    job.progress["summary"] = {"moved": s.moved, "pool": s.to_pool, "failed": s.failed, "skipped": s.skipped}


def _report_wecom(services: Services, uow: SqlUnitOfWork, job: Job, now: datetime) -> None:
    s = uc.summary(uow, job)
    users = _names(uow)
    leaver = s.leaver.name if s.leaver else job.params.get("leaver")
    counts = "；".join(f"{uc.WECOM_OUTCOME_ZH.get(k, k)} {n}" for k, n in sorted(s.wecom.items())) or "无"
    fields: list[tuple[str, str]] = [("离职人", str(leaver)), ("外部联系人", counts)]
    if s.refused:
        names = {c.id: c.name for c in uow.handover.customers([c for _, c in s.refused if c][:50])}
        listed = "、".join(names.get(c or 0, e) for e, c in s.refused[:10])
        more = f" 等 {len(s.refused)} 个" if len(s.refused) > 10 else ""
        fields.append(("需要处理", f"{listed}{more}：未能迁移，请接手人主动添加客户的企业微信"))
    card = Card(f"企业微信客户迁移结果：{leaver}", tuple(fields), footer=f"任务 #{job.id}")
    notifier = Notifier(services, uow, now)
    for user_id in dict.fromkeys([job.created_by, job.params.get("manager")]):
        user = users.get(user_id) if user_id else None
        if user is not None:
            notifier.notify(user, card)
    job.progress["wecom"] = dict(s.wecom)


def _announce_approvals(
    services: Services, uow: SqlUnitOfWork, job: Job, approval_ids: list[int], now: datetime
) -> None:
    from bot.handlers.deals import approval_card

    manager = uow.users.get(job.params.get("manager") or "")
    if manager is None:
        return
    notifier = Notifier(services, uow, now)
    shim = SimpleNamespace(services=services, uow=uow)  # approval_card reads only these two
    leaver = uow.users.get(job.params["leaver"])
    notifier.notify(
        manager,
        f"{leaver.name if leaver else '离职同事'}已离职，以下 {len(approval_ids)} 个待审批申请改由您处理。",
    )
    for approval_id in approval_ids:
        approval = uow.approvals.get(approval_id)
        if approval is not None:
            notifier.notify(manager, approval_card(shim, approval))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- progress, wiring
def describe(job: Job, counts: dict[tuple[str, str], int]) -> str:
    prog = uc.progress_line(job, counts)
    parts = []
    for kind, label in (("customer", "客户"), ("deal", "商机"), ("contact", "企业微信联系人")):
        entry = prog.get(kind)
        if entry:
            settled = entry["total"] - entry.get("pending", 0) - entry.get("waiting", 0)
            parts.append(f"{label} {settled}/{entry['total']}")
    moved = job.progress.get("moved") or {}
    if moved.get("alerts"):
        parts.append(f"提醒 {moved['alerts']}")
    return f"{PHASE_NAMES_ZH.get(job.phase, job.phase)}：" + ("，".join(parts) or "—")


def install(services: Services) -> None:
    """Register the job scan (`!advance`, the console, `crmbot jobs --run`)."""
    job_settings(services)
    scans = services.extras.setdefault("scans", [])
    if run_pending not in scans:
        scans.append(run_pending)


def setup(bot_app: BotApp) -> None:
    """`crmbot serve`: resume unfinished jobs at start, then keep running them in the background."""
    services = bot_app.services
    if services.extras.get("jobs_loop_installed"):
        return
    services.extras["jobs_loop_installed"] = True
    install(services)
    state: dict[str, asyncio.Task[None]] = {}

    async def loop() -> None:
        while True:
            sender = bot_app.senders.get("wecom")
            client = getattr(sender, "client", None)
            try:
                if await run_pending_async(services, client):
                    bot_app.kick()  # cards are waiting in the outbox
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job runner failed")
            await asyncio.sleep(job_settings(services).loop_seconds)

    async def start(app: Any) -> None:
        state["task"] = asyncio.create_task(loop())

    async def stop(app: Any) -> None:
        task = state.pop("task", None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    bot_app.web.on_startup.append(start)
    bot_app.web.on_cleanup.append(stop)
