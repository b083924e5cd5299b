"""Pairwise precision / recall / F1 of a grouping against labelled truth (the project's own scorer).

Counts pairs of rows: a pair is predicted when both rows share a group, true when both share a
label. It agrees with shared/tools/score_dedupe.py and is used by tests and the benchmark.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping

from pydantic import BaseModel


class PairwiseScore(BaseModel):
    precision: float
    recall: float
    f1: float
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def pairwise_score(truth: Mapping[str, Hashable], predicted: Mapping[str, Hashable]) -> PairwiseScore:
    """truth and predicted map a row id to its label; rows missing from predicted are singletons."""
    pred = {k: predicted.get(k, ("missing", k)) for k in truth}
    correct = sum(_pairs(n) for n in Counter((truth[k], pred[k]) for k in truth).values())
    predicted_pairs = sum(_pairs(n) for n in Counter(pred.values()).values())
    true_pairs = sum(_pairs(n) for n in Counter(truth.values()).values())
    p = correct / predicted_pairs if predicted_pairs else 1.0
    r = correct / true_pairs if true_pairs else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return PairwiseScore(
        precision=p,
        recall=r,
        f1=f,
        true_pairs=true_pairs,
        predicted_pairs=predicted_pairs,
        correct_pairs=correct,
    )
