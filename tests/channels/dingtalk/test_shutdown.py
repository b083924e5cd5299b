"""Shutdown really ends the Stream client, although the SDK's own start() swallows cancellation."""

from __future__ import annotations

import asyncio
import time

import dingtalk_stream
import pytest
from aiohttp import web

from bot.channels.dingtalk import DINGTALK_CLIENT, DINGTALK_STREAM, setup_dingtalk
from bot.channels.dingtalk.stream import DingTalkStream
from tests.channels.dingtalk.conftest import CollectingDispatcher
from tests.fakes.dingtalk import FakeDingTalk, bot_text

OPEN = "/v1.0/gateway/connections/open"


async def _timed_stop(client: DingTalkStream) -> float:
    started = time.monotonic()
    await asyncio.wait_for(client.stop(), 10)
    return time.monotonic() - started


async def test_stop_while_connected_ends_the_client(
    fake: FakeDingTalk, dispatcher: CollectingDispatcher
) -> None:
    client = DingTalkStream(fake.settings(), dispatcher)
    task = client.start_background()
    await asyncio.wait_for(client.connected.wait(), 5)
    assert await _timed_stop(client) < 2
    assert task.done() and not client.running
    await fake.wait_until(lambda: not fake.live_connections(), 3, "the socket to close")
    await asyncio.sleep(0.2)
    assert len(fake.connections) == 1 and len(fake.open_requests) == 1  # and it did not reconnect


async def test_stop_during_reconnect_backoff(fake: FakeDingTalk, dispatcher: CollectingDispatcher) -> None:
    fake.fail(OPEN, 500, times=100)
    client = DingTalkStream(fake.settings(reconnect_base_delay=30, reconnect_max_delay=60), dispatcher)
    client.start_background()
    await fake.wait_until(lambda: [r.path for r in fake.requests].count(OPEN) >= 1, 5, "a first attempt")
    await asyncio.sleep(0.05)  # now sleeping 15-30 s before the next attempt
    assert await _timed_stop(client) < 2 and not client.running


async def test_stop_while_open_connection_hangs(fake: FakeDingTalk, dispatcher: CollectingDispatcher) -> None:
    fake.slow(OPEN, 30)
    client = DingTalkStream(fake.settings(request_timeout=60), dispatcher)
    client.start_background()
    await fake.wait_until(lambda: [r.path for r in fake.requests].count(OPEN) >= 1, 5, "the hanging request")
    assert await _timed_stop(client) < 3 and not client.running


async def test_a_single_cancel_ends_the_task(fake: FakeDingTalk, dispatcher: CollectingDispatcher) -> None:
    # What asyncio.run / aiohttp do on SIGTERM: cancel the task once.
    client = DingTalkStream(fake.settings(), dispatcher)
    task = client.start_background()
    await asyncio.wait_for(client.connected.wait(), 5)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)
    assert task in done and task.cancelled()
    await client.stop()


async def test_stop_lets_in_flight_frames_finish_and_ack(fake: FakeDingTalk) -> None:
    slow_inbox = CollectingDispatcher(delay=0.3)
    client = DingTalkStream(fake.settings(), slow_inbox)
    client.start_background()
    await asyncio.wait_for(client.connected.wait(), 5)
    fake.push_bot_message(bot_text("关机前最后一句", msg_id="last"))
    await fake.wait_until(lambda: slow_inbox.calls == 1, 3, "the frame to reach the inbox")
    await client.stop()
    await fake.wait_acks(1, timeout=2)
    assert [m.message_id for m in slow_inbox.messages] == ["last"] and fake.acks[0].code == 200


async def test_the_sdk_start_swallows_a_cancel_which_is_why_we_do_not_use_it(
    fake: FakeDingTalk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Canary for the trap in dingtalk-stream 0.24.3; if this fails, the SDK changed: re-check stream.py."""
    monkeypatch.setattr(dingtalk_stream.DingTalkStreamClient, "OPEN_CONNECTION_API", fake.base_url + OPEN)
    sdk = dingtalk_stream.DingTalkStreamClient(dingtalk_stream.Credential(fake.client_id, fake.client_secret))
    sdk.register_callback_handler(dingtalk_stream.ChatbotMessage.TOPIC, dingtalk_stream.CallbackHandler())
    try:
        # start() calls blocking requests on this loop: fine here only because the fake has its own thread.
        task = asyncio.create_task(sdk.start())
        await fake.wait_connections(1)
        task.cancel()
        await asyncio.sleep(0.3)
        assert not task.done(), "the SDK now honours cancellation"  # it caught it and sleeps 10 s
        task.cancel()  # a second cancel lands in that sleep and ends it
        done, _ = await asyncio.wait({task}, timeout=2)
        assert task in done
    finally:
        for leftover in asyncio.all_tasks():
            if leftover.get_coro().__qualname__.endswith("keepalive"):  # type: ignore[union-attr]
                leftover.cancel()


async def test_setup_dingtalk_starts_on_startup_and_stops_on_cleanup(
    fake: FakeDingTalk, dispatcher: CollectingDispatcher
) -> None:
    app = web.Application()
    sender = setup_dingtalk(app, fake.settings(), dispatcher)
    assert sender.name == "dingtalk"
    runner = web.AppRunner(app)
    await runner.setup()  # runs the startup half of cleanup_ctx
    stream = app[DINGTALK_STREAM]
    await asyncio.wait_for(stream.connected.wait(), 5)
    fake.push_bot_message(bot_text("通过 app 接入", msg_id="via-app"))
    await fake.wait_acks(1)
    await sender.send_text("staff-001", "收到")
    started = time.monotonic()
    await runner.cleanup()
    assert time.monotonic() - started < 3
    assert (
        not stream.running
        and app[DINGTALK_CLIENT]._session is not None
        and app[DINGTALK_CLIENT]._session.closed
    )
    assert [m.message_id for m in dispatcher.messages] == ["via-app"]
