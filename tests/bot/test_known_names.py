"""Customers in the database are known to the parser, including ones created a moment ago."""

from __future__ import annotations

import pytest

from bot.services import Services
from tests.transcript import replies, run

pytest.importorskip("bot.nlp.parser")


def test_a_customer_created_in_chat_is_recognised_in_the_next_message(services: Services) -> None:
    out = run(services, """
        !now 2026-03-10 09:00
        @zhangsan: /新客户 蓝鲸 赵敏 13812345678
        @zhangsan: 今天去蓝鲸见了赵敏，对方意向很强，下周二演示
    """)
    card = replies(out, "zhangsan")[1]
    assert "客户：蓝鲸" in card and "（新建）" not in card and "赵敏" in card
