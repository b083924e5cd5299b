"""Per-field precision / recall / F1 of extraction against a labelled corpus.

Same counting as the shared scorer (tools/score_parse.py): a field is a true positive when both
sides are non-null and equal (amounts within 0.5 yuan, names compared stripped); pain_points are
scored label by label; `effective` compares truthiness; only fields present in "expect" count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.nlp.types import OUTPUT_FIELDS


def _same(name: str, a: Any, b: Any) -> bool:
    if name == "amount":
        return abs(float(a) - float(b)) < 0.5
    if name in ("contact_name", "company"):
        return str(a).strip() == str(b).strip()
    return bool(a == b)


@dataclass
class FieldScore:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Report:
    fields: dict[str, FieldScore] = field(default_factory=lambda: {f: FieldScore() for f in OUTPUT_FIELDS})
    items: int = 0
    missing: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def scored(self) -> dict[str, FieldScore]:
        return {k: v for k, v in self.fields.items() if v.tp + v.fp + v.fn}

    @property
    def macro_f1(self) -> float:
        s = self.scored
        return sum(v.f1 for v in s.values()) / len(s) if s else 0.0

    def lines(self) -> list[str]:
        out = [
            f"{name:14s} precision {v.precision:.3f} recall {v.recall:.3f} f1 {v.f1:.3f}  (tp {v.tp} fp {v.fp} fn {v.fn})"
            for name, v in self.scored.items()
        ]
        f1s = [v.f1 for v in self.scored.values()]
        out.append(
            f"items={self.items} missing={self.missing} macro_f1={self.macro_f1:.4f} min_f1={min(f1s) if f1s else 0:.4f}"
        )
        return out


def score(corpus: Iterable[Mapping[str, Any]], results: Mapping[str, Mapping[str, Any]]) -> Report:
    report = Report()
    for item in corpus:
        report.items += 1
        got = results.get(item["id"])
        if got is None:
            report.missing += 1
            got = {}
        expect = item.get("expect") or {}
        source = str(item.get("text", item.get("transcript", "")))[:80]
        for name in OUTPUT_FIELDS:
            if name not in expect:
                continue
            exp, pred = expect[name], got.get(name)
            s = report.fields[name]
            if name == "pain_points":
                e, p = set(exp or []), set(pred or [])
                s.tp += len(e & p)
                s.fp += len(p - e)
                s.fn += len(e - p)
                if e != p:
                    report.errors.append(
                        f"  {item['id']} {name}: expected {sorted(e)} got {sorted(p)} | {source}"
                    )
                continue
            if name == "effective":
                e_b, p_b = bool(exp), bool(pred)
                if e_b and p_b:
                    s.tp += 1
                elif p_b:
                    s.fp += 1
                elif e_b:
                    s.fn += 1
                if e_b != p_b:
                    report.errors.append(f"  {item['id']} {name}: expected {exp!r} got {pred!r} | {source}")
                continue
            if exp is not None and pred is not None and _same(name, exp, pred):
                s.tp += 1
                continue
            if pred is not None:
                s.fp += 1
            if exp is not None:
                s.fn += 1
            if exp is not None or pred is not None:
                report.errors.append(f"  {item['id']} {name}: expected {exp!r} got {pred!r} | {source}")
    return report
