"""The permission tables as data: role × field × action, scope, and the `[permissions]` config."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.errors import PermissionDenied
from core.model import Customer, Deal, Role, User
from core.permissions import (
    MASK,
    FieldRules,
    Viewer,
    can_see_customer,
    can_see_field,
    can_see_phone,
    may,
    require,
)


def user(uid: str, role: Role, team: str | None = "华东一组") -> User:
    return User(uid, uid, frozenset({role}), team=team)


REP, OTHER_REP = user("zhangsan", Role.REP), user("lisi", Role.REP)
SOUTH_REP = user("zhaoliu", Role.REP, "华南一组")
MANAGER, SOUTH_MANAGER = user("zhaoqiang", Role.MANAGER), user("qianmin", Role.MANAGER, "华南一组")
DIRECTOR, FINANCE = user("wangzong", Role.DIRECTOR, None), user("liufang", Role.FINANCE, None)
HR, ADMIN = user("chenjing", Role.HR, None), user("admin", Role.ADMIN, None)
ROLES = {"rep": REP, "manager": MANAGER, "director": DIRECTOR, "finance": FINANCE, "hr": HR, "admin": ADMIN}

OWN = Customer(1, "恒康医疗", "恒康医疗", "zhangsan", "华东一组")
TEAMMATE = Customer(2, "瑞安科技", "瑞安科技", "lisi", "华东一组")
POOL = Customer(3, "博远贸易", "博远贸易", None, "华东一组")
SOUTH = Customer(4, "岭南制药", "岭南制药", "zhaoliu", "华南一组")
SOUTH_POOL = Customer(5, "南方贸易", "南方贸易", None, "华南一组")

# role × field: who sees what by default (True = the value, False = "***")
# fmt: off
FIELDS = [
    # role       amount  payment_terms
    ("rep",      False,  False),
    ("manager",  False,  False),
    ("director", True,   True),
    ("finance",  True,   True),
    ("hr",       False,  False),
    ("admin",    False,  False),
]
# fmt: on


@pytest.mark.parametrize(("role", "amount", "terms"), FIELDS)
def test_field_table(role: str, amount: bool, terms: bool) -> None:
    rules = FieldRules()
    u = ROLES[role]
    assert can_see_field(u, "amount", rules) is amount
    assert can_see_field(u, "payment_terms", rules) is terms
    assert can_see_field(u, "title", rules) is True  # unrestricted fields stay visible
    deal = Deal(7, 1, "zhangsan", "二期", "quote", amount=500000.0, payment_terms="30/70")
    viewer = Viewer(u, rules)
    assert viewer.amount(deal) == (500000.0 if amount else MASK)
    assert viewer.payment_terms(deal) == ("30/70" if terms else MASK)
    # what was shown unmasked is remembered for the audit, what was masked is not
    assert viewer.revealed == ([("deal", "7", "amount"), ("deal", "7", "payment_terms")] if amount else [])


# role × action
# fmt: off
ACTIONS = [
    # action            rep    manager director finance hr     admin
    ("customer.delete", False, False,  False,   False,  False, False),
    ("export.chat",     True,  True,   True,    True,   False, True),
    ("audit.view",      False, True,   True,    False,  False, True),
    ("user.offboard",   False, False,  False,   False,  True,  True),
    ("user.leave",      False, True,   True,    False,  True,  True),
]
# fmt: on


@pytest.mark.parametrize(("action", "rep", "manager", "director", "finance", "hr", "admin"), ACTIONS)
def test_action_table(
    action: str, rep: bool, manager: bool, director: bool, finance: bool, hr: bool, admin: bool
) -> None:
    expected = {
        "rep": rep,
        "manager": manager,
        "director": director,
        "finance": finance,
        "hr": hr,
        "admin": admin,
    }
    for role, allowed in expected.items():
        assert may(ROLES[role], action) is allowed, (role, action)
        if not allowed:
            with pytest.raises(PermissionDenied):
                require(ROLES[role], action)


def test_nobody_deletes_the_answer_points_to_invalid() -> None:
    with pytest.raises(PermissionDenied) as err:
        require(ADMIN, "customer.delete")
    assert "/无效" in err.value.user_text()


# user × customer: scope (see) and phone (unmasked)
# fmt: off
SCOPE = [
    # viewer         own    teammate pool   south  south_pool
    (REP,           (True,  False,   True,  False, False)),
    (OTHER_REP,     (False, True,    True,  False, False)),
    (SOUTH_REP,     (False, False,   False, True,  True)),
    (MANAGER,       (True,  True,    True,  False, False)),
    (SOUTH_MANAGER, (False, False,   False, True,  True)),
    (DIRECTOR,      (True,  True,    True,  True,  True)),
    (FINANCE,       (True,  True,    True,  True,  True)),
]
# fmt: on


@pytest.mark.parametrize(("viewer", "visible"), SCOPE, ids=[v.id for v, _ in SCOPE])
def test_scope_table(viewer: User, visible: tuple[bool, ...]) -> None:
    customers = (OWN, TEAMMATE, POOL, SOUTH, SOUTH_POOL)
    assert tuple(can_see_customer(viewer, c) for c in customers) == visible


# fmt: off
PHONES = [
    # viewer     own    teammate pool  south
    (REP,       (True,  False,   True, False)),
    (MANAGER,   (True,  True,    True, False)),
    (DIRECTOR,  (True,  True,    True, True)),
    (FINANCE,   (True,  True,    True, True)),
]
# fmt: on


@pytest.mark.parametrize(("viewer", "unmasked"), PHONES, ids=[v.id for v, _ in PHONES])
def test_phone_table(viewer: User, unmasked: tuple[bool, ...]) -> None:
    rules = FieldRules()
    got = tuple(can_see_phone(viewer, c, rules) for c in (OWN, TEAMMATE, POOL, SOUTH))
    assert got == unmasked
    v = Viewer(viewer, rules)
    shown = v.phone(TEAMMATE, "138-1234-5678")
    assert shown == ("138-1234-5678" if unmasked[1] else "138****5678")


def test_config_widens_and_narrows_the_rules() -> None:
    rules = FieldRules.model_validate(
        {"fields": {"amount": ["director", "finance", "manager"]}, "mask_other_reps_phones": False}
    )
    assert can_see_field(MANAGER, "amount", rules)
    assert can_see_field(MANAGER, "payment_terms", rules)  # not configured: unrestricted
    assert can_see_phone(REP, TEAMMATE, rules)
    with pytest.raises(ValidationError):
        FieldRules.model_validate({"fields": {"salary": ["hr"]}})
    with pytest.raises(ValidationError):
        FieldRules.model_validate({"fields": {"amount": ["ceo"]}})
    with pytest.raises(ValidationError):
        FieldRules.model_validate({"masks": True})


def test_redact_masks_only_what_the_viewer_may_not_see() -> None:
    data = {"amount": 500000.0, "payment_terms": "30/70", "stage": "quote", "note": None}
    assert Viewer(REP).redact(data) == {"amount": MASK, "payment_terms": MASK, "stage": "quote", "note": None}
    assert Viewer(FINANCE).redact(data) == data
