"""Ack first, work later: inbound events go to the inbox, then run in tracked tasks off the loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from bot.runtime import handle_event, record_inbound_many
from bot.services import Services
from bot.types import CardAction, IncomingMessage

log = logging.getLogger(__name__)


class InboxWriter:
    """Writes inbound events to the inbox on its own thread, with group commit: the events that
    arrive while one transaction is being written go into the next one together. Queued behind
    handler work on a shared pool, an ack would wait for every event received before it to be
    handled; one transaction per event cost each ack a commit even when hundreds were waiting."""

    MAX_BATCH = 100

    def __init__(self, services: Services) -> None:
        self.services = services
        self._queue: queue.SimpleQueue[tuple[IncomingMessage | CardAction, asyncio.AbstractEventLoop,
                                             asyncio.Future[int | None]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def record(self, event: IncomingMessage | CardAction) -> int | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int | None] = loop.create_future()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="crmbot-inbox", daemon=True)
                self._thread.start()
        self._queue.put((event, loop, future))
        return await future

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            stop = False
            while len(batch) < self.MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._write(batch)
            if stop:
                return

    def _write(self, batch: list[tuple[IncomingMessage | CardAction, asyncio.AbstractEventLoop,
                                       asyncio.Future[int | None]]]) -> None:
        try:
            events = [event for event, _, _ in batch]
            results: list[int | BaseException | None] = list(record_inbound_many(self.services, events))
        except Exception as exc:
            if len(batch) > 1:  # one bad event must not fail the others: each on its own
                for item in batch:
                    self._write([item])
                return
            results = [exc]
        for (_, loop, future), result in zip(batch, results, strict=True):
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
                loop.call_soon_threadsafe(_settle, future, result)

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()


def _settle(future: asyncio.Future[int | None], result: int | BaseException | None) -> None:
    if future.done():  # the request went away meanwhile
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


class AsyncDispatcher:
    """Implements `bot.types.Dispatcher` for the channel adapters: the inbox write that gates a
    platform ack (InboxWriter), then the handler in a tracked task on the handler pool."""

    def __init__(self, services: Services, *, workers: int | None = None, on_done: Callable[[], None] | None = None,
                 senders: Mapping[str, object] | None = None, handle: bool = True) -> None:
        self.services = services
        # False: only write the inbox; worker processes claim the rows (crmbot serve --workers N)
        self.handle = handle
        self.senders = senders if senders is not None else {}
        if workers is None:
            # SQLite has one writer and the handlers are CPU-bound under the GIL: more threads only
            # add switching (measured: 1 thread answered 15-40% more follow-ups/s than 4); a server
            # database overlaps its round trips across threads
            engine = getattr(services.uow_factory, "engine", None)
            workers = 1 if engine is not None and engine.dialect.name == "sqlite" else 4
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="crmbot-db")
        self.inbox = InboxWriter(services)
        self.tasks: set[asyncio.Task[None]] = set()
        self.on_done = on_done

    async def accept(self, event: IncomingMessage | CardAction) -> bool:
        inbox_id = await self.inbox.record(event)
        if inbox_id is None:
            return False  # a platform retry of something we already have
        if self.handle:
            task = asyncio.create_task(self.process(event, inbox_id))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return True

    async def process(self, event: IncomingMessage | CardAction, inbox_id: int) -> None:
        """Handle one event already in the inbox (its row is marked done, refused or failed)."""
        loop = asyncio.get_running_loop()
        if isinstance(event, IncomingMessage) and event.attachments:
            event = await self._fetch_attachments(event)
        try:
            await loop.run_in_executor(self.executor, handle_event, self.services, event, inbox_id)
        except Exception:
            log.exception("processing inbox row %s failed", inbox_id)
        if self.on_done is not None:
            self.on_done()

    async def _fetch_attachments(self, event: IncomingMessage) -> IncomingMessage:
        """Download platform media (WeCom media ids, DingTalk download codes) in the work task,
        never on the request path; a failed download leaves the path empty for the handler to report."""
        fetch = getattr(self.senders.get(event.channel), "fetch_attachment", None)
        if fetch is None:
            return event
        fetched = []
        for attachment in event.attachments:
            if attachment.path:
                fetched.append(attachment)
                continue
            try:
                fetched.append(await fetch(attachment))
            except Exception:
                log.exception("could not download attachment %s", attachment.filename)
                fetched.append(attachment)
        return replace(event, attachments=tuple(fetched))

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for the work in flight (graceful shutdown, tests)."""
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=timeout)

    def close(self) -> None:
        self.inbox.close()
        self.executor.shutdown(wait=True)
