"""The Stream client against the fake gateway: frames in, events to the dispatcher, acks out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.channels.dingtalk.stream import DingTalkStream
from tests.channels.dingtalk.conftest import CollectingDispatcher
from tests.fakes.dingtalk import (
    BOT_TOPIC,
    CARD_TOPIC,
    FakeDingTalk,
    bot_audio,
    bot_file,
    bot_picture,
    bot_text,
    card_callback,
)


@pytest.fixture
async def stream(
    fake: FakeDingTalk, dispatcher: CollectingDispatcher, tmp_path: Path
) -> AsyncIterator[DingTalkStream]:
    client = DingTalkStream(fake.settings(attachments_dir=tmp_path / "att"), dispatcher)
    client.start_background()
    await asyncio.wait_for(client.connected.wait(), 5)
    yield client
    await client.stop()


async def test_subscribes_to_bot_messages_and_card_callbacks_with_a_url_encoded_ticket(
    fake: FakeDingTalk, stream: DingTalkStream
) -> None:
    body = fake.open_requests[0]
    assert {"type": "CALLBACK", "topic": BOT_TOPIC} in body["subscriptions"]
    assert {"type": "CALLBACK", "topic": CARD_TOPIC} in body["subscriptions"]
    assert body["localIp"] == ""  # no 8.8.8.8 lookup
    # the fake's tickets contain "+/=": they only match if the client URL-encoded them
    assert fake.rejected_connections == 0 and len(fake.connections) == 1


async def test_voice_frame_becomes_incoming_message_with_recognition_text(
    fake: FakeDingTalk, stream: DingTalkStream, dispatcher: CollectingDispatcher
) -> None:
    frame_id = fake.push_bot_message(
        bot_audio("今天拜访了华为，下周二再跟进", msg_id="msgVoice1", staff_id="rep-7")
    )
    await fake.wait_acks(1)
    [msg] = dispatcher.messages
    assert msg.text == "今天拜访了华为，下周二再跟进"
    assert msg.from_voice is True and msg.kind == "voice"
    assert msg.message_id == "msgVoice1" and msg.sender_platform_id == "rep-7" and msg.channel == "dingtalk"
    assert msg.is_group is False and msg.received_at is not None
    [ack] = fake.acks
    assert ack.message_id == frame_id and ack.code == 200 and ack.expected
    assert ack.data == {"response": "OK"}


async def test_text_message_and_group_mentions(
    fake: FakeDingTalk, stream: DingTalkStream, dispatcher: CollectingDispatcher
) -> None:
    fake.push_bot_message(bot_text(" 查一下 华为 ", msg_id="m1"))
    fake.push_bot_message(bot_text("大家好", msg_id="m2", group=True, at_bot=False))
    fake.push_bot_message(bot_text("@crmbot 查一下 腾讯", msg_id="m3", group=True, at_bot=True))
    await fake.wait_acks(3)
    assert [m.message_id for m in dispatcher.messages] == ["m1", "m3"]
    private, group = dispatcher.messages
    assert private.text == "查一下 华为" and not private.is_group
    assert group.is_group and group.mentioned_bot and group.conversation_id == "cid-group-1"
    assert all(a.code == 200 for a in fake.acks)


async def test_card_callback_becomes_card_action(
    fake: FakeDingTalk, stream: DingTalkStream, dispatcher: CollectingDispatcher
) -> None:
    frame_id = fake.push_card_callback(
        card_callback("mgr-1", "card-42", "alert:snooze:42:3d", {"note": "客户出差", "n": 3})
    )
    await fake.wait_acks(1)
    [action] = dispatcher.actions
    assert action.action_id == "alert:snooze:42:3d"
    assert action.sender_platform_id == "mgr-1" and action.card_ref == "card-42"
    assert action.event_id == frame_id and action.channel == "dingtalk"
    assert action.values == {"note": "客户出差", "n": "3"}
    assert fake.acks[0].code == 200 and fake.acks[0].data == {"response": {}}


async def test_thousand_duplicate_frames_give_one_event_and_a_thousand_acks(
    fake: FakeDingTalk, stream: DingTalkStream, dispatcher: CollectingDispatcher
) -> None:
    data = bot_text("拜访了美的，明天报价", msg_id="msgDup")
    fake.push_many([fake.bot_frame(data) for _ in range(1000)])
    await fake.wait_acks(1000, timeout=20)
    assert len(dispatcher.events) == 1
    assert dispatcher.calls == 1  # the rest were answered by the in-process gate, not the inbox
    assert len(fake.acks) == 1000 and all(a.code == 200 and a.expected for a in fake.acks)
    assert fake.unacked == 0


async def test_same_frame_redelivered_with_the_same_message_id_is_acked_each_time(
    fake: FakeDingTalk, stream: DingTalkStream, dispatcher: CollectingDispatcher
) -> None:
    data = bot_text("同一帧重投", msg_id="msgSame")
    for _ in range(3):
        fake.push_bot_message(data, message_id="frame-same")
    await fake.wait_acks(3)
    assert len(dispatcher.events) == 1 and [a.message_id for a in fake.acks] == ["frame-same"] * 3


async def test_reconnect_after_drop_mid_conversation_loses_and_doubles_nothing(
    fake: FakeDingTalk, stream: DingTalkStream, dispatcher: CollectingDispatcher
) -> None:
    dispatcher.delay = 0.01  # the inbox takes a moment: some acks are lost with the socket
    fake.drop_connection(after_frames=5)
    ids = [f"conv{i}" for i in range(10)]
    for i, msg_id in enumerate(ids):
        fake.push_bot_message(bot_text(f"第{i}句", msg_id=msg_id))
    await fake.wait_until(lambda: len(dispatcher.events) == 10 and fake.unacked == 0, 10, "all 10 messages")
    assert sorted(m.message_id for m in dispatcher.messages) == sorted(ids)
    assert len(fake.connections) == 2
    # a fresh ticket for the reconnect, each used once
    assert len(fake.open_requests) == 2 and len(set(fake.tickets_used)) == 2
    assert fake.rejected_connections == 0
    # the drop really happened mid-conversation: frames sent on the first socket were never acked
    # there, the fake sent them again on the second one, and they still became one event each
    assert fake.redelivered >= 1
    assert len([a for a in fake.acks if a.connection == 0]) < 5
    assert dispatcher.calls >= 10


async def test_ping_is_acked_with_its_opaque_echoed(fake: FakeDingTalk, stream: DingTalkStream) -> None:
    frame_id = fake.ping()
    await fake.wait_acks(1)
    [ack] = fake.acks
    assert ack.message_id == frame_id and ack.code == 200 and ack.expected
    assert ack.data == {"opaque": fake.pings[frame_id]}


async def test_disconnect_frame_makes_the_client_reconnect_at_once(
    fake: FakeDingTalk, stream: DingTalkStream
) -> None:
    started = time.monotonic()
    fake.send_disconnect()
    await fake.wait_connections(2, timeout=3)
    # well before the gateway's own 10 s close: the client closed and reconnected itself
    assert time.monotonic() - started < 3
    await asyncio.wait_for(stream.connected.wait(), 3)
    fake.push_bot_message(bot_text("重连后的消息", msg_id="after-disconnect"))
    await fake.wait_until(lambda: any(a.connection == 1 for a in fake.acks), 3, "ack on the new connection")


async def test_malformed_frames_unknown_topics_and_forged_actions_are_acked_without_events(
    fake: FakeDingTalk, stream: DingTalkStream, dispatcher: CollectingDispatcher
) -> None:
    tracked = [
        fake.push_bot_message("{not json"),  # data is not JSON
        fake.push_bot_message("[1, 2]"),  # data is not an object
        fake.push_bot_message({"msgtype": "text", "text": {"content": "无 msgId"}}),
        fake.push_bot_message({**bot_text("x", msg_id="bad-text"), "text": "not an object"}),
        fake.push_bot_message({**bot_text("x", msg_id="no-text"), "text": None}),
        fake.push_bot_message({**bot_audio("x", msg_id="bad-audio"), "content": {"duration": 1}}),
        fake.push_bot_message({**bot_picture("c", msg_id="bad-pic"), "content": "nope"}),
        fake.push_bot_message({**bot_text("x", msg_id="no-staff"), "senderStaffId": None}),
        fake.push_bot_message({**bot_text("x", msg_id="video"), "msgtype": "unknownKind"}),
        fake.push_callback("/v1.0/some/other/topic", {"x": 1}),
        fake.push_callback(BOT_TOPIC, bot_text("event type", msg_id="as-event"), kind="EVENT"),
        fake.push_callback(BOT_TOPIC, bot_text("odd type", msg_id="odd"), kind="WHATEVER"),
        fake.push_card_callback(card_callback("mgr-1", "card-1", None)),  # no action id at all
        fake.push_card_callback(card_callback("mgr-1", "card-1", "'; DROP TABLE deals; --")),
        fake.push_card_callback(card_callback("mgr-1", "card-1", "alert:" + "9" * 500)),
        fake.push_card_callback(card_callback("mgr-1", "card-1", "ALERT:snooze:1")),
        fake.push_card_callback({**card_callback("mgr-1", "card-1", "alert:snooze:1"), "content": "{broken"}),
        fake.push_card_callback({**card_callback("", "card-1", "alert:snooze:1")}),
        fake.push_card_callback("42"),
    ]
    fake.push_frame("this is not a frame at all")
    fake.push_frame('{"type": "CALLBACK"}')  # no headers: nothing to ack
    await fake.wait_acks(len(tracked), timeout=5)
    assert dispatcher.events == []
    assert sorted(a.message_id for a in fake.acks) == sorted(tracked)
    assert all(a.code == 200 for a in fake.acks)
    # still connected and still working
    fake.push_bot_message(bot_text("正常消息", msg_id="fine"))
    await fake.wait_until(lambda: len(dispatcher.events) == 1, 3, "the valid message")
    assert len(fake.connections) == 1 and stream.running


async def test_an_unavailable_inbox_gets_a_500_ack_and_the_redelivery_is_accepted(
    fake: FakeDingTalk, stream: DingTalkStream, dispatcher: CollectingDispatcher
) -> None:
    dispatcher.fail_next = 1
    data = bot_text("入库失败时", msg_id="retry-me")
    fake.push_bot_message(data)
    await fake.wait_acks(1)
    assert fake.acks[0].code == 500 and dispatcher.events == []
    fake.push_bot_message(data)
    await fake.wait_acks(2)
    assert fake.acks[1].code == 200 and [m.message_id for m in dispatcher.messages] == ["retry-me"]


async def test_picture_and_file_are_downloaded_as_attachments(
    fake: FakeDingTalk, stream: DingTalkStream, dispatcher: CollectingDispatcher, tmp_path: Path
) -> None:
    fake.add_file("pic-code", b"\x89PNG fake image", "image/png")
    fake.add_file("file-code", "合同扫描件".encode(), "application/pdf")
    fake.push_bot_message(bot_picture("pic-code", msg_id="pic1"))
    fake.push_bot_message(bot_file("file-code", "../../合同 v2.pdf", msg_id="file1"))
    fake.push_bot_message(bot_picture("expired-code", msg_id="pic2"))
    await fake.wait_acks(3)
    by_id = {m.message_id: m for m in dispatcher.messages}
    [pic] = by_id["pic1"].attachments
    assert by_id["pic1"].kind == "image" and Path(pic.path).read_bytes() == b"\x89PNG fake image"
    [doc] = by_id["file1"].attachments
    assert (
        by_id["file1"].kind == "file"
        and doc.filename == "合同_v2.pdf"
        and doc.size == len("合同扫描件".encode())
    )
    assert Path(doc.path).is_relative_to(tmp_path / "att")  # no path traversal from the file name
    assert (
        by_id["pic2"].kind == "image" and by_id["pic2"].attachments == ()
    )  # download failed: router asks again
    # the token header went to the API, never to the file host
    file_gets = [r for r in fake.requests if r.path == "/v1.0/robot/messageFiles/download"]
    assert len(file_gets) == 3 and all(
        "x-acs-dingtalk-access-token" in {k.lower() for k in r.headers} for r in file_gets
    )


async def test_duplicate_picture_is_downloaded_once(
    fake: FakeDingTalk, stream: DingTalkStream, dispatcher: CollectingDispatcher
) -> None:
    fake.add_file("pic-code", b"img", "image/jpeg")
    data = bot_picture("pic-code", msg_id="pic-dup")
    fake.push_many([fake.bot_frame(data) for _ in range(20)])
    await fake.wait_acks(20)
    assert len(dispatcher.events) == 1
    assert len([r for r in fake.requests if r.path == "/v1.0/robot/messageFiles/download"]) == 1


async def test_open_connection_failures_back_off_and_recover(
    fake: FakeDingTalk, dispatcher: CollectingDispatcher
) -> None:
    fake.fail("/v1.0/gateway/connections/open", 503, times=2)
    client = DingTalkStream(fake.settings(), dispatcher)
    client.start_background()
    try:
        await asyncio.wait_for(client.connected.wait(), 5)
        assert len(fake.open_requests) == 1  # the two 503s were answered by the fault layer
        assert [r.path for r in fake.requests].count("/v1.0/gateway/connections/open") == 3
    finally:
        await client.stop()


async def test_wrong_secret_keeps_retrying_without_connecting(
    fake: FakeDingTalk, dispatcher: CollectingDispatcher
) -> None:
    client = DingTalkStream(fake.settings(client_secret="wrong"), dispatcher)
    client.start_background()
    await fake.wait_until(lambda: len(fake.open_requests) >= 2, 5, "two attempts")
    await client.stop()
    assert fake.connections == [] and not client.running


async def test_one_senders_messages_keep_their_order_while_others_are_not_held_up(
    fake: FakeDingTalk, stream: DingTalkStream, dispatcher: CollectingDispatcher
) -> None:
    fake.add_file("slow-pic", b"img", "image/jpeg")
    fake.slow("/v1.0/robot/messageFiles/download", 0.3)
    fake.push_bot_message(bot_picture("slow-pic", msg_id="a-1", staff_id="rep-a"))  # slow download
    fake.push_bot_message(bot_text("这是刚才那张照片的说明", msg_id="a-2", staff_id="rep-a"))
    fake.push_bot_message(bot_text("别人的消息", msg_id="b-1", staff_id="rep-b"))
    await fake.wait_acks(3)
    assert [m.message_id for m in dispatcher.messages] == ["b-1", "a-1", "a-2"]
