"""`crmbot serve --workers N`: N handler processes beside the web process.

One Python process shares one GIL between the ack path and the handlers: under load, acks waited
behind follow-ups being recorded (bench/wecom_callback.py --e2e: p99 ack 0.5 s at 500 callbacks/s).
With workers, the web process receives, writes the inbox and acks; each worker (a fresh
interpreter, started with "spawn") claims inbox rows, runs the handlers and sends the replies
(bot/inbox_worker.py). A worker that dies is started again; its claimed rows go back to the
others when their lease runs out. On SQLite the processes queue for the write lock on a file lock
(storage/db.py); on PostgreSQL they simply share the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing as mp
import signal
import time
from multiprocessing.process import BaseProcess
from typing import Any

from aiohttp import web

from bot.settings import Settings

log = logging.getLogger(__name__)

CHECK_SECONDS = 2.0
STOP_SECONDS = 30.0


def run_worker(settings: Settings, index: int, ready: Any = None) -> None:
    """A worker process's main: handle the inbox and send the outbox until SIGTERM/SIGINT."""
    # a stop asked for while starting up (loading jieba takes a while) is kept, not fatal
    early_stop: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: early_stop.append(signum))
    logging.basicConfig(level=settings.log_level, format=f"%(asctime)s worker-{index} %(levelname)s %(name)s: %(message)s")
    asyncio.run(_worker_main(settings, early_stop, ready))


async def _worker_main(settings: Settings, early_stop: list[int], ready: Any) -> None:
    from bot.app import build_app

    bot = build_app(settings, role="worker")
    runner = web.AppRunner(bot.web, handle_signals=False)
    stop = asyncio.Event()
    await runner.setup()  # on_startup: the claim loop and the outbox loop start
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if early_stop:
        stop.set()
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()  # finishes the claimed batch, then closes the senders


class WorkerPool:
    """Starts, watches and stops the worker processes of one web process."""

    def __init__(self, settings: Settings, count: int) -> None:
        self.settings = settings
        self.count = count
        self.processes: list[BaseProcess | None] = [None] * count
        self.ready: list[Any] = [None] * count  # multiprocessing Events: set once a worker handles the inbox
        self.restarts = 0
        self._ctx = mp.get_context("spawn")  # no fork: a forked copy would share sockets and locks
        self._watch: asyncio.Task[None] | None = None

    def _start(self, index: int) -> None:
        self.ready[index] = self._ctx.Event()
        process = self._ctx.Process(target=run_worker, args=(self.settings, index, self.ready[index]),
                                    name=f"crmbot-worker-{index}", daemon=True)
        process.start()
        self.processes[index] = process

    async def start(self, _app: web.Application | None = None) -> None:
        for index in range(self.count):
            self._start(index)
        self._watch = asyncio.create_task(self._watch_loop())

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            for index, process in enumerate(self.processes):
                if process is not None and not process.is_alive():
                    log.error("worker %d exited (code %s): starting it again", index, process.exitcode)
                    self.restarts += 1
                    self._start(index)

    async def stop(self, _app: web.Application | None = None) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await asyncio.to_thread(self._terminate)

    def _terminate(self) -> None:
        # a worker still starting up is let finish starting (it has claimed nothing): then its
        # SIGTERM handler is in place and it stops like the others
        deadline = time.monotonic() + STOP_SECONDS
        for process, ready in zip(self.processes, self.ready, strict=True):
            while process is not None and process.is_alive() and time.monotonic() < deadline:
                if ready.wait(0.1):
                    break
        live = [p for p in self.processes if p is not None and p.is_alive()]
        for process in live:
            process.terminate()  # SIGTERM: the worker finishes its batch and stops
        for process in live:
            process.join(STOP_SECONDS)
            if process.is_alive():
                log.error("worker %s did not stop in %.0f s: killed", process.name, STOP_SECONDS)
                process.kill()
                process.join()


def setup_worker_pool(app: web.Application, settings: Settings, count: int) -> WorkerPool:
    pool = WorkerPool(settings, count)
    app.on_startup.append(pool.start)
    app.on_cleanup.append(pool.stop)
    return pool
