"""The /wecom/callback endpoint against real encrypted traffic from the driver."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from urllib.parse import quote

import aiohttp
import pytest
from yarl import URL

from bot.channels.wecom.settings import WeComSettings
from bot.types import CardAction, IncomingMessage
from tests.channels.wecom import test_crypto as vector
from tests.channels.wecom.conftest import Bot, InboxDispatcher
from tests.fakes.wecom import FakeWeCom, WeComDriver


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(URL(url, encoded=True)) as resp:
        return resp.status, await resp.text()


async def _post(url: str, body: bytes) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.post(URL(url, encoded=True), data=body) as resp:
        return resp.status, await resp.text()


@pytest.fixture
def sample_settings() -> WeComSettings:
    return WeComSettings(corp_id=vector.CORP_ID, agent_id=1000002, token=vector.TOKEN, aes_key=vector.AES_KEY)


@pytest.mark.parametrize("encode", [False, True], ids=["literal-plus", "percent-encoded"])
async def test_official_vector_url_verification_over_http(
    make_bot: Callable[..., object], sample_settings: WeComSettings, encode: bool
) -> None:
    bot: Bot = await make_bot(sample_settings, clock=lambda: float(vector.GET_TIMESTAMP))  # type: ignore[misc]
    echostr = quote(vector.GET_ECHOSTR, safe="") if encode else vector.GET_ECHOSTR
    query = f"msg_signature={vector.GET_SIGNATURE}&timestamp={vector.GET_TIMESTAMP}&nonce={vector.GET_NONCE}&echostr={echostr}"
    status, body = await _get(f"{bot.url}?{query}")
    assert (status, body) == (200, vector.GET_PLAIN)  # bare text: no quotes, BOM or newline


async def test_official_vector_message_over_http(
    make_bot: Callable[..., object], sample_settings: WeComSettings, dispatcher: InboxDispatcher
) -> None:
    bot: Bot = await make_bot(sample_settings, clock=lambda: float(vector.POST_TIMESTAMP) + 3)  # type: ignore[misc]
    query = (
        f"msg_signature={vector.POST_SIGNATURE}&timestamp={vector.POST_TIMESTAMP}&nonce={vector.POST_NONCE}"
    )
    status, body = await _post(f"{bot.url}?{query}", vector.POST_BODY)
    assert (status, body) == (200, "")
    [event] = dispatcher.events
    assert isinstance(event, IncomingMessage)
    assert (event.channel, event.message_id, event.sender_platform_id, event.text, event.kind) == (
        "wecom",
        "1456453720",
        "ChenJiaShun",
        "你好",
        "text",
    )
    assert event.received_at is not None and int(event.received_at.timestamp()) == 1476422779


async def test_url_verification_through_the_driver(driver: WeComDriver) -> None:
    status, body, expected = await driver.verify_url()
    assert (status, body) == (200, expected)


async def test_text_message_becomes_incoming_message(
    driver: WeComDriver, dispatcher: InboxDispatcher
) -> None:
    assert await driver.send_text("zhangsan", "今天拜访了华为，对方有兴趣，下周二再联系") == 200
    [event] = dispatcher.events
    assert isinstance(event, IncomingMessage)
    assert event.text == "今天拜访了华为，对方有兴趣，下周二再联系"
    assert event.sender_platform_id == "zhangsan" and not event.from_voice


async def test_voice_with_recognition_is_text_from_voice(
    driver: WeComDriver, dispatcher: InboxDispatcher
) -> None:
    await driver.post(driver.voice_xml("lisi", recognition="明天上午十点回访客户"))
    [event] = dispatcher.events
    assert isinstance(event, IncomingMessage)
    assert (event.kind, event.text, event.from_voice) == ("text", "明天上午十点回访客户", True)


async def test_voice_without_recognition_is_an_empty_voice_message(
    driver: WeComDriver, dispatcher: InboxDispatcher
) -> None:
    await driver.post(driver.voice_xml("lisi"))
    [event] = dispatcher.events
    assert isinstance(event, IncomingMessage)
    assert (event.kind, event.text, event.from_voice) == ("voice", "", False)
    assert event.attachments[0].media_ref


async def test_image_and_file_carry_media_ids_not_downloaded_on_the_request_path(
    fake: FakeWeCom, driver: WeComDriver, dispatcher: InboxDispatcher
) -> None:
    image_id = fake.add_media(b"\xff\xd8jpeg", "contract.jpg", "image/jpeg")
    file_id = fake.add_media(b"%PDF-1.4", "合同.pdf", "application/pdf")
    await driver.post(driver.image_xml("wangwu", image_id))
    await driver.post(driver.file_xml("wangwu", file_id, "合同.pdf"))
    image, document = dispatcher.events
    assert isinstance(image, IncomingMessage) and isinstance(document, IncomingMessage)
    assert image.kind == "image" and image.attachments[0].media_ref == image_id
    assert image.attachments[0].path == "" and image.attachments[0].content_type == "image/jpeg"
    assert document.kind == "file" and document.attachments[0].filename == "合同.pdf"
    assert fake.calls_to("media/get") == 0


async def test_card_click_becomes_card_action(
    fake: FakeWeCom, driver: WeComDriver, dispatcher: InboxDispatcher
) -> None:
    code = fake.issue_response_code("task-42")
    await driver.click("zhaoliu", "alert:snooze:42:3d", "task-42", response_code=code)
    [event] = dispatcher.events
    assert isinstance(event, CardAction)
    assert (event.action_id, event.card_ref, event.response_code, event.sender_platform_id) == (
        "alert:snooze:42:3d",
        "task-42",
        code,
        "zhaoliu",
    )


async def test_other_events_are_acknowledged_and_ignored(
    driver: WeComDriver, dispatcher: InboxDispatcher
) -> None:
    status, body = await driver.post(driver.event_xml("zhangsan", "enter_agent"))
    assert (status, body) == (200, "")
    assert dispatcher.events == []


async def test_unknown_msg_type_is_accepted_as_unknown(
    driver: WeComDriver, dispatcher: InboxDispatcher
) -> None:
    inner = driver.text_xml("zhangsan", "x").replace("<![CDATA[text]]>", "<![CDATA[location]]>")
    status, _ = await driver.post(inner)
    assert status == 200
    [event] = dispatcher.events
    assert isinstance(event, IncomingMessage) and event.kind == "unknown" and event.text == ""


async def test_a_thousand_duplicate_deliveries_make_one_event(
    driver: WeComDriver, dispatcher: InboxDispatcher
) -> None:
    inner = driver.text_xml("zhangsan", "拜访了腾讯")
    statuses: list[int] = []
    for _ in range(10):  # 10 waves of 100 concurrent redeliveries
        statuses += await driver.deliver(inner, times=100, concurrent=True)
    assert statuses == [200] * 1000
    assert dispatcher.deliveries == 1000
    assert len(dispatcher.events) == 1


async def test_redelivered_click_events_dedupe_but_different_cards_do_not(
    driver: WeComDriver, dispatcher: InboxDispatcher
) -> None:
    first = driver.click_xml("zhangsan", "followup:done:1", "task-1", create_time=1_700_000_000)
    second = driver.click_xml("zhangsan", "followup:done:2", "task-2", create_time=1_700_000_000)
    await driver.deliver(first, times=3)
    await driver.deliver(second, times=2)
    assert [e.action_id for e in dispatcher.events if isinstance(e, CardAction)] == [
        "followup:done:1",
        "followup:done:2",
    ]


async def test_out_of_order_deliveries_are_all_accepted(
    driver: WeComDriver, dispatcher: InboxDispatcher
) -> None:
    messages = [driver.text_xml("zhangsan", f"第{i}条") for i in range(5)]
    assert await driver.deliver_out_of_order(messages) == [200] * 5
    assert sorted(e.text for e in dispatcher.events if isinstance(e, IncomingMessage)) == [
        f"第{i}条" for i in range(5)
    ]


async def test_inbox_failure_answers_503_so_wecom_redelivers(
    driver: WeComDriver, dispatcher: InboxDispatcher
) -> None:
    inner = driver.text_xml("zhangsan", "会议纪要")
    dispatcher.fail = True
    assert await driver.deliver_like_wecom(inner, retries=1) == [503, 503]
    dispatcher.fail = False
    assert await driver.deliver_like_wecom(inner) == [200]
    assert len(dispatcher.events) == 1


# -- bad input -----------------------------------------------------------------------------
async def test_wrong_signature_is_403(
    driver: WeComDriver, dispatcher: InboxDispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    query, body = driver.encrypt(driver.text_xml("zhangsan", "hi"))
    tampered = "msg_signature=" + "0" * 40 + query[query.index("&") :]
    with caplog.at_level(logging.WARNING, logger="crmbot.wecom"):
        status, _ = await driver.post_raw(tampered, body)
    assert status == 403 and dispatcher.events == []
    assert "bad signature" in caplog.text


async def test_tampered_ciphertext_is_refused(driver: WeComDriver, dispatcher: InboxDispatcher) -> None:
    query, body = driver.encrypt(driver.text_xml("zhangsan", "hi"))
    status, _ = await driver.post_raw(query, body.replace(b"<Encrypt><![CDATA[", b"<Encrypt><![CDATA[AAAA"))
    assert status == 403 and dispatcher.events == []  # the signature covers the ciphertext


async def test_wrong_corp_id_inside_the_payload_is_403(
    fake: FakeWeCom, bot: Bot, dispatcher: InboxDispatcher
) -> None:
    impostor = FakeWeCom(corp_id="ww0other0corp", token=fake.token, aes_key=fake.aes_key)
    async with WeComDriver(impostor, bot.url) as other:
        query, body = other.encrypt(other.text_xml("zhangsan", "hi"))
        # a clean envelope, so only the CorpID inside the decrypted payload gives it away
        status, text = await other.post_raw(query, body.replace(b"ww0other0corp", fake.corp_id.encode()))
    assert (status, text) == (403, "wrong CorpID")
    assert dispatcher.events == []


async def test_stale_timestamp_is_403(driver: WeComDriver, dispatcher: InboxDispatcher) -> None:
    status, text = await driver.post(driver.text_xml("zhangsan", "hi"), timestamp=str(int(time.time()) - 400))
    assert (status, text) == (403, "stale timestamp") and dispatcher.events == []


@pytest.mark.parametrize(
    "body",
    [b"", b"hello", b"<xml><Encrypt><![CDATA[abc", b"<xml><Other>1</Other></xml>", b'{"Encrypt": "x"}'],
    ids=["empty", "text", "truncated", "no-encrypt", "json"],
)
async def test_malformed_bodies_are_400(
    driver: WeComDriver, dispatcher: InboxDispatcher, body: bytes
) -> None:
    query, _ = driver.encrypt(driver.text_xml("zhangsan", "hi"))
    status, _ = await driver.post_raw(query, body)
    assert status in (400, 403) and dispatcher.events == []


async def test_truncated_valid_envelope_is_400(driver: WeComDriver, dispatcher: InboxDispatcher) -> None:
    query, body = driver.encrypt(driver.text_xml("zhangsan", "hi"))
    status, _ = await driver.post_raw(query, body[: len(body) // 2])
    assert status == 400 and dispatcher.events == []


async def test_entity_expansion_attack_is_400(driver: WeComDriver, dispatcher: InboxDispatcher) -> None:
    query, _ = driver.encrypt(driver.text_xml("zhangsan", "hi"))
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE xml ['
        + b'<!ENTITY a "'
        + b"a" * 100
        + b'">'
        + b"".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(8))
        + b"]><xml><Encrypt>&i;</Encrypt></xml>"
    )
    status, text = await driver.post_raw(query, bomb)
    assert status == 400 and "forbidden XML" in text and dispatcher.events == []


async def test_body_over_one_megabyte_is_413(driver: WeComDriver, dispatcher: InboxDispatcher) -> None:
    query, body = driver.encrypt(driver.text_xml("zhangsan", "hi"))
    huge = body.replace(b"</xml>", b"<Pad>" + b"x" * (1024 * 1024) + b"</Pad></xml>")
    status, _ = await driver.post_raw(query, huge)
    assert status == 413 and dispatcher.events == []


async def test_chunked_body_over_the_limit_is_413(fake: FakeWeCom, make_bot: Callable[..., object]) -> None:
    bot: Bot = await make_bot(fake.settings(max_body_bytes=4096))  # type: ignore[misc]
    async with WeComDriver(fake, bot.url) as d:
        query, _ = d.encrypt(d.text_xml("zhangsan", "hi"))

        async def chunks():  # no Content-Length: the limit must hold while streaming
            for _ in range(10):
                yield b"x" * 1024

        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{bot.url}?{query}", data=chunks()) as resp,
        ):
            assert resp.status == 413


async def test_missing_parameters_are_400(bot: Bot) -> None:
    status, text = await _post(bot.url, b"<xml><Encrypt>x</Encrypt></xml>")
    assert (status, text) == (400, "missing query parameter msg_signature")
    status, _ = await _get(bot.url + "?msg_signature=" + "a" * 40 + "&timestamp=1&nonce=1")
    assert status == 400


async def test_literal_plus_in_echostr_is_kept(driver: WeComDriver, bot: Bot) -> None:
    # Sent unencoded, a "+" would become a space under form decoding and break the signature.
    ts, nonce = str(int(time.time())), "2"
    for attempt in range(200):
        plain = f"echo{attempt}"
        encrypted, signature = driver.fake.crypto.encrypt(plain, timestamp=ts, nonce=nonce)
        if "+" in encrypted:
            break
    assert "+" in encrypted
    status, body = await _get(
        f"{bot.url}?msg_signature={signature}&timestamp={ts}&nonce={nonce}&echostr={encrypted}"
    )
    assert (status, body) == (200, plain)
