"""Chat flows as transcripts through the console channel: what a user says, what the bot answers."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.services import Services
from storage.models import CustomerRow, FollowUpRow, InboxRow
from tests.transcript import replies, run


def count(services: Services, row: type) -> int:
    with services.uow_factory() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(row)))


def test_rep_creates_a_customer_records_a_followup_and_looks_it_up(services: Services) -> None:
    out = run(services, """
        !now 2026-03-10 16:40
        @zhangsan: /新客户 恒康医疗 张伟 138 1234 5678
        @zhangsan: /跟进 恒康医疗 拜访 推进 演示 2026-03-18
        @zhangsan: /客户 恒康
    """)
    created, recorded, found = replies(out, "zhangsan")
    assert "【客户已建档】" in created and "张伟 13812345678" in created and "线索" in created
    assert "【跟进已记录】" in recorded and "下次跟进：2026-03-18" in recorded and "下一步：演示" in recorded
    assert "下次跟进 2026-03-18" in found and "2026-03-10 16:40" in found
    assert count(services, CustomerRow) == 1 and count(services, FollowUpRow) == 1


def test_duplicate_company_links_instead_of_creating(services: Services) -> None:
    out = run(services, """
        @zhangsan: /新客户 恒康医疗 张伟 13812345678
        @zhangsan: /新客户 恒康医疗 王芳 13912345678
    """)
    assert "已关联到已有客户" in replies(out, "zhangsan")[1]
    assert count(services, CustomerRow) == 1


def test_bad_input_gets_a_polite_chinese_answer_and_changes_nothing(services: Services) -> None:
    out = run(services, """
        @zhangsan: /新客户
        @zhangsan: /新客户 好公司 李雷 12345
        @zhangsan: /跟进 不存在的公司 拜访
        @zhangsan: /跟进
        @zhangsan: /xinkehu
        @zhangsan: /无效 恒康医疗
    """)
    answers = replies(out, "zhangsan")
    assert "请告诉我公司名称" in answers[0] and "例如" in answers[0]
    assert "不像是有效的电话号码" in answers[1]
    assert "没有找到客户" in answers[2]
    assert "例如：/跟进" in answers[3]
    assert "没有 /xinkehu 这个命令" in answers[4]
    assert "不会删除" in answers[5] or "只会标记为无效" in answers[5]
    assert count(services, CustomerRow) == 0


def test_unknown_sender_is_refused_and_nothing_is_stored(services: Services) -> None:
    out = run(services, """
        @stranger: /新客户 恒康医疗 张伟 13812345678
    """)
    assert "还不是 crmbot 的用户" in replies(out, "stranger")[0]
    assert count(services, CustomerRow) == 0


def test_oversized_message_is_refused(services: Services) -> None:
    out = run(services, "@zhangsan: /新客户 " + "很" * 5000)
    assert "消息太长了" in replies(out, "zhangsan")[0]
    assert count(services, CustomerRow) == 0


def test_mark_invalid_never_deletes(services: Services) -> None:
    out = run(services, """
        @zhangsan: /新客户 恒康医疗 张伟 13812345678
        @zhangsan: /删除 恒康医疗 重复录入
        @zhangsan: /客户 恒康
    """)
    answers = replies(out, "zhangsan")
    assert "标记为无效" in answers[1] and "数据仍保留" in answers[1]
    assert "已标记无效：重复录入" in answers[2]
    assert count(services, CustomerRow) == 1


def test_every_message_is_in_the_inbox_once(services: Services) -> None:
    run(services, """
        @zhangsan: /帮助
        @lisi: /帮助
    """)
    assert count(services, InboxRow) == 2
