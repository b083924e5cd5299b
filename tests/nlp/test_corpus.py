"""The dev corpora and our own labelled sentences through the scorer: the quality targets."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from bot.nlp.parser import Parser
from bot.nlp.scoring import Report, score
from bot.nlp.types import CallLog

DATA = Path(__file__).resolve().parents[1] / "data"
OWN = Path(__file__).resolve().parent / "data"


def run(parser: Parser, path: Path) -> Report:
    corpus = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    results = {}
    for item in corpus:
        if "transcript" in item:
            call = CallLog.model_validate({k: v for k, v in item.items() if k != "expect"})
            results[item["id"]] = parser.parse_call(call).to_output()
        else:
            results[item["id"]] = parser.parse_text(
                item["text"], datetime.fromisoformat(item["now"])
            ).to_output()
    return score(corpus, results)


@pytest.mark.parametrize("name", ["messages.dev.jsonl", "calls.dev.jsonl"])
def test_dev_corpus_meets_the_targets(parser: Parser, name: str) -> None:
    report = run(parser, DATA / name)
    detail = "\n".join(report.errors + report.lines())
    assert report.missing == 0
    assert report.macro_f1 >= 0.90, detail
    for field in ("phone", "next_followup", "amount"):
        assert report.fields[field].f1 >= 0.95, detail


@pytest.mark.parametrize(
    ("name", "at_least"),
    [
        ("own_messages.jsonl", 60),
        ("own_messages_2.jsonl", 20),
        ("own_messages_3.jsonl", 15),
        ("own_calls.jsonl", 8),
    ],
)
def test_own_sentences(parser: Parser, name: str, at_least: int) -> None:
    """Messages and calls written for crmbot (not from the corpus), labelled by the same conventions."""
    report = run(parser, OWN / name)
    detail = "\n".join(report.errors + report.lines())
    assert report.items >= at_least
    assert report.macro_f1 >= 0.90, detail
    for field in ("phone", "next_followup", "amount"):
        if field in report.scored:
            assert report.fields[field].f1 >= 0.95, detail


def test_scorer_counts_like_the_shared_one() -> None:
    corpus = [
        {
            "id": "a",
            "expect": {"phone": "1", "amount": 100, "pain_points": ["price", "delivery"], "stage": None},
        },
        {
            "id": "b",
            "expect": {"phone": None, "amount": 50, "pain_points": [], "stage": "won", "effective": True},
        },
    ]
    results = {
        "a": {"phone": "1", "amount": 100.4, "pain_points": ["price"], "stage": "quote"},
        "b": {
            "phone": "2",
            "amount": None,
            "pain_points": ["competitor"],
            "stage": "won",
            "effective": False,
        },
    }
    r = score(corpus, results)
    assert (r.fields["phone"].tp, r.fields["phone"].fp, r.fields["phone"].fn) == (1, 1, 0)
    assert (r.fields["amount"].tp, r.fields["amount"].fn) == (1, 1)
    assert (r.fields["pain_points"].tp, r.fields["pain_points"].fp, r.fields["pain_points"].fn) == (1, 1, 1)
    assert (r.fields["stage"].tp, r.fields["stage"].fp) == (1, 1)
    assert r.fields["effective"].fn == 1
    assert "contact_name" not in r.scored


@pytest.mark.parametrize(
    ("name", "items", "floor"),
    [
        # tuning half: the rules were improved while looking at these lines
        ("holdout_messages_a.jsonl", 95, 0.96),
        ("holdout_calls_a.jsonl", 20, 0.95),
        # written later by someone who had not seen the parser (first score 0.922 / 0.891), then tuned on
        ("holdout_messages_c.jsonl", 150, 0.93),
        ("holdout_calls_c.jsonl", 40, 0.92),
        # a third writer, asked for harder text (English words, other industries): 0.834 / 0.881 at first
        ("holdout_messages_d.jsonl", 120, 0.88),
        ("holdout_calls_d.jsonl", 30, 0.89),
        # check half: never tuned on, so its score is the honest estimate for unseen text
        ("holdout_messages_b.jsonl", 95, 0.85),
        ("holdout_calls_b.jsonl", 20, 0.86),
    ],
)
def test_held_out_sentences(parser: Parser, name: str, items: int, floor: float) -> None:
    """Fresh lines written like real reps type and dictate (noise, run-ons, spaced dictation, odd
    notations), labelled by the corpus README; the floors sit a little under the current scores."""
    report = run(parser, OWN / name)
    detail = "\n".join(report.errors + report.lines())
    assert report.items == items
    assert report.missing == 0
    assert report.macro_f1 >= floor, detail
    assert report.fields["phone"].f1 >= 0.95, detail
