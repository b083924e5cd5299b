"""The WeCom sender against the fake server: every fault, splitting, cards, updates, media."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.channels.wecom.cards import make_task_id
from bot.channels.wecom.client import WeComAPIError, WeComClient
from bot.channels.wecom.sender import WeComSender
from bot.types import Attachment, Button, Card, SendError, SendResult
from tests.fakes.wecom import FakeWeCom

CARD = Card(
    title="跟进提醒：华为",
    description="下次跟进时间已过 2 天",
    fields=(("客户", "华为"), ("阶段", "方案")),
    buttons=(Button("已跟进", "followup:done:42", "primary"), Button("延期 3 天", "alert:snooze:42:3d")),
)
DONE = Card(title="跟进提醒：华为", description="张三 已跟进", fields=(("客户", "华为"),), footer="已处理")
DONE_WITH_BUTTON = Card(
    title="跟进提醒：华为", description="已延期到周五", buttons=(Button("撤销", "alert:undo:42"),)
)


async def test_send_text(fake: FakeWeCom, sender: WeComSender) -> None:
    result = await sender.send_text("zhangsan", "好的，已记录华为的跟进。")
    [message] = fake.sent
    assert (message.touser, message.msgtype, message.content) == (
        "zhangsan",
        "text",
        "好的，已记录华为的跟进。",
    )
    assert message.body["agentid"] == fake.agent_id
    assert result.ref == message.msgid


async def test_long_text_is_split_under_2048_bytes(fake: FakeWeCom, sender: WeComSender) -> None:
    text = "\n".join(
        f"第{i}条：客户华为技术有限公司，阶段方案，金额 120 万，下次跟进 3月{i % 28 + 1}日"
        for i in range(120)
    )
    await sender.send_text("zhangsan", text)
    assert len(fake.sent) > 1
    assert not any(m.truncated for m in fake.sent)
    assert all(len(m.content.encode()) <= 2048 for m in fake.sent)
    assert "\n".join(m.content for m in fake.sent) == text


async def test_token_is_cached(fake: FakeWeCom, sender: WeComSender) -> None:
    await asyncio.gather(*(sender.send_text("zhangsan", f"消息{i}") for i in range(10)))
    assert fake.tokens_issued == 1
    assert len(fake.sent) == 10


async def test_token_is_refreshed_early(fake: FakeWeCom) -> None:
    now = [1000.0]
    client = WeComClient(fake.settings(), clock=lambda: now[0])
    try:
        first = await client.access_token()
        now[0] += 7200 - 400  # still valid for 400 s: keep it
        assert await client.access_token() == first
        now[0] += 150  # 250 s left, inside the 300 s early-refresh window
        assert await client.access_token() != first
        assert fake.tokens_issued == 2
    finally:
        await client.close()


async def test_expired_token_once_is_refetched_and_the_call_retried(
    fake: FakeWeCom, sender: WeComSender
) -> None:
    await sender.send_text("zhangsan", "一")
    fake.expire_tokens()
    await sender.send_text("zhangsan", "二")
    fake.fail_next("message/send", "expired_token")
    await sender.send_text("zhangsan", "三")
    assert [m.content for m in fake.sent] == ["一", "二", "三"]
    assert fake.tokens_issued == 3


async def test_token_errors_do_not_loop(fake: FakeWeCom, sender: WeComSender) -> None:
    fake.fail_next("message/send", "expired_token", "expired_token")
    with pytest.raises(SendError) as err:
        await sender.send_text("zhangsan", "hi")
    assert err.value.retryable
    assert fake.calls_to("message/send") == 2 and fake.tokens_issued == 2
    assert fake.sent == []


@pytest.mark.parametrize("fault", ["http500", "http502", "http503", 45009, -1, "timeout"])
async def test_transient_faults_are_retryable_and_nothing_is_lost(
    fake: FakeWeCom, sender: WeComSender, fault: str | int
) -> None:
    fake.fail_next("message/send", fault)
    with pytest.raises(SendError) as err:
        await sender.send_text("zhangsan", "明天拜访")
    assert err.value.retryable
    assert fake.sent == []
    await sender.send_text("zhangsan", "明天拜访")  # the outbox's retry
    assert [m.content for m in fake.sent] == ["明天拜访"]


async def test_rate_limit_carries_its_errcode(fake: FakeWeCom, sender: WeComSender) -> None:
    fake.fail_next("message/send", 45009)
    with pytest.raises(WeComAPIError) as err:
        await sender.send_text("zhangsan", "hi")
    assert (err.value.retryable, err.value.errcode) == (True, 45009)


async def test_timeout_after_the_platform_processed_is_not_shown_twice(
    fake: FakeWeCom, sender: WeComSender
) -> None:
    fake.fail_next("message/send", "timeout_after_send")
    with pytest.raises(SendError) as err:
        await sender.send_text("zhangsan", "已记录")
    assert err.value.retryable
    await sender.send_text("zhangsan", "已记录")  # retry: WeCom's duplicate check drops it
    assert fake.texts_to("zhangsan") == ["已记录"]


async def test_network_error_is_retryable(fake: FakeWeCom) -> None:
    sender = WeComSender(WeComClient(fake.settings(api_base_url="http://127.0.0.1:9")), fake.settings())
    try:
        with pytest.raises(SendError) as err:
            await sender.send_text("zhangsan", "hi")
        assert err.value.retryable
    finally:
        await sender.close()


@pytest.mark.parametrize("errcode", [40058, 40008, 81013])
async def test_request_errors_are_not_retryable(fake: FakeWeCom, sender: WeComSender, errcode: int) -> None:
    fake.fail_next("message/send", errcode)
    with pytest.raises(WeComAPIError) as err:
        await sender.send_text("zhangsan", "hi")
    assert (err.value.retryable, err.value.errcode) == (False, errcode)


async def test_unknown_userid_is_not_retryable(fake: FakeWeCom, sender: WeComSender) -> None:
    fake.known_users = {"zhangsan"}
    with pytest.raises(SendError) as err:
        await sender.send_text("nobody", "hi")
    assert not err.value.retryable


async def test_wrong_secret_is_not_retryable(fake: FakeWeCom) -> None:
    sender = WeComSender(WeComClient(fake.settings(secret="wrong")), fake.settings())
    try:
        with pytest.raises(WeComAPIError) as err:
            await sender.send_text("zhangsan", "hi")
        assert (err.value.retryable, err.value.errcode) == (False, 40001)
    finally:
        await sender.close()


# -- cards -----------------------------------------------------------------------------------
async def test_send_card(fake: FakeWeCom, sender: WeComSender) -> None:
    result = await sender.send_card("zhangsan", CARD, card_id="outbox-7")
    [message] = fake.sent
    card = message.body["template_card"]
    assert message.msgtype == "template_card"
    assert card["task_id"] == result.ref == make_task_id("outbox-7", CARD)
    assert [b["key"] for b in card["button_list"]] == ["followup:done:42", "alert:snooze:42:3d"]
    assert result.response_code == message.response_code is not None


async def test_buttonless_card_is_sent_as_text(fake: FakeWeCom, sender: WeComSender) -> None:
    await sender.send_card("zhangsan", DONE, card_id="outbox-8")
    assert fake.texts_to("zhangsan") == ["跟进提醒：华为\n张三 已跟进\n客户：华为\n已处理"]


async def test_card_resent_after_an_ambiguous_timeout_is_not_duplicated(
    fake: FakeWeCom, sender: WeComSender
) -> None:
    fake.fail_next("message/send", "timeout_after_send")
    with pytest.raises(SendError) as err:
        await sender.send_card("zhangsan", CARD, card_id="outbox-9")
    assert err.value.retryable
    result = await sender.send_card("zhangsan", CARD, card_id="outbox-9")
    assert len(fake.sent) == 1
    assert result.ref == fake.sent[0].task_id


async def test_task_id_taken_by_someone_else_gets_a_fresh_one(fake: FakeWeCom, sender: WeComSender) -> None:
    fake._task_ids.add(make_task_id("outbox-1", CARD))  # a card sent before the database was re-created
    result = await sender.send_card("zhangsan", CARD, card_id="outbox-1")
    [message] = fake.sent
    assert result.ref == message.task_id != make_task_id("outbox-1", CARD)


async def test_card_faults_are_classified(fake: FakeWeCom, sender: WeComSender) -> None:
    fake.fail_next("message/send", "http500", 45009)
    for _ in range(2):
        with pytest.raises(SendError) as err:
            await sender.send_card("zhangsan", CARD, card_id="outbox-2")
        assert err.value.retryable
    await sender.send_card("zhangsan", CARD, card_id="outbox-2")
    assert len(fake.sent) == 1


async def test_update_card_with_the_click_response_code(fake: FakeWeCom, sender: WeComSender) -> None:
    sent = await sender.send_card("zhangsan", CARD, card_id="outbox-3")
    click_code = fake.issue_response_code(sent.ref)
    await sender.update_card(
        "zhangsan",
        DONE_WITH_BUTTON,
        card_id="outbox-3",
        ref=SendResult(ref=sent.ref, response_code=click_code),
    )
    [update] = fake.updates
    assert update["response_code"] == click_code and update["userids"] == ["zhangsan"]
    assert update["template_card"]["main_title"]["desc"] == "已延期到周五"
    assert "task_id" not in update["template_card"]
    assert len(fake.sent) == 1  # no new message


async def test_update_buttonless_card_greys_the_buttons_out(fake: FakeWeCom, sender: WeComSender) -> None:
    sent = await sender.send_card("zhangsan", CARD, card_id="outbox-4")
    await sender.update_card("zhangsan", DONE, card_id="outbox-4", ref=sent)
    [update] = fake.updates
    assert update["button"] == {"replace_name": "已处理"}


async def test_update_with_a_spent_code_falls_back_to_a_new_card(
    fake: FakeWeCom, sender: WeComSender
) -> None:
    sent = await sender.send_card("zhangsan", CARD, card_id="outbox-5")
    await sender.update_card("zhangsan", DONE, card_id="outbox-5", ref=sent)  # spends the code
    result = await sender.update_card("zhangsan", DONE_WITH_BUTTON, card_id="outbox-5", ref=sent)
    assert len(fake.updates) == 1
    new = fake.sent[-1]
    assert new.msgtype == "template_card" and new.task_id == result.ref != sent.ref
    assert result.response_code == new.response_code


async def test_update_with_an_expired_code_falls_back(fake: FakeWeCom, sender: WeComSender) -> None:
    sent = await sender.send_card("zhangsan", CARD, card_id="outbox-6")
    fake.expire_response_codes()  # 72 h later
    await sender.update_card("zhangsan", DONE, card_id="outbox-6", ref=sent)
    assert fake.updates == []
    assert fake.texts_to("zhangsan") == ["跟进提醒：华为\n张三 已跟进\n客户：华为\n已处理"]


async def test_update_retried_after_an_ambiguous_timeout_is_not_duplicated(
    fake: FakeWeCom, sender: WeComSender
) -> None:
    sent = await sender.send_card("zhangsan", CARD, card_id="outbox-10")
    fake.fail_next("message/update_template_card", "timeout_after_send")
    with pytest.raises(SendError) as err:
        await sender.update_card("zhangsan", DONE_WITH_BUTTON, card_id="outbox-10", ref=sent)
    assert err.value.retryable
    await sender.update_card("zhangsan", DONE_WITH_BUTTON, card_id="outbox-10", ref=sent)
    assert len(fake.updates) == 1 and len(fake.sent) == 1


async def test_update_5xx_is_retryable_then_succeeds(fake: FakeWeCom, sender: WeComSender) -> None:
    sent = await sender.send_card("zhangsan", CARD, card_id="outbox-11")
    fake.fail_next("message/update_template_card", "http502")
    with pytest.raises(SendError):
        await sender.update_card("zhangsan", DONE, card_id="outbox-11", ref=sent)
    await sender.update_card("zhangsan", DONE, card_id="outbox-11", ref=sent)
    assert len(fake.updates) == 1 and len(fake.sent) == 1


# -- media -----------------------------------------------------------------------------------
async def test_fetch_attachment_downloads_once(fake: FakeWeCom, sender: WeComSender, tmp_path: Path) -> None:
    media_id = fake.add_media(b"%PDF-1.4 contract", "合同.pdf", "application/pdf")
    pending = Attachment(filename="合同.pdf", path="", media_ref=media_id)
    saved = await sender.fetch_attachment(pending)
    assert Path(saved.path).read_bytes() == b"%PDF-1.4 contract"
    assert Path(saved.path).parent == tmp_path
    assert (saved.size, saved.content_type) == (17, "application/pdf")
    assert await sender.fetch_attachment(saved) == saved
    assert fake.calls_to("media/get") == 1


async def test_fetch_unknown_media_is_not_retryable(sender: WeComSender) -> None:
    with pytest.raises(SendError) as err:
        await sender.fetch_attachment(Attachment(filename="x.jpg", path="", media_ref="m_gone"))
    assert not err.value.retryable


async def test_upload_and_get_media(fake: FakeWeCom, sender: WeComSender) -> None:
    media_id = await sender.client.upload_media(
        "file", "报价单.xlsx", b"PK\x03\x04", "application/vnd.ms-excel"
    )
    media = await sender.client.get_media(media_id)
    assert (media.content, media.content_type) == (b"PK\x03\x04", "application/vnd.ms-excel")
