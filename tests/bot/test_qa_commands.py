"""QA: commands typed the way people type them on a phone — full-width, swapped, with odd separators."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from bot.channels.console import drain_console, press
from bot.services import Services
from bot.types import CardAction
from storage.models import CardRow
from tests.transcript import replies, run


def test_full_width_slash_and_space_after_the_command_name(services: Services) -> None:
    out = run(
        services,
        """
        @zhangsan: /新客户 恒康医疗 张伟 13812345678
        @zhangsan: ／客户　恒康
        @zhangsan: /客户　恒康
    """,
    )
    answers = replies(out, "zhangsan")
    assert "【恒康医疗】" in answers[1] and "【恒康医疗】" in answers[2]


def test_help_lists_the_everyday_commands_first(services: Services) -> None:
    out = run(services, "@zhangsan: /帮助")
    [text] = replies(out, "zhangsan")
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("/")]
    assert lines[0].startswith("/新客户") and lines[1].startswith("/跟进") and lines[2].startswith("/客户")


def test_editing_a_followup_accepts_a_colon_or_no_separator(services: Services) -> None:
    out = run(
        services,
        """
        !now 2026-03-10 10:00
        @zhangsan: 电话联系了仁济康复器械的李经理，对方嫌价格高，明天再打
        @zhangsan > 修改
        @zhangsan: 结论：推进
        @zhangsan > 修改
        @zhangsan: 金额80万
    """,
    )
    answers = replies(out, "zhangsan")
    assert "结论：推进" in answers[2] and "已修改" in answers[2]
    assert "金额：80 万元" in answers[4]


def test_pressing_another_reps_followup_card_says_whose_it_is(services: Services) -> None:
    run(services, "@zhangsan: 电话联系了仁济康复器械的李经理，对方嫌价格高，明天再打")
    with services.uow_factory() as uow:
        card = uow.session.scalars(select(CardRow).filter_by(user_id="zhangsan")).one()
        card_id, buttons = card.id, card.body["buttons"]
    for button in buttons:
        press(
            services, CardAction("console", uuid.uuid4().hex, "lisi", button["action_id"], card_ref=card_id)
        )
    lines: list[str] = []
    drain_console(services, lines.append)
    assert len(lines) == 3 and all("张三" in line and "本人" in line for line in lines)
    out = run(services, "@zhangsan > 确认")
    assert "已确认" in replies(out, "zhangsan")[0]


def test_followup_command_accepts_everyday_words_for_the_method(services: Services) -> None:
    out = run(
        services,
        """
        @zhangsan: /新客户 恒康医疗 张伟 13812345678
        @zhangsan: /跟进 恒康医疗 打电话 推进 报价 明天
        @zhangsan: /跟进 恒康医疗 电联
        @zhangsan: /跟进 恒康医疗 面谈
    """,
    )
    answers = replies(out, "zhangsan")
    assert "方式：电话" in answers[1] and "方式：电话" in answers[2] and "方式：拜访" in answers[3]


def test_customer_card_shows_a_command_followup_as_words_not_the_command(services: Services) -> None:
    out = run(
        services,
        """
        !now 2026-03-10 10:00
        @zhangsan: /新客户 恒康医疗 张伟 13812345678
        @zhangsan: /跟进 恒康医疗 电话 推进 演示 2026-03-11
        @zhangsan: /客户 恒康
    """,
    )
    card = replies(out, "zhangsan")[-1]
    assert "/跟进" not in card and "电话 · 推进 · 下一步：演示" in card


def test_a_rep_trying_to_merge_is_told_who_may_before_any_lookup(services: Services) -> None:
    out = run(services, "@zhangsan: /合并 恒康医疗 恒康医疗器械")
    assert "只有主管及以上可以合并客户" in replies(out, "zhangsan")[0]


def test_advance_with_the_stage_first_and_amount_called_price(services: Services) -> None:
    out = run(
        services,
        """
        @zhangsan: /新客户 恒康医疗 张伟 13812345678
        @zhangsan: /推进 初步接触 恒康医疗
        @zhangsan: /修改商机 恒康医疗 价格 50万
        """,
    )
    answers = replies(out, "zhangsan")
    assert "已推进：线索 → 初步接触" in answers[1]
    assert "已修改金额" in answers[2]
