"""Benchmark of the free-text parser (not a test).

    .venv/bin/python bench/parse.py [--n 10000]

Prints messages/s and p50/p99 latency per message over the dev corpora repeated to at least N
messages, beside a baseline that only runs jieba.lcut on the same texts in the same process,
plus the parser's start-up time (fresh interpreter: import + Parser()) and peak RSS.
Targets: >= 1,000 messages/s on one core, p99 < 5 ms, start-up < 2 s.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.nlp.parser import Parser  # noqa: E402
from bot.nlp.types import CallLog  # noqa: E402


def load(n: int) -> list[dict]:
    items: list[dict] = []
    for name in ("messages.dev.jsonl", "calls.dev.jsonl"):
        path = ROOT / "tests" / "data" / name
        items += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    out = []
    while len(out) < n:
        out.extend(items)
    return out[:n]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def startup_seconds() -> float:
    code = "import time; t=time.perf_counter(); from bot.nlp.parser import Parser; Parser(); print(time.perf_counter()-t)"
    runs = []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
        )
        runs.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(runs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000)
    args = ap.parse_args()

    items = load(args.n)
    parser = Parser()
    import jieba

    texts = [it.get("text") or it.get("transcript", "") for it in items]
    prepared = []
    for it in items:
        if "transcript" in it:
            prepared.append(("call", CallLog.model_validate({k: v for k, v in it.items() if k != "expect"})))
        else:
            prepared.append(("text", (it["text"], datetime.fromisoformat(it["now"]))))

    # warm-up, then the baseline and the parser over the same messages
    for text in texts[:200]:
        jieba.lcut(text)
    base: list[float] = []
    t0 = time.perf_counter()
    for text in texts:
        s = time.perf_counter()
        jieba.lcut(text)
        base.append(time.perf_counter() - s)
    base_total = time.perf_counter() - t0

    lat: list[float] = []
    t0 = time.perf_counter()
    for kind, payload in prepared:
        s = time.perf_counter()
        if kind == "call":
            parser.parse_call(payload)  # type: ignore[arg-type]
        else:
            parser.parse_text(*payload)  # type: ignore[misc]
        lat.append(time.perf_counter() - s)
    total = time.perf_counter() - t0

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = startup_seconds()
    ms = 1000.0
    print(f"messages            {len(items)} (dev corpora repeated)")
    print(
        f"jieba.lcut baseline {len(items) / base_total:8.0f} msg/s  p50 {percentile(base, 0.5) * ms:.3f} ms  p99 {percentile(base, 0.99) * ms:.3f} ms"
    )
    print(
        f"parser              {len(items) / total:8.0f} msg/s  p50 {percentile(lat, 0.5) * ms:.3f} ms  p99 {percentile(lat, 0.99) * ms:.3f} ms"
    )
    print(f"parser / baseline   {total / base_total:.1f}x the time of tokenizing alone")
    print(f"start-up            {start:.2f} s (import + Parser(), fresh interpreter, median of 3)")
    print(f"peak RSS            {rss_mb:.0f} MB")
    ok = len(items) / total >= 1000 and percentile(lat, 0.99) * ms < 5 and start < 2
    print(
        "targets             " + ("met" if ok else "NOT met") + " (>= 1000 msg/s, p99 < 5 ms, start-up < 2 s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
