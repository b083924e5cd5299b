"""Who may see and change what. Enforced in use cases so every channel obeys the same rules."""

from __future__ import annotations

from core.errors import PermissionDenied
from core.model import ROLE_NAMES_ZH, Customer, Role, User

EVERYTHING = (Role.DIRECTOR, Role.FINANCE, Role.ADMIN)


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
