"""Customer import (issue 5 part 4): read, validate, dedupe within the file and against the database,
write in whole batches, resume after a crash, and let a manager decide the possible duplicates."""

from __future__ import annotations

import re
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from bot.importer import Plan, execute, plan_import, resolve_actor
from bot.services import Services
from bot.sheets import SheetError
from core.errors import Conflict, PermissionDenied, RuleViolation
from core.model import Contact, Customer, User
from core.ports import UnitOfWork
from core.usecases.customers import DuplicateDecision, NewCustomer
from core.usecases.imports import decide_review
from storage.models import (
    AuditRow,
    ContactRow,
    CustomerRow,
    DealRow,
    ImportBatchRow,
    ReviewItemRow,
)
from tests.transcript import replies, run

# Distinct firms for bulk rows: brand characters never shared, so none is a near-duplicate of another.
BRANDS = "".join(
    dict.fromkeys(
        "恒嘉源仁通联明宏禾金永康兴致博远景信达华创新德安泰瑞盛辰开元毅精卓智汇天宇纳启科普海弘睿利中鼎长丰正星万同川广"
        "鸿晨佳合美益诚和顺昌隆祥富贵荣福润泽锦绣腾飞鹏凯旭阳光耀辉煌欣怡雅韵清风雨露霜雪冰山水木火土石玉珠翠"
    )
)
INDUSTRIES = ("医疗器械", "物流", "软件", "食品", "建材", "化工", "服饰", "家居")
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰"


def firm(i: int) -> str:
    return BRANDS[2 * i] + BRANDS[2 * i + 1] + INDUSTRIES[i % len(INDUSTRIES)]


def person(i: int) -> str:
    return SURNAMES[i] + GIVEN[i % len(GIVEN)] + GIVEN[(i * 7 + 3) % len(GIVEN)]


def write_csv(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def count(services: Services, row: type, *where: Any) -> int:
    with services.uow_factory() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(row).where(*where)) or 0)


def rows(services: Services, row: type) -> list[Any]:
    with services.uow_factory() as uow:
        out = list(uow.session.scalars(select(row).order_by(row.id)))
        uow.session.expunge_all()
        return out


def do_import(services: Services, path: Path, **kwargs: Any) -> tuple[Plan, Any]:
    actor = resolve_actor(services, None)
    with plan_import(services, path) as plan:
        return plan, execute(services, plan, actor, **kwargs)


EXISTING = """
    !now 2026-03-10 09:00
    @zhaoqiang: /新客户 恒康医疗 张伟 13812345678
"""

SHEET = [
    "公司,联系人,手机,邮箱,地区,来源,备注",
    "恒康医疗,张伟,13812345678,,华东,展会,老客户",  # 2: the existing customer → linked
    "星河贸易,张伟,13812345678,,,,",  # 3: a known phone at another company → review
    "新辰建材,赵六,13600002222,zl@xinchen.cn,华南,官网,",  # 4: new
    "新辰建材有限公司,赵六,136-0000-2222,,,,",  # 5: the file's own duplicate of row 4 → joins it
    ",无名氏,13500003333,,,,",  # 6: no company → invalid
    "坏号码科技,钱七,12345,,,,",  # 7: invalid phone → invalid
    "星河贸易,孙丽,13911112222,,,,",  # 8: same firm as row 3 → joins its review item
]


