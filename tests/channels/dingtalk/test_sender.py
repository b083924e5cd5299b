"""The sender and API client against the fake: batching, cards, token cache, retry classification."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from bot.channels.dingtalk.client import DingTalkAPIError, DingTalkClient
from bot.channels.dingtalk.sender import DingTalkSender, PartialSendError, out_track_id, render_card
from bot.types import Button, Card, SendError, SendResult
from tests.fakes.dingtalk import FakeDingTalk

BATCH = "/v1.0/robot/oToMessages/batchSend"
CREATE = "/v1.0/card/instances/createAndDeliver"
CARD = Card(
    title="跟进提醒：华为 · 5G 专网",
    description="已逾期 2 天",
    fields=(("客户", "华为"), ("金额", "120 万"), ("下次跟进", "3月5日")),
    buttons=(
        Button("已跟进", "followup:done:42", "primary"),
        Button("延期 3 天", "alert:snooze:42:3d"),
        Button("转交", "deal:reassign:42", "danger"),
    ),
    footer="crmbot",
)


@pytest.fixture
async def client(fake: FakeDingTalk) -> AsyncIterator[DingTalkClient]:
    api = DingTalkClient(fake.settings())
    yield api
    await api.close()


@pytest.fixture
def sender(client: DingTalkClient) -> DingTalkSender:
    return DingTalkSender(client)


async def test_send_text_uses_batch_send_with_sample_text(fake: FakeDingTalk, sender: DingTalkSender) -> None:
    result = await sender.send_text("staff-001", "已记录：华为 · 拜访")
    [sent] = fake.sent_messages
    assert sent == {
        "userIds": ["staff-001"],
        "msgKey": "sampleText",
        "msgParam": {"content": "已记录：华为 · 拜访"},
    }
    assert result.ref and result.ref.startswith("pqk-")
    [call] = [r for r in fake.requests if r.path == BATCH]
    assert call.body["robotCode"] == fake.robot_code and isinstance(call.body["msgParam"], str)


async def test_forty_five_users_go_out_in_three_calls(fake: FakeDingTalk, sender: DingTalkSender) -> None:
    users = [f"staff-{i:03d}" for i in range(45)]
    await sender.send_text_many(users, "周会改到 3 点")
    assert [len(m["userIds"]) for m in fake.sent_messages] == [20, 20, 5]
    assert [u for m in fake.sent_messages for u in m["userIds"]] == users
    assert fake.token_fetches == 1  # one token for all three calls


async def test_partial_send_error_lists_delivered_and_pending(
    fake: FakeDingTalk, sender: DingTalkSender
) -> None:
    users = [f"staff-{i:03d}" for i in range(45)]
    await sender.send_text_many(users[:20], "first")  # fills the token cache
    fake.sent_messages.clear()

    class SecondChunkFails(DingTalkClient):
        calls = 0

        async def _api(self, method: str, path: str, body: dict) -> dict:  # type: ignore[override]
            if path == BATCH:
                SecondChunkFails.calls += 1
                if SecondChunkFails.calls == 2:
                    fake.fail(BATCH, 429)
            return await super()._api(method, path, body)

    api = SecondChunkFails(fake.settings())
    try:
        with pytest.raises(PartialSendError) as info:
            await DingTalkSender(api).send_text_many(users, "周会")
    finally:
        await api.close()
    assert info.value.retryable is True
    assert info.value.delivered == users[:20] and info.value.pending == users[20:]


async def test_card_is_created_with_string_params_and_updated_for_everyone(
    fake: FakeDingTalk, sender: DingTalkSender
) -> None:
    result = await sender.send_card("staff-007", CARD, card_id="card-42")
    assert result == SendResult(ref="card-42")
    created = fake.cards["card-42"]["create"]
    params = created["cardData"]["cardParamMap"]
    assert all(isinstance(v, str) for v in params.values())
    assert params["title"] == CARD.title and params["button_count"] == "3"
    assert json.loads(params["buttons"])[1] == {
        "text": "延期 3 天",
        "action_id": "alert:snooze:42:3d",
        "style": "default",
    }
    assert json.loads(params["fields"])[0] == {"label": "客户", "value": "华为"}
    assert params["btn_1_action"] == "followup:done:42" and params["btn_4_visible"] == "false"
    assert created["openSpaceId"] == "dtv1.card//IM_ROBOT.staff-007"
    assert (
        created["imRobotOpenDeliverModel"]["spaceType"] == "IM_ROBOT" and created["callbackType"] == "STREAM"
    )
    assert created["cardTemplateId"] == "tpl-crmbot.schema"

    done = Card(title=CARD.title, fields=CARD.fields, description="✅ 李经理 已标记为已跟进")
    updated = await sender.update_card("staff-007", done, card_id="card-42", ref=result)
    assert updated.ref == "card-42"
    [update] = fake.cards["card-42"]["updates"]
    assert update["cardUpdateOptions"] == {"updateCardDataByKey": True}
    assert fake.cards["card-42"]["params"]["button_count"] == "0"
    assert fake.cards["card-42"]["params"]["btn_1_visible"] == "false"
    assert fake.cards["card-42"]["params"]["description"] == "✅ 李经理 已标记为已跟进"


def test_render_card_keeps_every_value_within_one_kilobyte() -> None:
    long = Card(title="标题" * 600, fields=tuple((f"字段{i}", "值" * 200) for i in range(20)))
    params = render_card(long)
    assert all(isinstance(v, str) and len(v.encode()) <= 1024 for v in params.values())
    assert isinstance(json.loads(params["fields"]), list)  # trimmed by whole items, still valid JSON


def test_out_track_id_is_stable_and_safe() -> None:
    assert out_track_id("card-42") == "card-42"
    odd = out_track_id("outbox/7:卡片")
    assert odd == out_track_id("outbox/7:卡片") and odd.startswith("crm-") and len(odd) <= 64


@pytest.mark.parametrize(
    ("status", "body", "retryable"),
    [
        (500, None, True),
        (502, None, True),
        (503, None, True),
        (429, {"code": "TooManyRequests", "message": "slow down"}, True),
        (403, {"code": "Forbidden.AccessDenied.QpsLimitForApi", "message": "限流"}, True),
        (403, {"code": "Forbidden.AccessDenied.AccessTokenPermissionDenied", "message": "无权限"}, False),
        (400, {"code": "invalidParameter.userIds", "message": "bad"}, False),
        (404, {"code": "notFound", "message": "x"}, False),
    ],
)
async def test_errors_are_retryable_only_for_network_5xx_and_throttling(
    fake: FakeDingTalk, sender: DingTalkSender, status: int, body: dict | None, retryable: bool
) -> None:
    fake.fail(BATCH, status, body)
    with pytest.raises(SendError) as info:
        await sender.send_text("staff-001", "hi")
    assert info.value.retryable is retryable
    await sender.send_text("staff-001", "hi")  # the fault was one-shot: the next try goes through


async def test_card_throttling_and_bad_requests(fake: FakeDingTalk, sender: DingTalkSender) -> None:
    fake.throttle(CREATE)
    with pytest.raises(SendError) as info:
        await sender.send_card("staff-1", CARD, card_id="c1")
    assert info.value.retryable
    fake.fail(CREATE, 400, {"code": "invalidParameter.cardTemplateId", "message": "模板不存在"})
    with pytest.raises(SendError) as info:
        await sender.send_card("staff-1", CARD, card_id="c1")
    assert not info.value.retryable
    with pytest.raises(SendError) as info:  # updating a card DingTalk never saw is a request error
        await sender.update_card("staff-1", CARD, card_id="nope", ref=SendResult(ref="nope"))
    assert not info.value.retryable


async def test_network_errors_are_retryable() -> None:
    api = DingTalkClient(FakeDingTalk().settings(api_base_url="http://127.0.0.1:9", request_timeout=2))
    try:
        with pytest.raises(SendError) as info:
            await DingTalkSender(api).send_text("staff-1", "hi")
    finally:
        await api.close()
    assert info.value.retryable


async def test_unknown_staff_is_not_retried() -> None:
    with FakeDingTalk(known_staff={"staff-1"}) as strict:
        api = DingTalkClient(strict.settings())
        try:
            with pytest.raises(SendError) as info:
                await DingTalkSender(api).send_text("ghost", "hi")
        finally:
            await api.close()
    assert not info.value.retryable


async def test_token_is_cached_and_refetched_after_the_platform_rejects_it(
    fake: FakeDingTalk, sender: DingTalkSender
) -> None:
    await sender.send_text("a", "1")
    await sender.send_text("a", "2")
    assert fake.token_fetches == 1
    fake.expire_tokens()
    await sender.send_text("a", "3")  # 401 -> new token -> sent
    assert fake.token_fetches == 2 and len(fake.sent_messages) == 3


async def test_token_is_refreshed_early(fake: FakeDingTalk) -> None:
    now = [1000.0]
    api = DingTalkClient(fake.settings(), clock=lambda: now[0], refresh_margin=300)
    try:
        await api.access_token()
        now[0] += 7200 - 301  # just before the margin
        await api.access_token()
        assert fake.token_fetches == 1
        now[0] += 2  # within 5 min of expiry: refresh before DingTalk rejects it
        await api.access_token()
        assert fake.token_fetches == 2
    finally:
        await api.close()


async def test_concurrent_callers_share_one_token_fetch(fake: FakeDingTalk, sender: DingTalkSender) -> None:
    import asyncio

    await asyncio.gather(*(sender.send_text(f"s{i}", "hi") for i in range(10)))
    assert fake.token_fetches == 1 and len(fake.sent_messages) == 10


async def test_wrong_secret_is_not_retryable(fake: FakeDingTalk) -> None:
    api = DingTalkClient(fake.settings(client_secret="wrong"))
    try:
        with pytest.raises(SendError) as info:
            await DingTalkSender(api).send_text("a", "hi")
    finally:
        await api.close()
    assert not info.value.retryable


async def test_non_string_card_params_are_refused_before_sending(
    client: DingTalkClient, fake: FakeDingTalk
) -> None:
    with pytest.raises(DingTalkAPIError) as info:
        await client.create_and_deliver_card(user_id="u", out_track_id="t", param_map={"count": 3})  # type: ignore[dict-item]
    assert not info.value.retryable and fake.cards == {}


async def test_without_a_card_template_cards_go_out_as_markdown(fake: FakeDingTalk) -> None:
    api = DingTalkClient(fake.settings(card_template_id=""))
    try:
        sender = DingTalkSender(api)
        result = await sender.send_card("staff-1", CARD, card_id="c9")
        assert result.ref is None and fake.cards == {}
        [sent] = fake.sent_messages
        assert sent["msgKey"] == "sampleMarkdown" and sent["msgParam"]["title"] == CARD.title
        assert "**客户**：华为" in sent["msgParam"]["text"]
        await sender.update_card("staff-1", Card(title="已处理"), card_id="c9", ref=result)
        assert fake.sent_messages[-1]["msgParam"]["title"] == "已处理"
    finally:
        await api.close()
