"""The ack path's inbox writer: concurrent events each get their own row, in one or a few
transactions, and a redelivery — even inside the same batch — is recognised."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from bot.dispatch import AsyncDispatcher
from bot.services import Services
from bot.types import CardAction, IncomingMessage
from storage.models import InboxRow


async def test_concurrent_events_are_each_recorded_once(services: Services) -> None:
    dispatcher = AsyncDispatcher(services, handle=False)  # record only, as the web process with workers
    try:
        events: list[IncomingMessage | CardAction] = [
            IncomingMessage("wecom", f"m{i}", "Zhangsan", f"第{i}条") for i in range(200)]
        events += [IncomingMessage("wecom", "m7", "Zhangsan", "第7条")] * 5  # platform retries
        events.append(CardAction("wecom", "click-1", "Zhangsan", "alert:done:1"))
        accepted = await asyncio.gather(*(dispatcher.accept(e) for e in events))
    finally:
        dispatcher.close()
    assert accepted.count(True) == 201 and accepted.count(False) == 5
    with services.uow_factory() as uow:
        rows = uow.session.execute(select(InboxRow.message_id, InboxRow.status, InboxRow.kind)).all()
        assert int(uow.session.scalar(select(func.count()).select_from(InboxRow))) == 201
    assert {r.message_id for r in rows} == {f"m{i}" for i in range(200)} | {"click-1"}
    assert {r.status for r in rows} == {"new"}  # nobody handled them here: the workers claim them
    assert dispatcher.tasks == set()
