"""Outgoing-robot HTTP mode: timestamp + HMAC-SHA256 signature, then the same translation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.channels.dingtalk import DINGTALK_STREAM, setup_dingtalk
from bot.channels.dingtalk.http_mode import sign, verify_signature
from bot.channels.dingtalk.settings import DingTalkSettings
from tests.channels.dingtalk.conftest import CollectingDispatcher
from tests.fakes.dingtalk import bot_audio, bot_text

SECRET = "robot-app-secret"


def _headers(secret: str = SECRET, ts_ms: int | None = None) -> dict[str, str]:
    ts = str(int(time.time() * 1000) if ts_ms is None else ts_ms)
    return {"timestamp": ts, "sign": sign(ts, secret), "Content-Type": "application/json"}


@pytest.fixture
async def http(dispatcher: CollectingDispatcher, tmp_path: Path) -> AsyncIterator[TestClient]:
    settings = DingTalkSettings(
        client_id="ding-app",
        client_secret=SECRET,
        http_mode=True,
        api_base_url="http://127.0.0.1:9",
        attachments_dir=tmp_path,
    )
    app = web.Application()
    setup_dingtalk(app, settings, dispatcher)
    assert DINGTALK_STREAM not in app  # no Stream client in HTTP mode
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


def test_sign_matches_dingtalk_formula() -> None:
    ts = "1700000000000"
    expected = base64.b64encode(hmac.new(b"k", b"1700000000000\nk", hashlib.sha256).digest()).decode()
    assert sign(ts, "k") == expected
    assert verify_signature(ts, expected, "k", now_ms=1700000000000 + 3_599_000)
    assert not verify_signature(ts, expected, "k", now_ms=1700000000000 + 3_601_000)  # over an hour old
    assert not verify_signature(ts, expected, "other", now_ms=1700000000000)
    assert not verify_signature(None, expected, "k", now_ms=0)
    assert not verify_signature("12ab", expected, "k", now_ms=0)


async def test_signed_message_is_accepted(http: TestClient, dispatcher: CollectingDispatcher) -> None:
    resp = await http.post(
        "/dingtalk/robot", data=json.dumps(bot_audio("回访了格力", msg_id="h1")), headers=_headers()
    )
    assert resp.status == 200 and await resp.json() == {}
    [msg] = dispatcher.messages
    assert msg.message_id == "h1" and msg.text == "回访了格力" and msg.from_voice


async def test_retried_delivery_is_deduplicated(http: TestClient, dispatcher: CollectingDispatcher) -> None:
    body = json.dumps(bot_text("重复投递", msg_id="h2"))
    for _ in range(3):
        assert (await http.post("/dingtalk/robot", data=body, headers=_headers())).status == 200
    assert len(dispatcher.events) == 1


@pytest.mark.parametrize(
    "headers",
    [
        _headers(secret="wrong-secret"),
        _headers(ts_ms=int(time.time() * 1000) - 2 * 3600 * 1000),  # stale
        {"timestamp": str(int(time.time() * 1000))},  # no sign
        {},
    ],
)
async def test_bad_signature_is_refused_and_nothing_stored(
    http: TestClient, dispatcher: CollectingDispatcher, headers: dict[str, str]
) -> None:
    resp = await http.post(
        "/dingtalk/robot", data=json.dumps(bot_text("伪造", msg_id="forged")), headers=headers
    )
    assert resp.status == 403
    assert dispatcher.calls == 0


async def test_malformed_body_is_refused_without_a_crash(
    http: TestClient, dispatcher: CollectingDispatcher
) -> None:
    assert (await http.post("/dingtalk/robot", data="{nope", headers=_headers())).status == 400
    assert (await http.post("/dingtalk/robot", data="[]", headers=_headers())).status == 200
    bad = {**bot_text("x", msg_id="h3"), "text": 5}
    assert (await http.post("/dingtalk/robot", data=json.dumps(bad), headers=_headers())).status == 200
    assert dispatcher.events == []
