"""Free-text follow-ups in chat: parse, find or create the customer, record, ask only what is missing."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from bot.services import Services
from storage.models import CustomerRow, DealRow, FollowUpRow
from tests.transcript import replies, run


def rows(services: Services, row: type) -> list:
    with services.uow_factory() as uow:
        result = list(uow.session.scalars(select(row).order_by(row.id)))
        uow.session.expunge_all()
        return result


@pytest.fixture(autouse=True)
def _parser_loaded(services: Services) -> None:
    pytest.importorskip("bot.nlp.parser")


def test_a_full_message_is_recorded_and_confirmed(services: Services) -> None:
    out = run(services, """
        !now 2026-03-10 16:40
        @zhangsan: 下午拜访了恒康医疗的张伟 138 1234 5678，关注交付周期，预算50万，下周三约演示
        @zhangsan > 确认
    """)
    card, confirmed = replies(out, "zhangsan")
    assert "【跟进已记录】" in card and "恒康医疗（新建）" in card and "张伟 13812345678" in card
    assert "下次跟进：2026-03-18" in card and "50 万元" in card and "交付" in card
    assert "已确认（张三 16:40）" in confirmed
    [followup] = rows(services, FollowUpRow)
    assert followup.source == "chat" and followup.method == "visit" and followup.amount == 500000
    [deal] = rows(services, DealRow)
    assert deal.next_followup_on == date(2026, 3, 18) and deal.pain_points == ["delivery"]


def test_known_customer_is_found_not_duplicated(services: Services) -> None:
    run(services, """
        !now 2026-03-10 09:00
        @zhangsan: /新客户 恒康医疗 张伟 13812345678
        @zhangsan: 给13812345678打了电话，对方说下周二来公司看演示
    """)
    assert len(rows(services, CustomerRow)) == 1
    [followup] = rows(services, FollowUpRow)
    assert followup.method == "phone" and followup.customer_id == rows(services, CustomerRow)[0].id


def test_missing_date_is_asked_after_recording(services: Services) -> None:
    out = run(services, """
        !now 2026-03-10 09:00
        @zhangsan: 电话联系了仁济康复器械的李经理，对方嫌价格高
        @zhangsan: 随便
        @zhangsan: 下周一
    """)
    answers = replies(out, "zhangsan")
    assert "下次什么时候跟进" in answers[1]
    assert "没看懂这个日期" in answers[2]
    assert "2026-03-16" in answers[3]
    [deal] = rows(services, DealRow)
    assert deal.next_followup_on == date(2026, 3, 16)


def test_missing_customer_is_asked_and_the_dialog_times_out_politely(services: Services) -> None:
    out = run(services, """
        !now 2026-03-10 09:00
        @zhangsan: 见了客户，聊得挺好，对方很有兴趣
        !advance 40m
        @zhangsan: 恒康医疗
    """)
    answers = replies(out, "zhangsan")
    assert "哪个客户" in answers[0]
    assert "已自动取消" in answers[1]
    assert rows(services, FollowUpRow) == []


def test_cancel_keeps_the_record_marked_voided(services: Services) -> None:
    out = run(services, """
        !now 2026-03-10 09:00
        @zhangsan: 拜访了恒康医疗张伟，预算50万，明天发报价
        @zhangsan > 取消
        @zhangsan > 取消
    """)
    answers = replies(out, "zhangsan")
    assert "跟进已取消" in answers[1]
    assert "已处理" in answers[2]
    [followup] = rows(services, FollowUpRow)
    assert followup.status == "voided"
    [deal] = rows(services, DealRow)
    assert deal.next_followup_on is None


def test_edit_a_field_from_the_card(services: Services) -> None:
    out = run(services, """
        !now 2026-03-10 09:00
        @zhangsan: 拜访了恒康医疗张伟，预算50万，明天发报价
        @zhangsan > 修改
        @zhangsan: 金额 80万
    """)
    assert "80 万元" in replies(out, "zhangsan")[-1]
    [followup] = rows(services, FollowUpRow)
    assert followup.amount == 800000


def test_questions_and_greetings_are_not_stored_as_followups(services: Services) -> None:
    out = run(services, """
        @zhangsan: /新客户 恒康医疗 张伟 13812345678
        @zhangsan: 你好
        @zhangsan: 张伟的电话是多少
        @zhangsan: 今天天气不错
    """)
    answers = replies(out, "zhangsan")
    assert "您好" in answers[1]
    assert "13812345678" in answers[2]
    assert "没太看懂" in answers[3]
    assert rows(services, FollowUpRow) == []


@pytest.mark.parametrize("text", ["", "😀😀😀", "\x00\x01\x02 binary \xff", "好" * 3999])
def test_odd_input_gets_a_reply_and_stores_nothing_wrong(services: Services, text: str) -> None:
    from bot.channels.console import drain_console, send_message

    printed: list[str] = []
    send_message(services, "zhangsan", text)
    drain_console(services, printed.append)
    assert printed and printed[0].startswith("→ zhangsan: ")
    assert rows(services, FollowUpRow) == []


def test_another_reps_customer_is_not_written_to(services: Services) -> None:
    out = run(services, """
        @lisi: /新客户 恒康医疗 张伟 13812345678
        @zhangsan: 给13812345678打了电话，对方说下周二来公司看演示
    """)
    assert "李四负责的客户" in replies(out, "zhangsan")[0]
    assert rows(services, FollowUpRow) == []


def test_confirm_keeps_a_field_the_rep_edited_in_between(services: Services) -> None:
    from sqlalchemy import update

    from storage.models import CardRow

    run(services, """
        !now 2026-03-10 09:00
        @zhangsan: 拜访了恒康医疗张伟，明天发报价
    """)
    with services.uow_factory() as uow:  # the card guessed an amount it was unsure of
        card = uow.cards.latest_for_user("zhangsan")
        body = dict(card.body)
        body["state"] = {**body["state"], "unsure": {"amount": 300000}}
        uow.session.execute(update(CardRow).where(CardRow.id == card.id).values(body=body))
        uow.commit()
    run(services, """
        @zhangsan > 修改
        @zhangsan: 金额 80万
        @zhangsan > 确认
    """)
    [followup] = rows(services, FollowUpRow)
    assert followup.amount == 800000
