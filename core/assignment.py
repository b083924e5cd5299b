"""Fair lead assignment: pure rules, configured by `[assignment]` in crmbot.toml.

Weighted round robin among the reps who can take the lead: active (not on leave, not offboarded),
in the matching team, covering the lead's region and product line, and below capacity (leads
assigned to them that nobody has contacted yet). The turn goes to the rep with the smallest
(leads received today + 1) / weight — with equal weights that is plain rotation, with weights 2:1
the first rep gets two leads for every one of the second — and ties go to whoever got a lead
least recently. The state is the database itself (no counter in memory), so replicas agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from pydantic import BaseModel, Field

from core.model import Role, User, UserStatus

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TeamConfig(BaseModel):
    """A team's territory. Without an entry, a team covers the regions and products of its reps."""

    regions: list[str] = Field(default_factory=list)
    products: list[str] = Field(default_factory=list)
    manager: str | None = None  # who gets the pool card; default: the team's manager


class AssignmentConfig(BaseModel):
    """`[assignment]` in crmbot.toml. Per-rep capacity lives on the user (users file, default 15)."""

    enabled: bool = True  # False: leads from import/API stay in the pool for managers to hand out
    default_weight: int = Field(default=1, ge=0)
    weights: dict[str, int] = Field(default_factory=dict)  # user id → weight; 0 = never auto-assigned
    teams: dict[str, TeamConfig] = Field(default_factory=dict)
    pool_card_reps: int = Field(default=5, ge=1, le=5)  # 转派 buttons on the pool card


@dataclass(frozen=True)
class Lead:
    team: str | None = None
    region: str | None = None
    product: str | None = None


@dataclass(frozen=True)
class RepLoad:
    new_leads: int = 0  # owned leads with lead_state "new": what capacity counts
    received_today: int = 0  # leads handed to the rep since local midnight (not ones they found)
    last_assigned_at: datetime | None = None


def on_leave(rep: User, today: date) -> bool:
    """On leave until `leave_until` inclusive; the day after, the rep is available again."""
    return rep.status == UserStatus.ON_LEAVE and (rep.leave_until is None or today <= rep.leave_until)


def _covers(offered: Sequence[str], wanted: str | None) -> bool:
    if not wanted or not offered:
        return True
    return any(o == wanted or o in wanted or wanted in o for o in offered)


def fits(rep: User, lead: Lead) -> bool:
    return _covers(rep.regions, lead.region) and _covers(rep.products, lead.product)


def weight(rep: User, config: AssignmentConfig) -> int:
    return config.weights.get(rep.id, config.default_weight)


def why_not(rep: User, lead: Lead, load: RepLoad, today: date, config: AssignmentConfig) -> str | None:
    """None when the rep can take the lead; else the reason in Chinese (shown on the pool card)."""
    if not rep.has(Role.REP):
        return "不是销售"
    if rep.status == UserStatus.OFFBOARDED:
        return "已离职"
    if on_leave(rep, today):
        return f"休假至 {rep.leave_until:%m-%d}" if rep.leave_until else "休假中"
    if not fits(rep, lead):
        return "区域或产品线不符"
    if weight(rep, config) <= 0:
        return "不参与自动分配"
    if load.new_leads >= rep.capacity:
        return f"未联系线索已满（{load.new_leads}/{rep.capacity}）"
    return None


def choose(
    reps: Iterable[User], lead: Lead, loads: dict[str, RepLoad], today: date, config: AssignmentConfig
) -> User | None:
    """The rep whose turn it is, or None when nobody can take the lead (it goes to the pool)."""
    return rank(reps, lead, loads, today, config)[0]


def rank(
    reps: Iterable[User], lead: Lead, loads: dict[str, RepLoad], today: date, config: AssignmentConfig
) -> tuple[User | None, list[tuple[str, str]]]:
    """`choose`, plus why each rep who could not take the lead was passed over (for the pool card)."""
    best: tuple[float, datetime, str] | None = None
    chosen = None
    skipped: list[tuple[str, str]] = []
    for rep in reps:
        load = loads.get(rep.id, RepLoad())
        reason = why_not(rep, lead, load, today, config)
        if reason is not None:
            skipped.append((rep.name, reason))
            continue
        key = ((load.received_today + 1) / weight(rep, config), load.last_assigned_at or _EPOCH, rep.id)
        if best is None or key < best:
            best, chosen = key, rep
    return chosen, skipped


def team_territory(team: str, members: Iterable[User], config: AssignmentConfig) -> TeamConfig:
    configured = config.teams.get(team)
    if configured is not None and (configured.regions or configured.products):
        return configured
    regions: list[str] = []
    products: list[str] = []
    for rep in members:
        if rep.has(Role.REP) and rep.team == team:
            regions += [r for r in rep.regions if r not in regions]
            products += [p for p in rep.products if p not in products]
    return TeamConfig(regions=regions, products=products, manager=configured.manager if configured else None)


def matching_teams(lead: Lead, users: Sequence[User], config: AssignmentConfig) -> list[str]:
    """The lead's own team when it has one; else every team whose territory covers it."""
    if lead.team:
        return [lead.team]
    teams = sorted({u.team for u in users if u.team and u.has(Role.REP)} | set(config.teams))
    out = []
    for team in teams:
        territory = team_territory(team, users, config)
        if _covers(territory.regions, lead.region) and _covers(territory.products, lead.product):
            out.append(team)
    return out


def team_manager(team: str | None, users: Sequence[User], config: AssignmentConfig) -> User | None:
    if team is None:
        return None
    configured = config.teams.get(team)
    if configured and configured.manager:
        found = next((u for u in users if u.id == configured.manager), None)
        if found is not None:
            return found
    managers = [
        u for u in users if u.team == team and u.has(Role.MANAGER) and u.status != UserStatus.OFFBOARDED
    ]
    if managers:
        return managers[0]
    reps_managers = {u.manager_id for u in users if u.team == team and u.manager_id}
    return next((u for u in users if u.id in reps_managers), None)