def test_import_links_reviews_creates_and_lists_bad_rows(services: Services, tmp_path: Path) -> None:
    run(services, EXISTING)
    plan, report = do_import(services, write_csv(tmp_path / "客户.csv", SHEET))
    assert (plan.data_rows, plan.valid, plan.invalid) == (7, 5, 2)
    assert [p.row_no for p in plan.problems] == [6, 7]
    assert (
        "缺少公司名称" in plan.problems[0].reasons[0] and "电话「12345」无效" in plan.problems[1].reasons[0]
    )
    assert plan.rows_by_kind == {"linked": 1, "review": 2, "new": 2}
    s = report.summary
    assert (s["created"], s["joined"], s["linked"], s["review_items"], s["review_rows"]) == (1, 1, 1, 1, 2)
    assert report.batch.state == "done" and s["done_through"] == 8

    customers = {c.name: c for c in rows(services, CustomerRow)}
    assert set(customers) == {"恒康医疗", "新辰建材"}  # the typed name of the group's first row is kept
    new = customers["新辰建材"]
    assert (new.source, new.region) == ("import", "华南")
    assert count(services, ContactRow, ContactRow.customer_id == new.id) == 1  # row 5 is the same person
    assert count(services, DealRow, DealRow.customer_id == new.id) == 1  # the 线索 deal
    assert sum(s["reps"].values()) + sum(s["pool"].values()) == 1  # the new lead went to the round robin

    item = rows(services, ReviewItemRow)[0]
    assert (item.state, item.row_no, item.candidate_customer_id) == ("pending", 3, customers["恒康医疗"].id)
    assert [r["row"] for r in item.data["rows"]] == [3, 8] and "手机号相同" in item.evidence

    # columns without a place in the CRM are kept: in the audit entry of the row's customer
    notes = [a.after for a in rows(services, AuditRow) if a.action == "customer.import"]
    assert {
        "batch": report.batch.id,
        "file": "客户.csv",
        "row": 2,
        "created": False,
        "note": {"来源": "展会", "备注": "老客户"},
    } in notes


def test_running_the_same_file_again_creates_nothing(services: Services, tmp_path: Path) -> None:
    run(services, EXISTING)
    path = write_csv(tmp_path / "客户.csv", SHEET)
    do_import(services, path)
    before = [count(services, t) for t in (CustomerRow, ContactRow, DealRow, ReviewItemRow)]
    plan, report = do_import(services, path)
    assert [b.state for b in plan.earlier] == ["done"]
    assert report.seen_before
    assert [count(services, t) for t in (CustomerRow, ContactRow, DealRow, ReviewItemRow)] == before
    assert report.summary["created"] == 0 and report.summary["review_items"] == 0
    assert count(services, ImportBatchRow) == 2


class CrashingCheck:
    """Our DuplicateCheck port, failing on its n-th call: a crash in the middle of a batch."""

    def __init__(self, real: Any, fail_on: int) -> None:
        self.real, self.fail_on, self.calls = real, fail_on, 0

    def name_key(self, company: str) -> str:
        return self.real.name_key(company)

    def decide(self, uow: UnitOfWork, record: NewCustomer, phone_norm: str | None) -> DuplicateDecision:
        self.calls += 1
        if self.calls == self.fail_on:
            raise RuntimeError("断电")
        return self.real.decide(uow, record, phone_norm)

    def register(self, uow: UnitOfWork, customer: Customer, contact: Contact | None) -> None:
        self.real.register(uow, customer, contact)


def test_a_crash_leaves_whole_batches_and_a_rerun_completes_without_duplicates(
    services: Services, tmp_path: Path
) -> None:
    n = 40  # 40 firms, then the same 40 again (the file's own duplicates), in batches of 10 rows
    lines = ["公司,联系人,手机"] + [f"{firm(i)},{person(i)},139{i:08d}" for i in range(n)]
    lines += [f"{firm(i)}有限公司,{person(i)},139{i:08d}" for i in range(n)]
    path = write_csv(tmp_path / "leads.csv", lines)
    real = services.dedup
    services.dedup = CrashingCheck(real, fail_on=25)  # inside the third batch (rows 22–31)
    with pytest.raises(RuntimeError):
        do_import(services, path, chunk_rows=10)
    services.dedup = real
    batch = rows(services, ImportBatchRow)[0]
    assert batch.state == "running" and batch.summary["done_through"] == 21  # two whole batches: rows 2–21
    assert count(services, CustomerRow) == 20 and count(services, DealRow) == 20

    plan, report = do_import(services, path, chunk_rows=10)
    assert [b.state for b in plan.earlier] == ["running"]
    assert report.resumed_after == 21 and report.batch.id == batch.id
    assert (
        count(services, CustomerRow) == n
        and count(services, ContactRow) == n
        and count(services, DealRow) == n
    )
    s = rows(services, ImportBatchRow)[0].summary
    # the resumed run knows which firms the interrupted one created: their copies join them
    assert (s["created"], s["joined"], s["linked"], s["done_through"]) == (n, n, 0, 2 * n + 1)
    assert rows(services, ImportBatchRow)[0].state == "done" and count(services, ImportBatchRow) == 1


