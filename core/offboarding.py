"""Offboarding (离职交接), the pure part: who may be offboarded to whom, and who gets which customer.

The plan is the named successor for everything, or a round robin within the leaver's team that
respects leave and capacity: a rep gets the next customer when their share so far, divided by their
weight, is the smallest; an uncontacted lead (lead_state "new") only goes to a rep below capacity,
and when nobody is, it goes to the team pool for the manager to hand out. The plan is written to the
job's items once, so a resumed job follows the same plan and never moves a customer twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from core.assignment import AssignmentConfig, RepLoad, on_leave, weight
from core.errors import Conflict, InvalidInput, NotFound, RuleViolation
from core.model import Role, User, UserStatus
from core.permissions import require

JOB_KIND = "offboarding"
REASON = "离职交接"  # the Assignment rows' reason (the rows also carry the job id)

# job states (jobs.state) and the phases of an offboarding job (jobs.progress["phase"])
PENDING, RUNNING, DONE, FAILED, CANCELLED = "pending", "running", "done", "failed", "cancelled"
UNFINISHED = (PENDING, RUNNING)
PHASE_PLAN, PHASE_MOVE, PHASE_REST, PHASE_REPORT = "plan", "move", "rest", "report"
PHASE_WECOM_PLAN, PHASE_WECOM_START, PHASE_WECOM_POLL, PHASE_FINISHED = (
    "wecom_plan",
    "wecom_start",
    "wecom_poll",
    "finished",
)
PHASE_NAMES_ZH = {
    PHASE_PLAN: "生成交接计划",
    PHASE_MOVE: "转移客户与商机",
    PHASE_REST: "转移提醒与审批",
    PHASE_REPORT: "发送汇总",
    PHASE_WECOM_PLAN: "准备企业微信客户迁移",
    PHASE_WECOM_START: "提交企业微信离职继承",
    PHASE_WECOM_POLL: "等待企业微信迁移结果",
    PHASE_FINISHED: "已完成",
}

# job item states
ITEM_PENDING, ITEM_DONE, ITEM_FAILED, ITEM_WAITING = "pending", "done", "failed", "waiting"


@dataclass
class Job:
    id: int | None
    kind: str
    state: str
    params: dict[str, Any]
    progress: dict[str, Any]
    created_by: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None

    @property
    def phase(self) -> str:
        return str(self.progress.get("phase", PHASE_PLAN))


@dataclass
class JobItem:
    id: int | None
    job_id: int
    subject_type: str  # customer | deal | contact (a WeCom external contact)
    subject_id: str
    state: str = ITEM_PENDING
    result: dict[str, Any] = field(default_factory=dict)
    updated_at: datetime | None = None


@dataclass(frozen=True)
class CustomerBrief:
    """What planning needs to know about one of the leaver's customers."""

    id: int
    name: str
    team: str | None
    lead_state: str = "contacted"


# ---------------------------------------------------------------------------- checks
def check_request(actor: User, leaver: User | None, successor: User | None, today: date) -> User:
    """Refuse clearly: who asks, who leaves, who takes over. Returns the leaver."""
    require(actor, "user.offboard")
    if leaver is None:
        raise NotFound("没有找到要办理离职的同事。", hint="请用系统里的姓名或账号，例如 /离职 @张三。")
    if leaver.status == UserStatus.OFFBOARDED:
        raise Conflict(f"{leaver.name}已经办理过离职，账号已停用。", hint="交接进度可用 crmbot jobs 查看。")
    if leaver.id == actor.id:
        raise InvalidInput("不能为自己办理离职，请由其他人事同事或管理员办理。")
    if successor is not None:
        check_successor(leaver, successor, today)
    return leaver


def check_successor(leaver: User, successor: User, today: date) -> None:
    if successor.id == leaver.id:
        raise InvalidInput(f"不能把{leaver.name}的客户交接给{leaver.name}本人，请指定另一位同事。")
    if successor.status == UserStatus.OFFBOARDED:
        raise RuleViolation(f"{successor.name}已离职，不能接手客户。请指定在职的同事。")
    if successor.status == UserStatus.ON_LEAVE and on_leave(successor, today):
        until = f"至 {successor.leave_until:%Y-%m-%d}" if successor.leave_until else "中"
        raise RuleViolation(
            f"{successor.name}正在休假（{until}），不能接手客户。请指定其他同事，或等其销假后再办理。"
        )
    if not successor.has(Role.REP, Role.MANAGER):
        raise InvalidInput(f"{successor.name}不是销售或主管，不能接手客户。")


# ---------------------------------------------------------------------------- the round robin
def candidates(leaver: User, team: Iterable[User], today: date, config: AssignmentConfig) -> list[User]:
    """Reps of the leaver's team who can take customers now: active, not on leave, weight above 0."""
    return sorted(
        (
            u
            for u in team
            if u.id != leaver.id
            and u.has(Role.REP)
            and u.status != UserStatus.OFFBOARDED
            and not on_leave(u, today)
            and weight(u, config) > 0
            and leaver.team is not None
            and u.team == leaver.team
        ),
        key=lambda u: u.id,
    )


def plan(
    customers: Sequence[CustomerBrief],
    successor: User | None,
    reps: Sequence[User],
    loads: dict[str, RepLoad],
    config: AssignmentConfig,
    *,
    already: dict[str, int] | None = None,
) -> dict[int, str | None]:
    """customer id → the new owner (None: the team pool). `already` = shares given earlier in this job."""
    if successor is not None:
        return {c.id: successor.id for c in customers}
    given = dict(already or {})
    new_leads = {r.id: loads.get(r.id, RepLoad()).new_leads for r in reps}
    out: dict[int, str | None] = {}
    for customer in customers:
        best: tuple[float, str] | None = None
        for rep in reps:
            if customer.lead_state == "new" and new_leads[rep.id] >= rep.capacity:
                continue
            key = ((given.get(rep.id, 0) + 1) / weight(rep, config), rep.id)
            if best is None or key < best:
                best = key
        if best is None:
            out[customer.id] = None
            continue
        chosen = best[1]
        given[chosen] = given.get(chosen, 0) + 1
        if customer.lead_state == "new":
            new_leads[chosen] += 1
        out[customer.id] = chosen
    return out


def shares(assignments: dict[int, str | None]) -> dict[str | None, int]:
    out: dict[str | None, int] = {}
    for target in assignments.values():
        out[target] = out.get(target, 0) + 1
    return out
