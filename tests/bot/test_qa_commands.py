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
    out = run(services, """
        @zhangsan: /新客户 恒康医疗 张伟 13812345678
        @zhangsan: ／客户　恒康
        @zhangsan: /客户　恒康
    """)
    answers = replies(out, "zhangsan")
    assert "【恒康医疗】" in answers[1] and "【恒康医疗】" in answers[2]


def test_help_lists_the_everyday_commands_first(services: Services) -> None:
    out = run(services, "@zhangsan: /帮助")
    [text] = replies(out, "zhangsan")
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("/")]
    assert lines[0].startswith("/新客户") and lines[1].startswith("/跟进") and lines[2].startswith("/客户")


def test_editing_a_followup_accepts_a_colon_or_no_separator(services: Services) -> None:
    out = run(services, """
        !now 2026-03-10 10:00
        @zhangsan: 电话联系了仁济康复器械的李经理，对方嫌价格高，明天再打
        @zhangsan > 修改
        @zhangsan: 结论：推进
        @zhangsan > 修改
        @zhangsan: 金额80万
    """)
    answers = replies(out, "zhangsan")
    assert "结论：推进" in answers[2] and "已修改" in answers[2]
    assert "金额：80 万元" in answers[4]


def test_pressing_another_reps_followup_card_says_whose_it_is(services: Services) -> None:
    run(services, "@zhangsan: 电话联系了仁济康复器械的李经理，对方嫌价格高，明天再打")
    with services.uow_factory() as uow:
        card = uow.session.scalars(select(CardRow).filter_by(user_id="zhangsan")).one()
        card_id, buttons = card.id, card.body["buttons"]
    for button in buttons:
        press(services, CardAction("console", uuid.uuid4().hex, "lisi", button["action_id"], card_ref=card_id))
    lines: list[str] = []
    drain_console(services, lines.append)
    assert len(lines) == 3 and all("张三" in line and "本人" in line for line in lines)
    out = run(services, "@zhangsan > 确认")
    assert "已确认" in replies(out, "zhangsan")[0]
