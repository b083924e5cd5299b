"""Benchmark: encrypted WeCom text callbacks → ack, against a bare aiohttp echo handler.

A server process runs one aiohttp app with the real `/wecom/callback` (signature, AES, CorpID,
defusedxml, neutral event, a dispatcher that records ids in an in-memory set) and `/echo` (reads the
body, answers an empty 200). This process pre-encrypts N distinct text messages, then posts them over
loopback at a fixed rate (open loop: request i is due at i/rate seconds) and reports acks/s and
ack latency percentiles for both handlers, measured in the same run.

    .venv/bin/python bench/wecom_callback.py [-n 5000] [--rate 500]

Target (issue 8): p99 ack < 100 ms at 500 callbacks/s. End-to-end follow-ups/s is measured once the
app is wired with the router and storage.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.fakes lives in the checkout

import aiohttp
from aiohttp import web

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
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter() + 0.05

    async def one(i: int, query: str, body: bytes) -> None:
        nonlocal errors
        due = start + i / rate
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5000, help="callbacks per handler (default 5000)")
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second (default 500)")
    args = parser.parse_args()
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
