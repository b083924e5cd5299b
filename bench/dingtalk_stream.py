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
End-to-end follow-ups/s through the real app is left to the app-level benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's directory heads sys.path and its name would shadow the SDK package
# `dingtalk_stream`: replace that entry with the repository root.
sys.path[:] = [str(ROOT)] + [
    p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent
]

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


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=5000, help="frames per run")
    parser.add_argument("--rate", type=float, default=1000.0, help="frames/s in the paced (latency) run")
    parser.add_argument("--inbox-ms", type=float, default=0.0, help="simulated inbox write time per event")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
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
