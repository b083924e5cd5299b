"""Inbox rows handled by claim: worker processes, and what a crash left behind.

The ack path writes each platform event to the inbox before answering. In one process the
dispatcher then hands the event straight to a handler thread. With `crmbot serve --workers N` the
web process only writes the inbox and acks, and N worker processes (each its own interpreter, so
handlers no longer share one GIL with the ack path) claim rows in arrival order with a lease,
handle them and send the replies. The same claim, bounded to rows older than the start, is how
a single process picks up events it had acked but not handled when it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from datetime import timedelta

from bot.dispatch import AsyncDispatcher
from bot.runtime import event_from_payload
from bot.services import Services
from bot.types import CardAction, IncomingMessage

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)  # a claimed row goes back to the others if its worker is gone this long
POLL_SECONDS = 0.01  # an idle worker looks again after this long (one indexed read)
BATCH = 16


def claim(services: Services, worker: str, *, limit: int = BATCH,
          up_to_id: int | None = None) -> list[tuple[IncomingMessage | CardAction, int]]:
    now = services.clock.now()
    with services.uow_factory() as uow:
        items = uow.inbox.claim(worker, now, now + LEASE, limit, up_to_id)
        uow.commit()
    events = []
    for item in items:
        try:
            events.append((event_from_payload(item.kind, item.payload), item.id))
        except (TypeError, ValueError):
            log.exception("inbox row %s cannot be read back; marked failed", item.id)
            _mark_failed(services, item.id)
    return events


def _mark_failed(services: Services, inbox_id: int) -> None:
    with services.uow_factory() as uow:
        uow.inbox.mark(inbox_id, "failed", services.clock.now(), "unreadable payload")
        uow.commit()


class InboxWorker:
    """Claims and handles inbox rows until stopped; events of one sender stay in order."""

    def __init__(self, services: Services, dispatcher: AsyncDispatcher, *, name: str | None = None,
                 poll: float = POLL_SECONDS, batch: int = BATCH) -> None:
        self.services = services
        self.dispatcher = dispatcher
        self.name = name or f"worker-{os.getpid()}"
        self.poll = poll
        self.batch = batch
        self._stopping: asyncio.Event | None = None

    async def run_once(self, *, up_to_id: int | None = None) -> int:
        """Claim one batch and handle it; how many events were handled."""
        loop = asyncio.get_running_loop()
        batch = await loop.run_in_executor(self.dispatcher.executor, lambda: claim(
            self.services, self.name, limit=self.batch, up_to_id=up_to_id))
        for event, inbox_id in batch:
            await self.dispatcher.process(event, inbox_id)
        return len(batch)

    async def run(self) -> None:
        """Until `stop()`: the batch in hand is finished first, so nothing is left claimed."""
        self._stopping = asyncio.Event()
        while not self._stopping.is_set():
            pause = self.poll
            try:
                if await self.run_once():
                    continue
            except Exception:
                log.exception("inbox worker %s: claim failed", self.name)
                pause = 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), pause)

    def stop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()

    async def recover(self) -> int:
        """Handle what was acked before this process started but never handled (a crash, a kill)."""
        loop = asyncio.get_running_loop()
        last = await loop.run_in_executor(self.dispatcher.executor, self._last_id)
        total = 0
        while n := await self.run_once(up_to_id=last):
            total += n
        if total:
            log.warning("handled %d inbox events left from before the restart", total)
        return total

    def _last_id(self) -> int:
        with self.services.uow_factory() as uow:
            return int(uow.inbox.last_id())
