"""`crmbot import`: dry run, confirmation, re-runs, the actor, bad files, and the review CSV round trip."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from bot.cli.main import main
from storage.db import normalize_url
from storage.models import ContactRow, CustomerRow, ReviewItemRow

SHEET = "公司,联系人,手机,备注\n恒康医疗,张伟,13812345678,老客户\n顺驰冷链物流,梁经理,13998765432,\n,无名,,\n"


@pytest.fixture
def db(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # no crmbot.toml from elsewhere
    assert main(["init", "--demo", "--database", db_url]) == 0
    return db_url


def count(url: str, row: type) -> int:
    engine = create_engine(normalize_url(url))
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(row)) or 0)
    finally:
        engine.dispose()


def sheet(tmp_path: Path, text: str = SHEET, name: str = "客户.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_dry_run_summarizes_and_writes_nothing(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["import", sheet(tmp_path), "--dry-run", "--database", db]) == 0
    out = capsys.readouterr().out
    assert "共 3 行数据" in out and "新建客户：2 家" in out and "无效（不导入）：1 行" in out
    assert "第 4 行：缺少公司名称" in out and "试运行：没有写入任何数据" in out
    assert "其他列记入备注：备注" in out
    assert count(db, CustomerRow) == 0


def test_asks_before_writing(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = sheet(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    assert main(["import", path, "--database", db]) == 1
    assert "已取消，没有写入任何数据" in capsys.readouterr().out and count(db, CustomerRow) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # no terminal to answer: nothing is written
    assert main(["import", path, "--database", db]) == 1
    assert count(db, CustomerRow) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert main(["import", path, "--database", db]) == 0
    out = capsys.readouterr().out
    assert "导入完成（批次 #1）：新建客户 2 家" in out and "线索分配：" in out
    assert count(db, CustomerRow) == 2


def test_running_it_again_says_so_and_creates_nothing(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = sheet(tmp_path)
    assert main(["import", path, "--yes", "--database", db]) == 0
    capsys.readouterr()
    assert main(["import", path, "--yes", "--database", db]) == 0
    out = capsys.readouterr().out
    assert "这个文件之前已导入过（批次 #1，admin）" in out
    assert "新建客户 0 家，关联已有客户 2 行" in out
    assert count(db, CustomerRow) == 2 and count(db, ContactRow) == 2


def test_the_actor(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = sheet(tmp_path)
    assert main(["import", path, "--yes", "--as", "nobody", "--database", db]) == 1
    assert "没有找到用户「nobody」" in capsys.readouterr().err
    assert main(["import", path, "--yes", "--as", "zhangsan", "--database", db]) == 1
    assert "只有主管/总监/管理员可以导入客户" in capsys.readouterr().err
    assert main(["import", path, "--yes", "--as", "zhaoqiang", "--database", db]) == 0
    assert count(db, CustomerRow) == 2


def test_without_an_admin_the_error_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    assert main(["import", sheet(tmp_path), "--dry-run", "--database", url]) == 0  # checking needs nobody
    assert main(["import", sheet(tmp_path), "--yes", "--database", url]) == 1
    assert "还没有管理员账号" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["import"], "请指定要导入的文件"),
        (["import", "x.csv", "--review-export", "r.csv"], "请指定要导入的文件"),
        (["import", "missing.csv"], "找不到输入文件"),
    ],
)
def test_usage_and_missing_file(
    db: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main([*args, "--database", db]) == 2
    assert message in capsys.readouterr().err


def test_a_broken_file_exits_2_with_the_reason(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.xlsx"
    path.write_bytes(b"this is not excel")
    assert main(["import", str(path), "--yes", "--database", db]) == 2
    assert "导入失败：文件 bad.xlsx 不是有效的 Excel 文件" in capsys.readouterr().err


def test_review_export_and_apply(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "import",
                sheet(
                    tmp_path,
                    "公司,联系人,手机\n恒康医疗,张伟,13812345678\n顺驰冷链物流,梁经理,13998765432\n",
                    "a.csv",
                ),
                "--yes",
                "--database",
                db,
            ]
        )
        == 0
    )
    # the same people under other firms' names: each a possible duplicate for a manager to decide
    assert (
        main(
            [
                "import",
                sheet(
                    tmp_path,
                    "公司,联系人,手机\n星河贸易,张伟,13812345678\n远航贸易,梁经理,13998765432\n"
                    "博达软件,梁经理,13998765432\n",
                    "b.csv",
                ),
                "--yes",
                "--database",
                db,
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "待审核 3 组" in out and "/待审核" in out
    export = tmp_path / "review.csv"
    assert main(["import", "--review-export", str(export), "--database", db]) == 0
    with export.open(encoding="utf-8-sig") as fh:
        lines = list(csv.DictReader(fh))
    assert [(r["company"], r["candidate"]) for r in lines] == [
        ("星河贸易", "恒康医疗"),
        ("远航贸易", "顺驰冷链物流"),
        ("博达软件", "顺驰冷链物流"),
    ]
    assert all(r["evidence"] and r["decision"] == "" for r in lines)
    lines[0]["decision"], lines[1]["decision"], lines[2]["decision"] = "关联", "new", "maybe"
    with export.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(lines[0]))
        writer.writeheader()
        writer.writerows(lines)
    capsys.readouterr()
    assert main(["import", "--review-apply", str(export), "--as", "zhaoqiang", "--database", db]) == 1
    out = capsys.readouterr().out
    assert "关联 1 条，新建 1 条，忽略 0 条" in out and "第 4 行：无法识别的 decision「maybe」" in out
    assert count(db, CustomerRow) == 3  # 恒康医疗, 顺驰冷链物流, and 远航贸易 created from the review
    # applying the same file again: the decided items are reported, nothing changes twice
    assert main(["import", "--review-apply", str(export), "--database", db]) == 1
    assert "已处理过了" in capsys.readouterr().out
    assert count(db, CustomerRow) == 3 and count(db, ReviewItemRow) == 3