def test_bad_rows_are_listed_with_reasons_and_the_rest_imports(
    sqlite_services: Services, tmp_path: Path
) -> None:
    long_note = "很长的备注" * 1000  # 5,000 characters in one cell
    lines = ["客户名称,联系人,电话,邮箱,备注"]
    lines += [f"{firm(i)},{person(i)},139{i:08d},,ok" for i in range(3)]
    lines += [
        f"{firm(3)},{person(3)},13900000003,,{long_note}",
        f"{firm(4)},{person(4)},,not-an-email,",
        f"{'超长公司名' * 30},某人,,,",
    ]
    lines += [f",某人{i},,," for i in range(21)]  # more bad rows than fit on the screen
    lines += [",=HYPERLINK(1),,,"]  # would run as a formula in the list file
    path = write_csv(tmp_path / "bad.csv", lines)
    plan, report = do_import(sqlite_services, path)
    assert plan.valid == 3 and plan.invalid == 25
    reasons = {p.row_no: "；".join(p.reasons) for p in plan.problems}
    assert "「备注」列有 5,000 个字符" in reasons[5]
    assert "邮箱「not-an-email」无效" in reasons[6]
    assert "公司名称太长" in reasons[7]
    assert all("缺少公司名称" in reasons[r] for r in range(8, 30))
    assert plan.errors_file == tmp_path / "bad.invalid.csv"
    listed = plan.errors_file.read_text(encoding="utf-8-sig").splitlines()
    assert len(listed) == 26 and listed[0].startswith("行号,原因,客户名称")
    assert listed[-1] == "29,缺少公司名称,,'=HYPERLINK(1),,,"
    assert report.summary["created"] == 3 and count(sqlite_services, CustomerRow) == 3


def test_every_other_column_is_kept_even_under_a_repeated_header(
    sqlite_services: Services, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "c.csv", ["公司,手机,电话,备注,备注,", "恒康医疗,,0571-87236610,一,二,无表头"]
    )
    do_import(sqlite_services, path)
    notes = [a.after["note"] for a in rows(sqlite_services, AuditRow) if a.action == "customer.import"]
    assert notes == [{"备注": "一", "备注（第5列）": "二", "第6列": "无表头"}]
    assert rows(sqlite_services, ContactRow)[0].phone_norm == "057187236610"  # the second phone column


