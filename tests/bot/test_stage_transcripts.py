"""Stage rules in chat: what a rep and a manager say, what the bot answers, and what is on record."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.channels.console import drain_console, press
from bot.services import Services
from bot.types import CardAction
from storage.models import ApprovalRow, AuditRow, CardRow, DealRow, EvidenceFileRow, StageChangeRow
from tests.transcript import replies, run


def rows(services: Services, model: type, **where: object) -> list:  # type: ignore[type-arg]
    with services.uow_factory() as uow:
        q = select(model).filter_by(**where).order_by(model.id)  # type: ignore[attr-defined]
        found = list(uow.session.scalars(q))
        uow.session.expunge_all()  # keep the loaded values after the unit of work closes
        return found


def deal(services: Services) -> DealRow:
    [only] = rows(services, DealRow)
    return only


def count(services: Services, model: type) -> int:
    with services.uow_factory() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(model)))


@pytest.fixture
def files(tmp_path: Path) -> Path:
    folder = tmp_path / "files"
    folder.mkdir()
    for name, body in (
        ("需求.pdf", b"requirements"),
        ("报价单.pdf", b"quote v1"),
        ("合同.pdf", b"signed contract"),
    ):
        (folder / name).write_bytes(body)
    return folder


START = """
    !now 2026-03-10 09:00
    @zhangsan: /新客户 恒康医疗 张伟 13812345678
    @zhangsan: /推进 恒康医疗 初步接触
    @zhangsan: /推进 恒康医疗 需求确认
