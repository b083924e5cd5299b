"""`crmbot parse` end to end, in-process through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli.main import main

DATA = Path(__file__).resolve().parents[1] / "data"


def test_jsonl_to_stdout_with_malformed_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(
        "\n".join(
            [
                json.dumps(
                    {
                        "id": "m1",
                        "now": "2026-03-10T16:40:00+08:00",
                        "text": "拜访了恒康医疗的张伟，下周三演示",
                    }
                ),
                "{not json",
                json.dumps({"id": "m2", "text": "缺少时间"}),
                json.dumps({"id": "m3", "now": "昨天下午", "text": "时间格式不对"}),
                json.dumps({"id": "m4", "now": "2026-03-10T16:40:00+08:00"}),
                "[1, 2]",
                "",
                json.dumps(
                    {
                        "id": "c1",
                        "call_id": "CL1",
                        "rep": "zhangsan",
                        "customer_phone": "0571-8723 6610",
                        "started_at": "2026-03-11T14:30:00+08:00",
                        "duration_s": 600,
                        "transcript": "客户：合同我们看过了 下周二再说吧",
                        "expect": {"phone": "x"},
                    }
                ),
                json.dumps({"id": "c2", "call_id": "CL2", "started_at": "not a time", "transcript": ""}),
            ]
        ),
        encoding="utf-8",
    )
    assert main(["parse", "--jsonl", str(src)]) == 0
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in rows] == ["m1", "c1"]
    assert rows[0]["company"] == "恒康医疗" and rows[0]["next_followup"] == "2026-03-18"
    assert rows[0]["effective"] is None
    assert (
        rows[1]["phone"] == "057187236610" and rows[1]["effective"] is True and rows[1]["method"] == "phone"
    )
    assert set(rows[0]) == {
        "id", "contact_name", "company", "phone", "method", "conclusion", "next_action",
        "next_followup", "stage", "amount", "pain_points", "effective",
    }  # fmt: skip
    for line_no in (2, 3, 4, 5, 6, 9):
        assert f"第 {line_no} 行" in err


def test_out_file(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    assert main(["parse", "--jsonl", str(DATA / "calls.dev.jsonl"), "--out", str(out)]) == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == 30


def test_missing_input_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", "--jsonl", str(tmp_path / "nope.jsonl")]) != 0
    assert "找不到输入文件" in capsys.readouterr().err


def test_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    assert main(["parse", "--jsonl", str(bad)]) != 0
    assert "UTF-8" in capsys.readouterr().err


def test_nothing_processed_is_an_error(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("{oops\n", encoding="utf-8")
    assert main(["parse", "--jsonl", str(src)]) == 1


def test_score(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", "--score", str(DATA / "messages.dev.jsonl"), "--show-errors"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith("items=120 missing=0 macro_f1=")
    assert any(line.startswith("next_followup  precision") for line in out)
    macro = float(out[-1].split("macro_f1=")[1].split()[0])
    assert macro >= 0.90