@pytest.mark.parametrize("encoding", ["gbk", "utf-8-sig", "utf-8"])
def test_csv_encodings(sqlite_services: Services, tmp_path: Path, encoding: str) -> None:
    path = write_csv(tmp_path / "c.csv", ["单位名称,姓名,手机号码", "恒康医疗,张伟,13812345678"], encoding)
    _, report = do_import(sqlite_services, path)
    assert report.summary["created"] == 1
    assert rows(sqlite_services, CustomerRow)[0].name == "恒康医疗"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "是空的"),
        ("公司,联系人\n".encode(), "只有表头"),
        (b"1,2\n3,4\n", "没有找到表头"),
        ("姓名,电话\n张伟,13812345678\n".encode(), "没有公司名称列"),
        (b"name,company\n\xff\xfe\x81\x00\xd8\xff\n", "无法识别文件"),
        ('公司,联系人\n"恒康医疗,张伟\n'.encode(), "第 2 行的引号没有闭合"),
        ('公司,联系人\n恒康医疗,"张"伟\n'.encode(), "第 2 行无法解析"),
    ],
)
def test_files_that_cannot_be_imported_write_nothing(
    sqlite_services: Services, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(content)
    with pytest.raises(SheetError, match=message):
        plan_import(sqlite_services, path)
    assert count(sqlite_services, CustomerRow) == 0 and count(sqlite_services, ImportBatchRow) == 0


def test_a_title_line_above_the_header_is_skipped_and_said(sqlite_services: Services, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "c.csv", ["2026 年展会客户名单,,", "公司,联系人,手机", "恒康医疗,张伟,13812345678"]
    )
    with plan_import(sqlite_services, path) as plan:
        assert plan.header_row == 2 and plan.valid == 1
        assert any("第 1 行不是表头" in n for n in plan.notes)


def _with_cached_values(path: Path, values: dict[str, str]) -> None:
    """openpyxl writes formulas without results; Excel saves the result in <v>: add it for those cells."""
    with zipfile.ZipFile(path) as zin:
        items = {name: zin.read(name) for name in zin.namelist()}
    xml = items["xl/worksheets/sheet1.xml"].decode()
    for ref, value in values.items():
        xml = re.sub(
            rf'<c r="{ref}"([^>]*)><f>(.*?)</f><v\s*/>', rf'<c r="{ref}" t="str"><f>\2</f><v>{value}</v>', xml
        )
    items["xl/worksheets/sheet1.xml"] = xml.encode()
    with zipfile.ZipFile(path, "w") as zout:
        for name, data in items.items():
            zout.writestr(name, data)


def test_xlsx_formulas_and_merged_cells(sqlite_services: Services, tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = "客户"
    ws.append(["公司", "联系人", "手机", "成交额"])
    ws.append(["恒康医疗", "张伟", '="138"&"12345678"', 12000])  # a formula Excel has computed
    ws.append(["顺驰物流", "梁经理", '="139"&"98765432"', None])  # a formula never computed
    ws.append(["星河贸易", "孙丽", 13911112222, None])  # a phone stored as a number
    ws.append([None, "李娜", "13700001111", None])  # A4:A5 merged: the company is written once
    ws.merge_cells("A4:A5")
    wb.create_sheet("说明")
    path = tmp_path / "客户.xlsx"
    wb.save(path)
    _with_cached_values(path, {"C2": "13812345678"})

    plan, report = do_import(sqlite_services, path)
    assert (plan.data_rows, plan.valid, plan.invalid) == (4, 3, 1)
    assert plan.problems[0].row_no == 3 and "C3 是公式" in plan.problems[0].reasons[0]
    assert any("A4:A5" in n and "合并单元格" in n for n in plan.notes)
    assert any("只读取了第一个「客户」" in n for n in plan.notes)
    assert any("1 个公式单元格，已使用文件中保存的计算结果" in n for n in plan.notes)
    contacts = {c.name: c for c in rows(sqlite_services, ContactRow)}
    assert contacts["张伟"].phone_norm == "13812345678" and contacts["孙丽"].phone_norm == "13911112222"
    customers = {c.id: c.name for c in rows(sqlite_services, CustomerRow)}
    assert customers[contacts["李娜"].customer_id] == "星河贸易"  # the merged company reached row 5
    assert report.summary["created"] == 2 and report.summary["joined"] == 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.xlsx", b"not a zip at all", "不是有效的 Excel 文件"),
        ("a.xls", b"\xd0\xcf\x11\xe0", "暂不支持 .xls"),
    ],
)
def test_bad_excel_files(
    sqlite_services: Services, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(SheetError, match=message):
        plan_import(sqlite_services, tmp_path / name)


def test_memory_does_not_grow_with_the_width_of_the_rows(sqlite_services: Services, tmp_path: Path) -> None:
    """Streamed: memory holds match keys per row, not the rows. A sheet whose rows carry a 1,000-character
    note (several MB) peaks no higher than the same rows without it."""
    n = 3000
    base = [f"{firm(i % 40)}{i},{person(i % 40)},139{i:08d}" for i in range(n)]
    narrow = write_csv(tmp_path / "narrow.csv", ["公司,联系人,手机", *base])
    note = "这是一段很长的拜访记录" * 100
    wide = write_csv(tmp_path / "wide.csv", ["公司,联系人,手机,备注", *(f"{b},{note}" for b in base)])
    assert wide.stat().st_size > 8_000_000

    def peak(path: Path) -> int:
        tracemalloc.start()
        try:
            with plan_import(sqlite_services, path) as plan:
                assert plan.valid == n
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    plan_import(sqlite_services, narrow).close()  # warm the process-wide text caches
    narrow_peak, wide_peak = peak(narrow), peak(wide)
    assert wide_peak < narrow_peak + 2_000_000, (narrow_peak, wide_peak)
    assert wide_peak < wide.stat().st_size * 0.75  # the file is never held whole
    assert narrow_peak < n * 4_000 + 5_000_000  # a few KB of keys per row


# ---------------------------------------------------------------- review


def _pending(services: Services) -> list[Any]:
    return [r for r in rows(services, ReviewItemRow) if r.state == "pending"]


def _user(services: Services, user_id: str) -> User:
    with services.uow_factory() as uow:
        user = uow.users.get(user_id)
    assert user is not None
    return user


def _decide(services: Services, user_id: str, item_id: int, decision: Any) -> Any:
    from bot.handlers.assignment import lead_assigner

    with services.uow_factory() as uow:
        out = decide_review(
            uow,
            _user(services, user_id),
            item_id,
            decision,
            services.clock.now(),
            dedup=services.dedup,
            pipeline=services.pipeline,
            assigner=lead_assigner(services),
        )
        uow.commit()
    return out


def test_review_decisions_link_new_and_ignore(services: Services, tmp_path: Path) -> None:
    run(services, EXISTING + "@zhaoqiang: /新客户 顺驰冷链物流 梁经理 13998765432\n")
    path = write_csv(
        tmp_path / "r.csv",
        [
            "公司,联系人,手机",
            "星河贸易,张伟,13812345678",  # known phone (恒康医疗)
            "星河贸易,孙丽,13911112222",
            "远航贸易,梁经理,13998765432",  # known phone (顺驰冷链物流)
            "博达软件,梁经理,13998765432",  # known phone again, another firm
        ],
    )
    do_import(services, path)
    items = _pending(services)
    assert len(items) == 3
    hengkang, shunchi = (c.id for c in rows(services, CustomerRow)[:2])

    with pytest.raises(PermissionDenied):
        _decide(services, "zhangsan", items[0].id, "link")
    linked = _decide(services, "zhaoqiang", items[0].id, "link")
    assert linked.customer.id == hengkang
    assert {c.name for c in rows(services, ContactRow) if c.customer_id == hengkang} == {"张伟", "孙丽"}
    created = _decide(services, "zhaoqiang", items[1].id, "new")
    assert created.customer.name == "远航贸易" and created.customer.id not in (hengkang, shunchi)
    ignored = _decide(services, "zhaoqiang", items[2].id, "ignore")
    assert ignored.customer is None
    with pytest.raises(Conflict, match="已处理过了"):
        _decide(services, "qianmin", items[2].id, "new")
    assert [r.state for r in rows(services, ReviewItemRow)] == ["linked", "created", "ignored"]
    assert count(services, CustomerRow) == 3
    assert {a.action for a in rows(services, AuditRow)} >= {"import.review", "customer.import"}


def test_review_cards_in_chat(services: Services, tmp_path: Path) -> None:
    run(services, EXISTING)
    do_import(
        services,
        write_csv(
            tmp_path / "展会.csv",
            [
                "公司,联系人,手机",
                "星河贸易,张伟,13812345678",
                "恒康医疗器械有限公司,李娜,13700001111",
                "星河贸易,孙丽,13911112222",
            ],
        ),
    )
    out = run(
        services,
        """
        @zhangsan: /待审核
        @zhaoqiang: /待审核
        @zhaoqiang > 新建
        @zhaoqiang > 关联
        @zhaoqiang: /待审核
        @zhaoqiang > 关联
        @zhaoqiang: /待审核
    """,
    )
    assert "只有主管/总监/管理员可以" in replies(out, "zhangsan")[-1]
    answers = replies(out, "zhaoqiang")
    answers = answers[answers.index(next(a for a in answers if "共有 2 条待审核" in a)) :]
    _listing, first_card, second_card = answers[:3]
    assert "是否关联到「恒康医疗」？" in first_card and "手机号相同" in first_card
    assert "同一公司共 2 行" in first_card and "138****5678" in first_card
    assert "「展会.csv」第 3 行" in second_card and "[1] 关联  [2] 新建  [3] 忽略" in second_card
    assert "已新建客户「恒康医疗器械有限公司」" in answers[3]
    assert "已处理" in answers[4]  # the same card again
    assert "共有 1 条待审核" in answers[5]
    assert "已关联到「恒康医疗」" in answers[7]
    assert "目前没有待审核的导入记录" in answers[8]
    names = {c.name for c in rows(services, CustomerRow)}
    assert names == {"恒康医疗", "恒康医疗器械有限公司"}
    assert count(services, ContactRow) == 3  # 张伟 (already known), 孙丽 joined 恒康医疗; 李娜 on the new one


class RefusingCheck(CrashingCheck):
    """Our DuplicateCheck port, refusing one company with a rule: that row alone is reported."""

    def __init__(self, real: Any, company: str) -> None:
        super().__init__(real, fail_on=0)
        self.company = company

    def decide(self, uow: UnitOfWork, record: NewCustomer, phone_norm: str | None) -> DuplicateDecision:
        if record.company == self.company:
            raise RuleViolation("这家公司在黑名单中，不能导入。")
        return self.real.decide(uow, record, phone_norm)


def test_a_row_a_rule_refuses_is_reported_and_the_rest_of_its_batch_is_written(
    services: Services, tmp_path: Path
) -> None:
    lines = ["公司,联系人,手机"] + [f"{firm(i)},{person(i)},139{i:08d}" for i in range(6)]
    services.dedup = RefusingCheck(services.dedup, firm(2))
    _, report = do_import(services, write_csv(tmp_path / "x.csv", lines), chunk_rows=4)
    assert [(p.row_no, p.reasons) for p in report.failed] == [(4, ["未导入：这家公司在黑名单中，不能导入。"])]
    assert sorted(c.name for c in rows(services, CustomerRow)) == sorted(firm(i) for i in (0, 1, 3, 4, 5))
    assert count(services, DealRow) == 5 and count(services, ContactRow) == 5
    assert report.summary["failed"] == 1 and report.summary["created"] == 5


def test_what_the_dry_run_says_is_what_the_import_does(services: Services, tmp_path: Path) -> None:
    """The file's own duplicates are settled by the batch grouping, not asked about again row by row:
    on a noisy generated sheet (same brands in other cities, typos) the summary before writing holds."""
    from bench.gen_customers import write_sheet

    path = tmp_path / "noisy.csv"
    write_sheet(path, 400, seed=7)
    plan, report = do_import(services, path)
    s = report.summary
    assert (s["created"], s["joined"]) == (plan.groups_by_kind["new"], plan.file_duplicates)
    assert s["linked"] == 0 and s["review_items"] == 0
    assert count(services, CustomerRow) == plan.groups
