"""Merging duplicates (manager and above) and undoing it within 30 days."""

from __future__ import annotations

from sqlalchemy import select

from bot.services import Services
from storage.models import AuditRow, ContactRow, CustomerRow, DealRow, FollowUpRow, MergeLinkRow
from tests.transcript import replies, run


def rows(services: Services, row: type) -> list:
    with services.uow_factory() as uow:
        out = list(uow.session.scalars(select(row).order_by(row.id)))
        uow.session.expunge_all()
        return out


SETUP = """
    !now 2026-03-10 09:00
    @zhaoqiang: /新客户 恒康医疗 张伟 13812345678
    @zhaoqiang: /新客户 顺驰冷链物流 梁经理 13998765432
    @zhaoqiang: /跟进 顺驰冷链物流 电话 推进 报价 2026-03-12
"""


def test_merge_moves_everything_and_undo_restores_it(services: Services) -> None:
    out = run(services, SETUP + """
        @zhaoqiang: /合并 恒康医疗 顺驰冷链物流 重复录入
        @zhaoqiang > 撤销合并
        @zhaoqiang > 撤销合并
    """)
    answers = replies(out, "zhaoqiang")
    assert "客户已合并" in answers[3] and "联系人 1 个，商机 1 个，跟进 1 条" in answers[3]
    assert "合并已撤销" in answers[4]
    assert "已处理" in answers[5]
    keep, gone = rows(services, CustomerRow)
    assert (keep.status, gone.status) == ("active", "active")  # undone at the end
    link = rows(services, MergeLinkRow)[0]
    assert link.undone_by == "zhaoqiang"
    assert {c.customer_id for c in rows(services, ContactRow)} == {keep.id, gone.id}
    assert [d.customer_id for d in rows(services, DealRow)] == [keep.id, gone.id]
    assert rows(services, FollowUpRow)[0].customer_id == gone.id
    assert {a.action for a in rows(services, AuditRow)} >= {"customer.merge", "customer.unmerge"}


def test_reps_cannot_merge_and_undo_expires_after_30_days(services: Services) -> None:
    out = run(services, SETUP + """
        @zhangsan: /合并 恒康医疗 顺驰冷链物流
        @zhaoqiang: /合并 恒康医疗 顺驰冷链物流
        @zhaoqiang: /合并 恒康医疗 恒康医疗
        @zhaoqiang: /合并 恒康医疗 不存在的公司
        !now 2026-04-20 09:00
        @zhaoqiang: /撤销合并 顺驰冷链物流
    """)
    answers = replies(out, "zhaoqiang")
    assert "只有主管及以上" in replies(out, "zhangsan")[0] or "没有找到" in replies(out, "zhangsan")[0]
    assert "客户已合并" in answers[3]
    assert "不能把客户合并到它自己" in answers[4]
    assert "没有找到客户" in answers[5]
    assert "超过 30 天" in answers[6]
    assert [c.status for c in rows(services, CustomerRow)] == ["active", "merged"]
