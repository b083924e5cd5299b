"""Shared by the end-to-end modes of bench/wecom_callback.py and bench/dingtalk_stream.py:
the demo org with platform ids, customers to follow up, and what the database holds afterwards."""

from __future__ import annotations

from typing import Any

REPS = ("zhangsan", "lisi", "wangwu", "zhaoliu", "sunqi", "zhouba")
CUSTOMERS_PER_REP = 20


def customer_name(rep: str, i: int) -> str:
    return f"{rep}客户{i:02d}科技"


def seed(services: Any) -> None:
    from core.usecases.customers import NewCustomer, create_customer
    from core.usecases.users import DEMO_ORG, UserInput, upsert_users

    now = services.clock.now()
    with services.uow_factory() as uow:
        users = [UserInput(**{**u.__dict__, "wecom_userid": u.id.capitalize(), "dingtalk_staffid": f"staff_{u.id}"})
                 for u in DEMO_ORG]
        upsert_users(uow, "bench", users, now)
        for n, rep_id in enumerate(REPS):
            rep = uow.users.get(rep_id)
            for i in range(CUSTOMERS_PER_REP):
                create_customer(uow, rep, NewCustomer(customer_name(rep_id, i), f"联系人{i}", f"139{n:02d}00{i:04d}"),
                                now, dedup=services.dedup, pipeline=services.pipeline, force_new=True)
        uow.commit()


def db_stats(services: Any) -> dict[str, Any]:
    from sqlalchemy import func, select

    from storage.models import FollowUpRow, InboxRow, OutboxRow

    with services.uow_factory() as uow:
        s = uow.session
        return {
            "followups": s.scalar(select(func.count()).select_from(FollowUpRow)),
            "inbox": dict(s.execute(select(InboxRow.status, func.count()).group_by(InboxRow.status)).all()),
            "outbox": dict(s.execute(select(OutboxRow.status, func.count()).group_by(OutboxRow.status)).all()),
        }
