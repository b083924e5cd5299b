"""DingTalk Stream benchmark (issue 10). Not a test: prints figures beside a raw baseline.

    .venv/bin/python bench/dingtalk_stream.py             # 5,000 frames
    .venv/bin/python bench/dingtalk_stream.py --n 20000 --inbox-ms 2

The fake DingTalk (tests/fakes/dingtalk.py, its own thread and loop, 127.0.0.1) pushes N distinct
bot-message frames (from 200 reps) through its gateway to `DingTalkStream`, which parses each with the SDK's frame
classes, translates it, hands it to an in-memory deduping dispatcher (optionally sleeping
`--inbox-ms` to stand in for the inbox write) and acks. Measured at the gateway:
- burst: all N frames queued at once → frames acked/s;
- paced: frames sent at `--rate` per second → p50/p99 ack latency (send → ack received).
Baseline in the same run: a bare websocket client (the `websockets` library, no SDK, no dispatcher)
that parses each frame and acks it at once, against the same gateway code path.

With `--e2e`, end to end through the real app instead: a spawned process runs crmbot (`bot.app.build_app`,
SQLite in a temp dir, the demo org with DingTalk staff ids, 20 customers per rep), whose Stream client
connects to the fake in this process. Six reps send one `/跟进` command per frame: paced at --rate, then
a burst of N. A follow-up counts when its reply reached the fake's robot/card API; the database is
checked afterwards (every inbox row done, every follow-up stored).

    .venv/bin/python bench/dingtalk_stream.py --e2e [--n 3000] [--rate 500]

Target (issue 10): end-to-end follow-ups/s through the real app on SQLite, beside the figures above.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing as mp
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import websockets

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's directory heads sys.path and its name would shadow the SDK package
# `dingtalk_stream`: replace that entry with the repository root.
sys.path[:] = [str(ROOT)] + [
    p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent
]

from bench.e2e_common import CUSTOMERS_PER_REP, REPS, customer_name, db_stats, seed  # noqa: E402
from bot.channels.dingtalk.stream import DingTalkStream  # noqa: E402
from bot.types import CardAction, IncomingMessage  # noqa: E402
from tests.fakes.dingtalk import FakeDingTalk, bot_text  # noqa: E402


class MemoryInbox:
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.keys: set[str] = set()

    async def accept(self, event: IncomingMessage | CardAction) -> bool:
        if self.delay:
            await asyncio.sleep(self.delay)
        key = event.message_id if isinstance(event, IncomingMessage) else event.event_id
        if key in self.keys:
            return False
        self.keys.add(key)
        return True


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def _push_paced(fake: FakeDingTalk, n: int, rate: float, tag: str) -> None:
    batch = max(1, int(rate / 200))  # 200 ticks per second
    interval = batch / rate
    start = time.perf_counter()
    for i in range(0, n, batch):
        fake.push_many(
            [
                fake.bot_frame(bot_text(f"拜访 {tag} {j}", msg_id=f"{tag}-{j}", staff_id=f"staff-{j % 200}"))
                for j in range(i, min(n, i + batch))
            ]
        )
        delay = start + (i // batch + 1) * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)


async def adapter_run(fake: FakeDingTalk, n: int, rate: float, inbox_ms: float) -> dict[str, float]:
    inbox = MemoryInbox(inbox_ms / 1000)
    client = DingTalkStream(fake.settings(), inbox)
    client.start_background()
    await asyncio.wait_for(client.connected.wait(), 10)
    try:
        # burst
        fake.acks.clear()
        frames = [
            fake.bot_frame(bot_text(f"拜访客户 {i}", msg_id=f"burst-{i}", staff_id=f"staff-{i % 200}"))
            for i in range(n)
        ]
        start = time.perf_counter()
        fake.push_many(frames)
        await fake.wait_acks(n, timeout=300)
        burst = time.perf_counter() - start
        assert len(inbox.keys) == n and all(a.code == 200 for a in fake.acks)
        # paced
        fake.acks.clear()
        await _push_paced(fake, n, rate, "paced")
        await fake.wait_acks(n, timeout=300)
        lat = [a.latency for a in fake.acks if a.latency is not None]
        assert len(inbox.keys) == 2 * n
    finally:
        await client.stop()
    return {"acked_per_s": n / burst, "p50_ms": _pct(lat, 0.5) * 1000, "p99_ms": _pct(lat, 0.99) * 1000}


async def _echo_client(url: str) -> dict[str, object]:
    async with websockets.connect(url, proxy=None, max_size=None, compression=None) as ws:
        async for raw in ws:
            frame = json.loads(raw)
            if "done" in frame:
                return frame
            ack = {
                "code": 200,
                "headers": {"messageId": frame["headers"]["messageId"], "contentType": "application/json"},
                "message": "OK",
                "data": json.dumps({"response": "OK"}),
            }
            await ws.send(json.dumps(ack))
    raise RuntimeError("echo ended early")


async def echo_run(fake: FakeDingTalk, n: int, rate: float) -> dict[str, float]:
    burst = await _echo_client(f"ws://127.0.0.1:{fake.port}/echo?n={n}")
    paced = await _echo_client(f"ws://127.0.0.1:{fake.port}/echo?n={n}&rate={rate}")
    lat = [float(x) for x in paced["latencies"]]  # type: ignore[union-attr]
    return {
        "acked_per_s": n / float(burst["elapsed"]),  # type: ignore[arg-type]
        "p50_ms": _pct(lat, 0.5) * 1000,
        "p99_ms": _pct(lat, 0.99) * 1000,
    }


# ---------------------------------------------------------------------------------- end to end
def _serve_app(conn: Any, dingtalk: dict[str, Any], data_dir: str, workers: int) -> None:
    """The real crmbot (build_app, SQLite); its Stream client connects to the fake in the parent."""
    sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
    logging.basicConfig(level=logging.WARNING)

    async def run() -> None:
        from aiohttp import web

        from bot.app import build_app
        from bot.settings import load_settings
        from bot.worker_pool import setup_worker_pool

        settings = load_settings(None, database_url=f"sqlite:///{data_dir}/crmbot.db", data_dir=data_dir,
                                 dingtalk=dingtalk)
        bot = build_app(settings, role="web" if workers else "all")
        seed(bot.services)
        if workers:
            setup_worker_pool(bot.web, settings, workers)
        runner = web.AppRunner(bot.web, access_log=None, shutdown_timeout=2.0)
        await runner.setup()  # starts the Stream client
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        conn.send("ready")
        loop = asyncio.get_running_loop()
        while await loop.run_in_executor(None, conn.recv) == "stats":
            conn.send(await asyncio.to_thread(db_stats, bot.services))
        await runner.cleanup()

    asyncio.run(run())


async def e2e(n: int, rate: float, workers: int) -> None:
    with FakeDingTalk() as fake:
        parent, child = mp.Pipe()
        data_dir = tempfile.mkdtemp(prefix="crmbot-bench-")
        server = mp.get_context("spawn").Process(
            target=_serve_app, args=(child, {**fake.settings().model_dump(mode="json"),
                                             "client_secret": fake.client_secret}, data_dir, workers),
            daemon=False)  # it starts worker processes of its own
        server.start()
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, parent.recv)
            await fake.wait_connections(1, timeout=30)
            counter = iter(range(10**9))
            first_day = datetime.now(UTC).date() + timedelta(days=2)

            def frames(count: int) -> list[dict[str, Any]]:
                out = []
                for _ in range(count):
                    k = next(counter)
                    rep, j = REPS[k % len(REPS)], k // len(REPS)
                    day = first_day + timedelta(days=j // CUSTOMERS_PER_REP)
                    text = f"/跟进 {customer_name(rep, j % CUSTOMERS_PER_REP)} 电话 推进 报价 {day:%Y-%m-%d}"
                    out.append(fake.bot_frame(bot_text(text, msg_id=f"e2e-{k}", staff_id=f"staff_{rep}")))
                return out

            def answered() -> int:
                return len(fake.sent_messages) + len(fake.cards)

            warm = frames(200)
            fake.push_many(warm)
            await fake.wait_until(lambda: answered() >= len(warm), 120, "warm-up replies")
            mode = f"web process + {workers} workers" if workers else "one process"
            print(f"end to end through the real app (SQLite, {mode}, {len(REPS)} reps, /跟进 commands), "
                  f"{n} frames per run")
            print(f"{'':22}{'acked/s':>10}{'ack p50 ms':>12}{'ack p99 ms':>12}{'follow-ups/s':>14}{'last reply after last ack':>28}")
            for name, run_rate in ((f"paced {rate:.0f}/s", rate), ("burst", 0.0)):
                batch = frames(n)
                fake.acks.clear()
                base = answered()
                t0 = time.perf_counter()
                if run_rate:
                    step = max(1, int(run_rate / 200))
                    for i in range(0, n, step):
                        fake.push_many(batch[i:i + step])
                        delay = t0 + (i + step) / run_rate - time.perf_counter()
                        if delay > 0:
                            await asyncio.sleep(delay)
                else:
                    fake.push_many(batch)
                await fake.wait_acks(n, timeout=300)
                acked = time.perf_counter()
                await fake.wait_until(lambda b=base: answered() - b >= n, 300, "replies")
                done = time.perf_counter()
                lat = [a.latency for a in fake.acks if a.latency is not None]
                print(f"{name:22}{n / (acked - t0):>10,.0f}{_pct(lat, 0.5) * 1000:>12.2f}{_pct(lat, 0.99) * 1000:>12.2f}"
                      f"{n / (done - t0):>14,.0f}{(done - acked) * 1000:>25,.0f} ms")
            parent.send("stats")
            stats = await loop.run_in_executor(None, parent.recv)
            print(f"database: {stats['followups']} follow-ups of {len(warm) + 2 * n}; inbox {stats['inbox']}; "
                  f"outbox {stats['outbox']}")
        finally:
            parent.send("stop")
            await loop.run_in_executor(None, server.join, 15)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=5000, help="frames per run")
    parser.add_argument("--rate", type=float, default=1000.0, help="frames/s in the paced (latency) run")
    parser.add_argument("--inbox-ms", type=float, default=0.0, help="simulated inbox write time per event")
    parser.add_argument("--e2e", action="store_true", help="through the real app (SQLite) instead")
    parser.add_argument("--workers", type=int, default=0, help="--e2e: handler processes (crmbot serve --workers)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.e2e:
        await e2e(args.n, args.rate, args.workers)
        return
    with FakeDingTalk() as fake:
        echo = await echo_run(fake, args.n, args.rate)
        adapter = await adapter_run(fake, args.n, args.rate, args.inbox_ms)
    print(
        f"DingTalk Stream, {args.n} bot-message frames, paced run at {args.rate:.0f}/s, inbox {args.inbox_ms} ms"
    )
    print(f"{'':28}{'acked/s (burst)':>18}{'p50 ms':>10}{'p99 ms':>10}")
    print(
        f"{'bare websocket echo':28}{echo['acked_per_s']:>18,.0f}{echo['p50_ms']:>10.2f}{echo['p99_ms']:>10.2f}"
    )
    print(
        f"{'DingTalkStream + SDK frames':28}{adapter['acked_per_s']:>18,.0f}{adapter['p50_ms']:>10.2f}{adapter['p99_ms']:>10.2f}"
    )
    print(f"ratio adapter/echo throughput: {adapter['acked_per_s'] / echo['acked_per_s']:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