"""


def to_contract_review(files: Path) -> str:
    return (
        START
        + f"""
    @zhangsan 📎 {files}/需求.pdf /证据 恒康医疗 需求文档
    @zhangsan: /推进 恒康医疗 方案演示
    @zhangsan: /修改商机 恒康医疗 金额 50万
    @zhangsan: /推进 恒康医疗 报价
    @zhangsan 📎 {files}/报价单.pdf
    @zhangsan: 恒康医疗 报价单
    @zhangsan: /推进 恒康医疗 合同评审
    """
    )


def test_skip_is_refused_with_the_missing_evidence_then_a_file_unlocks_the_next_stage(
    services: Services, files: Path
) -> None:
    out = run(
        services,
        START
        + f"""
        @zhangsan: /推进 恒康医疗 报价
        @zhangsan: /推进 恒康医疗 方案演示
        @zhangsan 📎 {files}/需求.pdf
        @zhangsan > 推进到方案演示
    """,
    )
    answers = replies(out, "zhangsan")
    skip, missing, saved, moved = answers[3:7]
    assert "不能从「需求确认」直接跳到「报价」" in skip and "下一步是「方案演示」" in skip
    assert "上传需求文档，或至少 2 次有效通话" in skip
    assert "还缺：上传需求文档" in missing and "直接发给我" in missing
    assert "已保存：需求文档《需求.pdf》" in saved and "条件已满足" in saved
    assert "已推进：需求确认 → 方案演示" in moved
    assert deal(services).stage == "demo"
    kinds = [c.kind for c in rows(services, StageChangeRow)]
    assert kinds == ["forward", "forward", "forward", "refused", "refused", "forward"]
    [evidence] = rows(services, EvidenceFileRow)
    assert (
        evidence.kind == "requirements" and len(evidence.sha256) == 64 and Path(evidence.stored_path).exists()
    )


def test_regression_waits_for_the_manager_and_moves_only_on_approval(services: Services) -> None:
    out = run(
        services,
        START
        + """
        @zhangsan: /回退 恒康医疗 初步接触
        @zhangsan: /回退 恒康医疗 初步接触 客户预算需要重新评估
        @zhaoqiang > 驳回
        @zhangsan: /回退 恒康医疗 初步接触 客户换了对接人
        @zhaoqiang > 批准
        @zhaoqiang > 批准
    """,
    )
    rep, manager = replies(out, "zhangsan"), replies(out, "zhaoqiang")
    assert "需要说明原因" in rep[3]
    assert "等待赵强审批" in rep[4] and "保持在「需求确认」" in rep[4]
    assert (
        "【商机回退审批】" in manager[0]
        and "需求确认 → 初步接触" in manager[0]
        and "客户预算需要重新评估" in manager[0]
    )
    assert "驳回了您" in rep[5] and "保持不变" in rep[5]
    assert "已批准您" in rep[7]
    assert "已处理" in manager[-1]
    assert deal(services).stage == "qualified"
    assert [c.kind for c in rows(services, StageChangeRow)][3:] == [
        "requested",
        "rejected",
        "requested",
        "approved",
    ]
    assert [a.state for a in rows(services, ApprovalRow)] == ["rejected", "approved"]


def test_approval_pressed_by_someone_else_or_twice_changes_nothing(services: Services) -> None:
    run(services, START + "@zhangsan: /回退 恒康医疗 线索 录错了")
    [card] = rows(services, CardRow, user_id="zhaoqiang")
    approve = next(b["action_id"] for b in card.body["buttons"] if b["label"] == "批准")
    lines: list[str] = []
    for who in ("lisi", "zhangsan"):  # another rep, and the requester themself
        press(services, CardAction("console", uuid.uuid4().hex, who, approve, card_ref=card.id))
    drain_console(services, lines.append)
    assert all("只能由审批人赵强处理" in line for line in lines) and len(lines) == 2
    assert deal(services).stage == "needs_confirmed"
    out = run(
        services,
        """
        @zhaoqiang > 批准
        @zhaoqiang > 批准
    """,
    )
    assert "已处理" in replies(out, "zhaoqiang")[-1]
    assert deal(services).stage == "lead"
    assert [c.kind for c in rows(services, StageChangeRow)].count("approved") == 1


def test_frozen_amount_changes_only_through_approval(services: Services, files: Path) -> None:
    out = run(
        services,
        to_contract_review(files)
        + f"""
        @zhangsan 📎 {files}/合同.pdf /证据 恒康医疗 合同
        @zhangsan: /推进 恒康医疗 已签约
        @zhangsan: /修改商机 恒康医疗 金额 80万
        @zhangsan: /修改商机 恒康医疗 金额 80万 客户追加两台监护仪
        @zhaoqiang > 批准
        @zhangsan: /商机 恒康医疗
    """,
    )
    rep = replies(out, "zhangsan")
    assert any("已推进：合同评审 → 已签约" in r for r in rep)
    assert any("需要说明修改金额的原因" in r or "请说明修改金额的原因" in r for r in rep)
    assert any("已冻结，已提交修改申请" in r for r in rep)
    manager = replies(out, "zhaoqiang")
    assert "冻结字段修改审批" in manager[0] and "50 万元 → 80 万元" in manager[0]
    assert "金额：***" in rep[-1] and "已签约" in rep[-1]  # a rep does not see amounts ([permissions])
    d = deal(services)
    assert d.amount == 800000 and d.status == "won"
    edits = [a for a in rows(services, AuditRow) if a.action == "deal.edit_frozen"]
    assert edits[0].actor_id == "zhaoqiang" and edits[0].before == {"amount": 500000.0}


def test_lost_needs_a_reason_from_the_list(services: Services) -> None:
    out = run(
        services,
        START
        + """
        @zhangsan: /流失 恒康医疗
        @zhangsan: /流失 恒康医疗 天气不好
        @zhangsan: /流失 恒康医疗 竞品 对方选了迈瑞
        @zhangsan: /推进 恒康医疗 方案演示
    """,
    )
    rep = replies(out, "zhangsan")
    assert "可选原因：价格太高" in rep[3]
    assert "不在流失原因列表中" in rep[4]
    assert "商机已标记为流失" in rep[5] and "选择了竞品：对方选了迈瑞" in rep[5]
    assert "已经是「已流失」" in rep[6]
    d = deal(services)
    assert d.status == "lost" and d.lost_reason == "选择了竞品：对方选了迈瑞"


def test_bad_input_gets_a_clear_answer_and_changes_nothing(services: Services, tmp_path: Path) -> None:
    big = tmp_path / "big.pdf"
    with big.open("wb") as f:
        f.truncate(21 * 1024 * 1024)  # sparse: 21 MB on paper, nothing to write
    out = run(
        services,
        START
        + f"""
        @zhangsan: /推进 恒康医疗 报介
        @zhangsan: /推进 不存在的医院 方案演示
        @zhangsan: /商机 不存在的医院
        @zhangsan 📎 {tmp_path}/missing.pdf
        @zhangsan 📎 {big}
        @lisi: /推进 恒康医疗 方案演示
    """,
    )
    rep = replies(out, "zhangsan")
    assert "没有叫「报介」的阶段" in rep[3] and "您是不是想说「报价」" in rep[3]
    assert "没有找到客户「不存在的医院」" in rep[4] and "没有找到客户" in rep[5]
    assert "文件不存在或已过期" in rep[6]
    assert "超过了 20 MB 的上限" in rep[7]
    assert "没有找到客户" in replies(out, "lisi")[0]
    assert deal(services).stage == "needs_confirmed" and count(services, EvidenceFileRow) == 0
    press(services, CardAction("console", "x1", "zhangsan", "stage:advance:9999:demo"))
    lines: list[str] = []
    drain_console(services, lines.append)
    assert "这个商机已不存在" in lines[0]


def test_several_open_deals_ask_which_one(services: Services) -> None:
    out = run(
        services,
        """
        @zhangsan: /新客户 恒康医疗 张伟 13812345678
        @zhangsan: /新商机 恒康医疗 二期扩容
        @zhangsan: /推进 恒康医疗 初步接触
        @zhangsan > 2. 二期扩容
        @zhangsan: /商机 恒康医疗
    """,
    )
    rep = replies(out, "zhangsan")
    assert "商机已新建" in rep[1]
    assert "有 2 个商机，请选择一个" in rep[2]
    assert "已推进：线索 → 初步接触" in rep[3] and "二期扩容" not in rep[3].split("客户：")[0]
    stages = {d.title: d.stage for d in rows(services, DealRow)}
    assert stages == {"恒康医疗 商机": "lead", "二期扩容": "qualified"}


def test_evidence_described_after_the_file(services: Services, files: Path) -> None:
    out = run(
        services,
        START
        + f"""
        @zhangsan 📎 {files}/需求.pdf
        @zhangsan: 恒康医疗
        @zhangsan: 需求文档 恒康医疗
    """,
    )
    rep = replies(out, "zhangsan")
    assert "这是哪个客户的什么材料" in rep[3]
    assert "还需要知道材料类型" in rep[4]
    assert "已保存：需求文档《需求.pdf》" in rep[5]
    assert count(services, EvidenceFileRow) == 1
