"""Frame data → neutral events, without a network (the translator alone)."""

from __future__ import annotations

import json

import pytest

from bot.channels.dingtalk.inbound import AcceptGate, Ignored, InboundTranslator, Malformed
from bot.channels.dingtalk.settings import DingTalkSettings
from bot.types import IncomingMessage
from tests.channels.dingtalk.conftest import CollectingDispatcher
from tests.fakes.dingtalk import bot_audio, bot_text, card_callback

translator = InboundTranslator(DingTalkSettings(client_id="ding-app", client_secret="s"), client=None)


async def test_audio_recognition_is_read_from_sdk_extensions() -> None:
    msg = await translator.bot_message(bot_audio("明天上午去拜访美的", msg_id="a1"))
    assert (msg.text, msg.kind, msg.from_voice) == ("明天上午去拜访美的", "voice", True)


async def test_group_mention_by_at_users_without_is_in_at_list() -> None:
    data = bot_text("@机器人 查询", msg_id="g1", group=True, at_bot=True)
    del data["isInAtList"]
    msg = await translator.bot_message(data)
    assert msg.is_group and msg.mentioned_bot
    data["atUsers"] = [{"dingtalkId": "$:LWCP_v1:$someone-else"}]
    with pytest.raises(Ignored):
        await translator.bot_message(data)


async def test_rich_text_joins_its_text_parts() -> None:
    data = {
        **bot_text("x", msg_id="r1"),
        "msgtype": "richText",
        "content": {"richText": [{"text": "拜访"}, {"text": "华为"}]},
    }
    del data["text"]
    msg = await translator.bot_message(data)
    assert msg.text == "拜访华为" and msg.kind == "text"


@pytest.mark.parametrize(
    "data",
    [
        None,
        "text",
        {},
        {**bot_text("x"), "msgId": 5},
        {**bot_text("x"), "text": {"content": 5}},
        {**bot_text("x"), "text": {"content": "长" * 20_001}},
        {**bot_audio("x"), "content": ["recognition"]},
    ],
)
async def test_malformed_bot_messages(data: object) -> None:
    with pytest.raises(Malformed):
        await translator.bot_message(data)


@pytest.mark.parametrize(
    ("action_id", "ok"),
    [
        ("alert:snooze:42:3d", True),
        ("followup:done:42", True),
        ("deal:reassign:42:user_7", True),
        ("alert", False),  # not namespaced
        ("Alert:snooze:1", False),
        ("alert:snooze:<script>", False),
        ("alert:" + "1" * 65, False),
        ("a:" + ":".join(["x"] * 7), False),
        ("", False),
    ],
)
def test_card_action_ids_are_validated(action_id: str, ok: bool) -> None:
    data = card_callback("u1", "card-1", action_id)
    if ok:
        assert translator.card_action(data, "frame-1").action_id == action_id
    else:
        with pytest.raises(Malformed):
            translator.card_action(data, "frame-1")


def test_card_action_without_frame_id_gets_a_stable_event_id() -> None:
    data = card_callback("u1", "card-1", "alert:ack:1")
    first = translator.card_action(data, "")
    assert first.event_id == translator.card_action(json.loads(json.dumps(data)), "").event_id
    assert first.event_id != translator.card_action(card_callback("u2", "card-1", "alert:ack:1"), "").event_id


async def test_gate_lets_a_redelivery_through_after_the_inbox_failed() -> None:
    inbox = CollectingDispatcher()
    inbox.fail_next = 1
    gate = AcceptGate(inbox)
    event = await translator.bot_message(bot_text("x", msg_id="k1"))

    async def build() -> IncomingMessage:
        return event

    with pytest.raises(RuntimeError):
        await gate.accept("k1", build)
    assert await gate.accept("k1", build) is True
    assert await gate.accept("k1", build) is False
    assert inbox.calls == 2
