"""QA: a message sent while the bot waits for an answer must not be swallowed or lose a follow-up."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from bot.channels.console import drain_console, press
from bot.services import Services
from bot.types import CardAction
from storage.models import CardRow, CustomerRow, FollowUpRow
from tests.transcript import replies, run


def followups(services: Services) -> list[tuple[str, str | None]]:
    """(customer name, next follow-up date) of every live follow-up, oldest first."""
    with services.uow_factory() as uow:
        rows = uow.session.execute(
            select(CustomerRow.name, FollowUpRow.next_followup_on)
            .join(CustomerRow, CustomerRow.id == FollowUpRow.customer_id)
            .where(FollowUpRow.status == "active")
            .order_by(FollowUpRow.id)
        ).all()
    return [(name, when.isoformat() if when else None) for name, when in rows]


def test_a_new_followup_sent_instead_of_the_date_is_recorded_not_taken_as_the_date(
    services: Services,
) -> None:
    out = run(
        services,
        """
        !now 2026-03-10 16:40
        @zhangsan: 电话联系了仁济康复器械的李经理，对方嫌价格高
        @zhangsan: 下午拜访了恒康医疗的张伟 138 1234 5678，关注交付周期，预算50万，下周三约演示
    """,
    )
    answers = replies(out, "zhangsan")
    assert "先不设下次跟进" in answers[2] and "仁济康复器械" in answers[2]
    assert "【跟进已记录】" in answers[3] and "恒康医疗（新建）" in answers[3]
    assert followups(services) == [("仁济康复器械", None), ("恒康医疗", "2026-03-18")]


def test_a_date_answer_naming_the_same_customer_is_still_the_date(services: Services) -> None:
    run(
        services,
        """
        !now 2026-03-10 16:40
        @zhangsan: 电话联系了仁济康复器械的李经理，对方嫌价格高
        @zhangsan: 下周三再去仁济康复器械拜访
    """,
    )
    assert followups(services) == [("仁济康复器械", "2026-03-18")]


def test_a_new_followup_sent_instead_of_the_customer_is_recorded_and_the_old_one_explained(
    services: Services,
) -> None:
    out = run(
        services,
        """
        !now 2026-03-10 10:00
        @zhangsan: 拜访了客户，聊得不错
        @zhangsan: 今天上午去了华美口腔，王总说下周五签合同
    """,
    )
    answers = replies(out, "zhangsan")
    assert "拜访了客户，聊得不错" in answers[1] and "没有记录" in answers[1]
    assert "华美口腔" in answers[2] and "王总" in answers[2] and "2026-03-20" in answers[2]
    assert followups(services) == [("华美口腔", "2026-03-20")]


def test_a_plain_customer_answer_still_completes_the_pending_followup(services: Services) -> None:
    run(
        services,
        """
        !now 2026-03-10 10:00
        @zhangsan: 拜访了客户，聊得不错，下周一再联系
        @zhangsan: 恒康医疗
    """,
    )
    assert followups(services) == [("恒康医疗", "2026-03-16")]


LINK_QUESTION = """
    !now 2026-03-10 10:00
    @zhangsan: /新客户 恒康医疗 张伟 13812345678
    @zhangsan: 上午拜访了恒康医疗器械有限公司的王芳，下周三演示
"""


def customers(services: Services) -> list[str]:
    with services.uow_factory() as uow:
        return list(uow.session.scalars(select(CustomerRow.name).order_by(CustomerRow.id)))


def test_typing_yes_to_the_link_question_links_and_records_the_waiting_followup(services: Services) -> None:
    out = run(
        services,
        LINK_QUESTION
        + """
        @zhangsan: 好的
        @zhangsan > 新建客户
    """,
    )
    answers = replies(out, "zhangsan")
    assert "已关联到已有客户" in answers[2] and "【跟进已记录】" in answers[3]
    assert "已处理" in answers[-1]  # the card was claimed by the typed answer: no second customer
    assert customers(services) == ["恒康医疗"]
    assert followups(services) == [("恒康医疗", "2026-03-18")]


def test_typing_new_creates_the_customer_and_records_the_followup(services: Services) -> None:
    run(services, LINK_QUESTION + "@zhangsan: 新建")
    assert customers(services) == ["恒康医疗", "恒康医疗器械有限公司"]
    assert followups(services) == [("恒康医疗器械有限公司", "2026-03-18")]


def press_link_card(services: Services, who: str, label: str) -> list[str]:
    """`who` presses a button of the latest "是否关联到 X？" card (sent to zhangsan)."""
    with services.uow_factory() as uow:
        cards = uow.session.scalars(
            select(CardRow).filter(CardRow.user_id == "zhangsan").order_by(CardRow.seq)
        ).all()
        link = [c for c in cards if c.body["title"].startswith("是否关联")][-1]
        card_id, buttons = link.id, link.body["buttons"]
    action_id = next(b["action_id"] for b in buttons if b["label"] == label)
    press(services, CardAction("console", uuid.uuid4().hex, who, action_id, card_ref=card_id))
    lines: list[str] = []
    drain_console(services, lines.append)
    return lines


def test_the_link_card_still_works_after_another_message_and_nothing_is_lost(services: Services) -> None:
    out = run(services, LINK_QUESTION + "@zhangsan: 电话联系了仁济康复器械的李经理，明天再打")
    answers = replies(out, "zhangsan")
    assert "还没回答" in answers[2] and "仍然有效" in answers[2]
    assert "仁济康复器械" in answers[3]
    lines = press_link_card(services, "zhangsan", "关联到已有客户")
    assert any("已关联到已有客户" in line for line in lines)
    assert followups(services) == [("仁济康复器械", "2026-03-11"), ("恒康医疗", "2026-03-18")]
    assert customers(services) == ["恒康医疗", "仁济康复器械"]


def test_someone_else_pressing_the_link_card_is_told_it_is_not_theirs(services: Services) -> None:
    run(services, LINK_QUESTION)
    lines = press_link_card(services, "lisi", "新建客户") + press_link_card(
        services, "zhaoliu", "关联到已有客户"
    )
    assert len(lines) == 2 and all("不是发给您的" in line for line in lines)
    assert customers(services) == ["恒康医疗"] and followups(services) == []
