"""Row rules of the customer import (core/imports.py): plain functions, no database."""

from __future__ import annotations

import pytest

from core.imports import ImportRow, parse_decision, prepare_row, split_phones, validate_row


def test_a_good_row_has_no_reasons() -> None:
    row = ImportRow(
        2, company="恒康医疗", name="张伟", phone="+86 138-1234-5678", email="zw@hk.cn", region="华东"
    )
    assert validate_row(row) == []


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (ImportRow(3, company=" ", name="张伟"), "缺少公司名称"),
        (ImportRow(3, company="恒" * 101), "公司名称太长（101 个字，最多 100 个）"),
        (ImportRow(3, company="恒康", name="张" * 101), "联系人姓名太长"),
        (ImportRow(3, company="恒康", phone="12345"), "电话「12345」无效"),
        (ImportRow(3, company="恒康", phone="13812345678 / 办公室"), "电话「13812345678 / 办公室」无效"),
        (ImportRow(3, company="恒康", email="zw.hk.cn"), "邮箱「zw.hk.cn」无效"),
        (ImportRow(3, company="恒康", region="华" * 65), "地区太长"),
    ],
)
def test_each_problem_is_named(row: ImportRow, reason: str) -> None:
    assert any(reason in r for r in validate_row(row)), validate_row(row)


def test_an_oversized_cell_in_any_column_is_a_reason() -> None:
    reasons = validate_row(ImportRow(4, company="恒康"), {"备注": 5000, "地址": 1500})
    assert reasons == ["「备注」列有 5,000 个字符，超过上限 2,000（可能是误粘贴）"]


def test_several_phones_in_one_cell_keep_the_first_and_note_the_others() -> None:
    assert split_phones("13812345678、0571-87236610") == ("13812345678", ["0571-87236610"], [])
    row = prepare_row(
        ImportRow(5, company=" 恒康 ", phone="13812345678；13912345678", note={"备注": "老客户"})
    )
    assert (row.company, row.phone) == ("恒康", "13812345678")
    assert row.note == {"备注": "老客户", "其他电话": "13912345678"}
    assert validate_row(row) == []


def test_decisions_in_english_or_chinese() -> None:
    assert [parse_decision(w) for w in ("link", " 新建 ", "IGNORE", "忽略", "maybe")] == [
        "link",
        "new",
        "ignore",
        "ignore",
        None,
    ]


def test_rows_round_trip_through_their_stored_form() -> None:
    row = ImportRow(7, "恒康", "张伟", "13812345678", "", "华东", "CRM", {"来源": "展会"})
    assert ImportRow.from_data(row.to_data()) == row
