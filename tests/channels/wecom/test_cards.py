"""Rendering neutral cards as WeCom template cards, task ids, and text splitting by bytes."""

from __future__ import annotations

import re

import pytest

from bot.channels.wecom.cards import make_task_id, render_button_card, render_card_as_text, split_text
from bot.types import Button, Card

CARD = Card(
    title="跟进提醒：华为技术有限公司",
    description="下次跟进时间已过 2 天",
    fields=(("客户", "华为"), ("阶段", "方案"), ("负责人", "张三")),
    buttons=(
        Button("已跟进", "followup:done:42", "primary"),
        Button("延期 3 天", "alert:snooze:42:3d"),
        Button("放弃", "deal:drop:42", "danger"),
    ),
    footer="提醒 #42",
)


def test_button_card_layout() -> None:
    card = render_button_card(CARD, "t-1")
    assert card["card_type"] == "button_interaction"
    assert card["main_title"] == {"title": "跟进提醒：华为技术有限公司", "desc": "下次跟进时间已过 2 天"}
    assert card["horizontal_content_list"] == [
        {"keyname": "客户", "value": "华为"},
        {"keyname": "阶段", "value": "方案"},
        {"keyname": "负责人", "value": "张三"},
    ]
    assert card["button_list"] == [
        {"text": "已跟进", "style": 1, "key": "followup:done:42"},
        {"text": "延期 3 天", "style": 2, "key": "alert:snooze:42:3d"},
        {"text": "放弃", "style": 3, "key": "deal:drop:42"},
    ]
    assert card["task_id"] == "t-1"
    assert card["sub_title_text"] == "提醒 #42"


def test_fields_beyond_six_go_to_the_secondary_text() -> None:
    fields = tuple((f"k{i}", f"v{i}") for i in range(8))
    card = render_button_card(Card("t", fields=fields, buttons=(Button("ok", "a:b"),)), "t-1")
    assert len(card["horizontal_content_list"]) == 6
    assert card["sub_title_text"] == "k6：v6\nk7：v7"


def test_cards_need_buttons_and_short_keys() -> None:
    with pytest.raises(ValueError):
        render_button_card(Card("t"), "t-1")
    with pytest.raises(ValueError):
        render_button_card(Card("t", buttons=(Button("x", "a" * 1025),)), "t-1")
    with pytest.raises(ValueError):
        Card("t", buttons=tuple(Button(str(i), f"a:{i}") for i in range(7)))


def test_task_ids_are_valid_stable_and_distinct() -> None:
    ugly = "outbox/行 42 with spaces & symbols " * 10
    task_id = make_task_id(ugly, CARD)
    assert re.fullmatch(r"[A-Za-z0-9_\-@]{1,128}", task_id)
    assert make_task_id(ugly, CARD) == task_id  # a retry of the same row reuses it
    assert make_task_id("42", CARD) != make_task_id("43", CARD)
    assert make_task_id("42", CARD) != make_task_id("42", Card("other", buttons=CARD.buttons))
    assert make_task_id("42", CARD) != make_task_id("42", CARD, variant="r")


def test_buttonless_card_renders_as_text() -> None:
    text = render_card_as_text(
        Card("已处理", description="张三 已跟进", fields=(("客户", "华为"),), footer="10:32")
    )
    assert text == "已处理\n张三 已跟进\n客户：华为\n10:32"


def test_short_text_is_one_piece() -> None:
    assert split_text("你好") == ["你好"]
    assert split_text("") == []
    exact = "好" * 682 + "ab"  # 2046 + 2 = 2048 bytes
    assert split_text(exact) == [exact]


@pytest.mark.parametrize("unit", ["a", "汉", "😀", "é"])
def test_split_respects_the_byte_limit_on_character_boundaries(unit: str) -> None:
    text = unit * 3000
    pieces = split_text(text)
    assert all(len(p.encode("utf-8")) <= 2048 for p in pieces)
    assert "".join(pieces) == text  # nothing lost, no broken characters
    assert len(pieces) == -(-len(text.encode()) // (2048 - 2048 % len(unit.encode())))


def test_split_prefers_line_breaks() -> None:
    lines = [f"{i:03d} 客户跟进记录：拜访并演示了方案，客户反馈积极" for i in range(100)]
    pieces = split_text("\n".join(lines))
    assert len(pieces) > 1
    assert all(len(p.encode()) <= 2048 for p in pieces)
    assert "\n".join(pieces).split("\n") == lines  # every piece ends on a whole line
