"""Dedup benchmark (issue 5, parts a and b). Not a test: prints figures beside raw baselines.

    .venv/bin/python bench/dedup.py            # 1,000,000 customers; dedupe of 100k and 1M rows
    .venv/bin/python bench/dedup.py --quick    # small smoke run

(a) the real-time check (DedupIndex.check) against N synthetic customers held in the in-memory index:
    p50/p99 latency over 1,000 noisy look-ups, beside an exact-phone dict lookup on the same queries.
(b) `crmbot dedupe` on generated sheets, run as a child process: wall time and peak RSS, beside a raw
    baseline (read the CSV, group by exact phone digits, write the CSV) and the pairwise scores
    against the generator's labels.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gen_customers import Generator, write_sheet  # noqa: E402
from bot.textconv import make_normalizer  # noqa: E402
from core.dedup import CustomerInput, DedupIndex, DedupThresholds, pairwise_score  # noqa: E402


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_check(n: int, queries: int = 1000) -> None:
    print(f"(a) real-time check against {n:,} customers")
    normalizer = make_normalizer()
    index = DedupIndex(normalizer)
    phones: dict[str, list[int]] = defaultdict(list)
    started = time.perf_counter()
    rows = list(Generator(seed=11).rows(n + queries * 3))
    rng = random.Random(5)
    rng.shuffle(rows)
    stored, probes = rows[:n], rows[n : n + queries]
    for pos, (row_id, name, company, phone, email, _src, _contact, customer) in enumerate(stored):
        rec = normalizer.record(row_id, name, company, phone, email)
        index.add_normalized(row_id, customer, rec)
        for p in rec.phones:
            phones[p.digits].append(pos)
    print(f"    index built in {time.perf_counter() - started:.1f} s")
    thresholds = DedupThresholds()
    took: list[float] = []
    base: list[float] = []
    decisions: dict[str, int] = defaultdict(int)
    right = 0
    for _row_id, name, company, phone, email, _src, _contact, customer in probes:
        new = CustomerInput(name=name, company=company, phone=phone, email=email)
        t0 = time.perf_counter()
        decision = index.check(new, thresholds)
        took.append((time.perf_counter() - t0) * 1000)
        decisions[decision.decision] += 1
        right += decision.decision == "link" and decision.customer_id == customer
        t0 = time.perf_counter()
        digits = re.sub(r"\D", "", phone)[-11:]
        phones.get(digits)
        base.append((time.perf_counter() - t0) * 1000)
    print(
        f"    check   p50 {_pct(took, 0.5):.3f} ms  p99 {_pct(took, 0.99):.3f} ms  max {max(took):.3f} ms"
        f"  (target p99 < 5 ms)"
    )
    print(
        f"    baseline exact-phone dict lookup  p50 {_pct(base, 0.5):.4f} ms  p99 {_pct(base, 0.99):.4f} ms"
        f"  → check/baseline p99 ×{_pct(took, 0.99) / max(_pct(base, 0.99), 1e-6):.0f}"
    )
    print(f"    decisions {dict(decisions)}; links to the right customer {right}/{decisions['link']}")


def _run_child(cmd: list[str]) -> tuple[float, float]:
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}")
    return wall, usage.ru_maxrss / 1024  # MiB (Linux reports KiB)


def _raw_baseline(src: Path, dst: Path) -> None:
    groups: dict[str, int] = {}
    with src.open(encoding="utf-8", newline="") as fh, dst.open("w", encoding="utf-8", newline="") as out:
        reader, writer = csv.reader(fh), csv.writer(out)
        writer.writerow([*next(reader), "phone_group"])
        for i, cells in enumerate(reader):
            digits = re.sub(r"\D", "", cells[3])[-11:]
            writer.writerow([*cells, groups.setdefault(digits, i) if digits else i])


def bench_batch(sizes: list[int], workdir: Path) -> None:
    print("(b) crmbot dedupe (child process, includes start-up)")
    crmbot = [sys.executable, "-m", "bot.cli.main", "dedupe"]
    for n in sizes:
        sheet, out, raw = workdir / f"c{n}.csv", workdir / f"g{n}.csv", workdir / f"r{n}.csv"
        t0 = time.perf_counter()
        write_sheet(sheet, n, seed=3)
        gen = time.perf_counter() - t0
        wall, rss = _run_child([*crmbot, str(sheet), "--out", str(out)])
        t0 = time.perf_counter()
        _raw_baseline(sheet, raw)
        raw_wall = time.perf_counter() - t0
        truth_c, truth_g, pred_c, pred_g = {}, {}, {}, {}
        with sheet.open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                truth_c[row["row_id"]], truth_g[row["row_id"]] = row["true_contact"], row["true_company"]
        with out.open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                pred_c[row["row_id"]], pred_g[row["row_id"]] = row["contact_group"], row["company_group"]
        sc, sg = pairwise_score(truth_c, pred_c), pairwise_score(truth_g, pred_g)
        print(
            f"    {n:>9,} rows: dedupe {wall:6.1f} s, peak RSS {rss:6.0f} MiB | raw baseline (read, "
            f"group by phone, write) {raw_wall:5.1f} s → ×{wall / raw_wall:.1f} | generated in {gen:.0f} s"
        )
        print(
            f"               contact P {sc.precision:.4f} R {sc.recall:.4f} F1 {sc.f1:.4f}; "
            f"company P {sg.precision:.4f} R {sg.recall:.4f} F1 {sg.f1:.4f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--skip-check", action="store_true")
    parser.add_argument("--skip-batch", action="store_true")
    args = parser.parse_args()
    index_size = 20_000 if args.quick else 1_000_000
    sizes = [5_000, 20_000] if args.quick else [100_000, 1_000_000]
    print(f"dedup benchmark on {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    # the batch runs first: a child forked from a process holding the big index would report the
    # parent's memory as its own peak RSS
    if not args.skip_batch:
        with tempfile.TemporaryDirectory() as tmp:
            bench_batch(sizes, Path(tmp))
    if not args.skip_check:
        bench_check(index_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
