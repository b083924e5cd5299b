"""`crmbot dedupe`: the dev corpus meets the quality targets; bad inputs get clear messages."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bot.cli.main import main
from core.dedup.evaluate import pairwise_score

DEV = Path(__file__).resolve().parents[1] / "data" / "customers.dev.csv"


@pytest.fixture(scope="module")
def dev_result(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    out = tmp_path_factory.mktemp("dedupe") / "groups.csv"
    assert main(["dedupe", str(DEV), "--out", str(out)]) == 0
    with DEV.open(encoding="utf-8") as fh:
        truth = list(csv.DictReader(fh))
    with out.open(encoding="utf-8-sig") as fh:
        result = list(csv.DictReader(fh))
    return truth, result


def test_dev_corpus_meets_targets(dev_result: tuple[list[dict[str, str]], list[dict[str, str]]]) -> None:
    truth, result = dev_result
    assert [r["row_id"] for r in result] == [t["row_id"] for t in truth]
    by_id = {r["row_id"]: r for r in result}
    contact = pairwise_score(
        {t["row_id"]: t["true_contact"] for t in truth}, {k: r["contact_group"] for k, r in by_id.items()}
    )
    company = pairwise_score(
        {t["row_id"]: t["true_company"] for t in truth}, {k: r["company_group"] for k, r in by_id.items()}
    )
    assert contact.precision >= 0.99 and contact.f1 >= 0.95, contact
    assert company.precision >= 0.99 and company.f1 >= 0.97, company


def test_output_keeps_extra_columns_and_explains_links(
    dev_result: tuple[list[dict[str, str]], list[dict[str, str]]],
) -> None:
    truth, result = dev_result
    assert result[0]["true_contact"] == truth[0]["true_contact"] and result[0]["source"] == truth[0]["source"]
    linked = [r for r in result if r["contact_reason"]]
    assert linked and all(r["contact_score"] for r in linked)
    assert any("手机号相同" in r["contact_reason"] for r in linked)
    assert any("公司名" in r["company_reason"] for r in result)


def test_truth_columns_are_not_used(tmp_path: Path) -> None:
    rows = [
        ["row_id", "name", "company", "phone", "true_contact", "true_company"],
        ["a", "王芳", "恒嘉科技", "13900000001", "1", "1"],
        ["b", "李强", "云帆物流", "13900000002", "1", "1"],
    ]
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    with src.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    assert main(["dedupe", str(src), "--out", str(out)]) == 0
    with out.open(encoding="utf-8") as fh:
        got = list(csv.DictReader(fh))
    assert got[0]["contact_group"] != got[1]["contact_group"]
    assert got[0]["company_group"] != got[1]["company_group"]


def test_chinese_headers_gbk_and_line_numbers(tmp_path: Path) -> None:
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_bytes(
        "联系人,客户名称,手机号,备注\n王总,深圳恒嘉科技有限公司,13800138000,老客户\n"
        "王建国,恒嘉科技,138-0013-8000,\n".encode("gbk")
    )
    assert main(["dedupe", str(src), "--out", str(out)]) == 0
    with out.open(encoding="utf-8") as fh:
        got = list(csv.DictReader(fh))
    assert [r["row_id"] for r in got] == ["2", "3"]
    assert got[0]["备注"] == "老客户"
    assert got[0]["contact_group"] == got[1]["contact_group"]


def test_utf8_bom(tmp_path: Path) -> None:
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_bytes("\ufeffname,company\n王芳,恒嘉科技\n".encode())
    assert main(["dedupe", str(src), "--out", str(out)]) == 0
    with out.open(encoding="utf-8") as fh:
        assert next(csv.DictReader(fh))["name"] == "王芳"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "是空的"),
        (b"name,company\n", "只有表头"),
        (b"a,b\n1,2\n", "不是可识别的表头"),
        (b"name,company\n\xff\xfe\x81\x00\xd8\xff\n", "无法识别文件"),
    ],
)
def test_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str) -> None:
    src = tmp_path / "in.csv"
    src.write_bytes(content)
    assert main(["dedupe", str(src), "--out", str(tmp_path / "out.csv")]) == 2
    assert message in capsys.readouterr().err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dedupe", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o.csv")]) == 2
    assert "找不到输入文件" in capsys.readouterr().err
