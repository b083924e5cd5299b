"""Benchmark: encrypted WeCom text callbacks → ack, against a bare aiohttp echo handler.

A server process runs one aiohttp app with the real `/wecom/callback` (signature, AES, CorpID,
defusedxml, neutral event, a dispatcher that records ids in an in-memory set) and `/echo` (reads the
body, answers an empty 200). This process pre-encrypts N distinct text messages, then posts them over
loopback at a fixed rate (open loop: request i is due at i/rate seconds) and reports acks/s and
ack latency percentiles for both handlers, measured in the same run.

With `--e2e` the server process runs the real crmbot instead (`bot.app.build_app`: SQLite in a temp
dir, the inbox, dispatcher, router, /跟进 handler, use case, outbox and the WeCom sender) with the
demo org (WeCom ids) and 20 customers per rep. This process runs the WeCom fake
(tests/fakes/wecom.py) that receives the bot's replies, and posts one `/跟进` command per callback
from six reps: paced at --rate (ack latency, and whether the bot keeps up), then a burst of N at
once (the most follow-ups/s the app can record and answer). A follow-up counts when its reply card
reached the fake; the database is checked afterwards (every inbox row done, every follow-up stored).

    .venv/bin/python bench/wecom_callback.py [-n 5000] [--rate 500]
    .venv/bin/python bench/wecom_callback.py --e2e [-n 5000] [--rate 500] [--workers 2]

Targets (issue 8): p99 ack < 100 ms at 500 callbacks/s; end to end ≥ 500 follow-ups/s on SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.fakes lives in the checkout

import aiohttp
from aiohttp import web

from bench.e2e_common import CUSTOMERS_PER_REP, REPS, customer_name, db_stats, seed
from bot.channels.wecom.callback import WeComCallback
from bot.types import CardAction, IncomingMessage
from tests.fakes.wecom import FakeWeCom, WeComDriver


class RecordingDispatcher:
    def __init__(self) -> None:
        self.seen: set[str] = set()

    async def accept(self, event: IncomingMessage | CardAction) -> bool:
        key = event.message_id if isinstance(event, IncomingMessage) else event.event_id
        if key in self.seen:
            return False
        self.seen.add(key)
        return True


def _serve(conn: mp.connection.Connection) -> None:
    async def main() -> None:
        fake = FakeWeCom()
        dispatcher = RecordingDispatcher()
        app = web.Application()
        WeComCallback(fake.settings(), dispatcher).register(app)

        async def echo(request: web.Request) -> web.Response:
            await request.read()
            return web.Response(status=200)

        async def stats(_: web.Request) -> web.Response:
            return web.json_response({"accepted": len(dispatcher.seen)})

        app.router.add_post("/echo", echo)
        app.router.add_get("/stats", stats)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        conn.send(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # until told to stop
        await runner.cleanup()

    asyncio.run(main())


async def _drive(
    session: aiohttp.ClientSession, url: str, requests: list[tuple[str, bytes]], rate: float
) -> tuple[list[float], int, float]:
    """Open loop: request i is due at i/rate s (rate 0: all at once); returns latencies, errors, elapsed."""
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter() + 0.05

    async def one(i: int, query: str, body: bytes) -> None:
        nonlocal errors
        due = start + (i / rate if rate else 0.0)
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        t0 = time.perf_counter()
        try:
            async with session.post(f"{url}?{query}", data=body) as resp:
                await resp.read()
                if resp.status != 200:
                    errors += 1
        except aiohttp.ClientError:
            errors += 1
            return
        latencies.append(time.perf_counter() - t0)

    await asyncio.gather(*(one(i, q, b) for i, (q, b) in enumerate(requests)))
    return latencies, errors, time.perf_counter() - start


def _report(name: str, latencies: list[float], errors: int, elapsed: float) -> None:
    ms = sorted(x * 1000 for x in latencies)
    p = statistics.quantiles(ms, n=100) if len(ms) > 1 else ms * 99
    print(
        f"{name:<16} acks {len(ms):>6}  errors {errors:>4}  {len(ms) / elapsed:>7.0f} acks/s  "
        f"p50 {p[49]:6.2f} ms  p99 {p[98]:6.2f} ms  max {ms[-1]:6.2f} ms"
    )


async def bench(n: int, rate: float, port: int) -> None:
    base = f"http://127.0.0.1:{port}"
    fake = FakeWeCom()
    driver = WeComDriver(fake, base + "/wecom/callback")
    t0 = time.perf_counter()
    requests = [
        driver.encrypt(driver.text_xml(f"rep{i % 50}", f"拜访了客户{i}，对方有兴趣，下周二再联系"))
        for i in range(n)
    ]
    print(f"encrypted {n} callbacks in {time.perf_counter() - t0:.2f} s (client side, not measured)")
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=connector) as session:
        warm = requests[: min(200, n)]
        await _drive(session, base + "/echo", warm, rate)
        print(f"{n} requests at {rate:.0f}/s over loopback, server in another process")
        echo = await _drive(session, base + "/echo", requests, rate)
        _report("bare echo", *echo)
        wecom = await _drive(session, base + "/wecom/callback", requests, rate)
        _report("wecom callback", *wecom)
        async with session.get(base + "/stats") as resp:
            accepted = (await resp.json())["accepted"]
    print(f"events accepted by the dispatcher: {accepted} of {n}")
    await driver.close()


# ---------------------------------------------------------------------------------- end to end
def _serve_app(conn: mp.connection.Connection, wecom: dict[str, Any], data_dir: str, workers: int) -> None:
    """The real crmbot (build_app, SQLite) on a free port; answers "stats" until told to stop."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    logging.basicConfig(level=logging.WARNING)

    async def main() -> None:
        from bot.app import build_app
        from bot.settings import load_settings
        from bot.worker_pool import setup_worker_pool

        settings = load_settings(None, database_url=f"sqlite:///{data_dir}/crmbot.db", data_dir=data_dir,
                                 wecom=wecom)
        bot = build_app(settings, role="web" if workers else "all")
        seed(bot.services)
        pool = setup_worker_pool(bot.web, settings, workers) if workers else None
        runner = web.AppRunner(bot.web, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        conn.send(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        loop = asyncio.get_running_loop()
        while await loop.run_in_executor(None, conn.recv) == "stats":
            stats = await asyncio.to_thread(db_stats, bot.services)
            stats["cpu"] = {"web": time.process_time()}
            for p in pool.processes if pool else ():
                if p is not None and p.pid:
                    stats["cpu"][p.name] = cpu_seconds(p.pid)
            conn.send(stats)
        await runner.cleanup()

    asyncio.run(main())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), 0 where unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


async def _until(check: Any, timeout: float) -> bool:
    deadline = time.perf_counter() + timeout
    while not check():
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def e2e(n: int, rate: float, workers: int) -> None:
    fake = FakeWeCom()
    await fake.start()
    replies: list[float] = []

    def on_message(message: Any) -> None:  # the reply card (sent as text: it has no buttons)
        replies.append(time.perf_counter())

    fake.on_message = on_message
    parent, child = mp.Pipe()
    data_dir = tempfile.mkdtemp(prefix="crmbot-bench-")
    server = mp.get_context("spawn").Process(
        target=_serve_app, args=(child, fake.settings().model_dump(mode="json"), data_dir, workers), daemon=False)
    server.start()
    loop = asyncio.get_running_loop()
    try:
        port = await loop.run_in_executor(None, parent.recv)
        base = f"http://127.0.0.1:{port}"
        driver = WeComDriver(fake, base + "/wecom/callback")

        # every reply must differ (WeCom, and the fake, drop an identical text to the same user
        # within duplicate_check_seconds): each message gets its own (customer, next date) pair
        pairs = iter(range(10**9))
        first_day = datetime.now(UTC).date() + timedelta(days=2)

        def batch(count: int) -> list[tuple[str, bytes]]:
            out = []
            for _ in range(count):
                k = next(pairs)
                rep, k = REPS[k % len(REPS)], k // len(REPS)
                day = first_day + timedelta(days=k // CUSTOMERS_PER_REP)
                text = f"/跟进 {customer_name(rep, k % CUSTOMERS_PER_REP)} 电话 推进 报价 {day:%Y-%m-%d}"
                out.append(driver.encrypt(driver.text_xml(rep.capitalize(), text)))
            return out

        warm, paced, burst = batch(200), batch(n), batch(n)
        connector = aiohttp.TCPConnector(limit=200)
        async with aiohttp.ClientSession(connector=connector) as session:
            url = base + "/wecom/callback"
            await _drive(session, url, warm, 200)
            if not await _until(lambda: len(replies) >= len(warm), 60):
                print("the bot did not answer the warm-up; what it sent:", [m.content or m.msgtype for m in fake.sent[:5]])
            mode = f"web process + {workers} workers" if workers else "one process"
            print(f"end to end through the real app (SQLite, {mode}, {len(REPS)} reps, /跟进 commands), "
                  f"{n} callbacks per run")
            for name, requests, run_rate in ((f"paced {rate:.0f}/s", paced, rate), ("burst", burst, 0.0)):
                replies.clear()
                t0 = time.perf_counter()
                acks = await _drive(session, url, requests, run_rate)
                sent_at = time.perf_counter()
                done = await _until(lambda count=len(requests): len(replies) >= count, 120)
                _report(f"acks ({name})", *acks)
                last = replies[len(requests) - 1] if done else time.perf_counter()
                print(f"{'':16} follow-ups answered {len(replies):>6}  {len(replies) / (last - t0):>7.0f} follow-ups/s  "
                      f"last reply {max(0.0, last - sent_at) * 1000:7.0f} ms after the last ack")
        parent.send("stats")
        stats = await loop.run_in_executor(None, parent.recv)
        total = len(warm) + 2 * n
        print("CPU per follow-up: " + ", ".join(f"{k} {v / total * 1000:.2f} ms" for k, v in stats["cpu"].items())
              + f", this driver and the fake WeCom {time.process_time() / total * 1000:.2f} ms")
        expected = len(warm) + 2 * n
        print(f"database: {stats['followups']} follow-ups of {expected}; inbox {stats['inbox']}; outbox {stats['outbox']}")
        await driver.close()
    finally:
        parent.send("stop")
        server.join(timeout=15)
        await fake.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5000, help="callbacks per handler (default 5000)")
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second (default 500)")
    parser.add_argument("--e2e", action="store_true", help="through the real app (SQLite) instead of ack-only")
    parser.add_argument("--workers", type=int, default=0, help="--e2e: handler processes (crmbot serve --workers)")
    args = parser.parse_args()
    if args.e2e:
        asyncio.run(e2e(args.n, args.rate, args.workers))
        return 0
    parent, child = mp.Pipe()
    server = mp.get_context("spawn").Process(target=_serve, args=(child,), daemon=True)
    server.start()
    try:
        port = parent.recv()
        asyncio.run(bench(args.n, args.rate, port))
    finally:
        parent.send("stop")
        server.join(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
