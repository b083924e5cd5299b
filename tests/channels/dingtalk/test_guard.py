"""The loopback guard of this test directory really refuses, and the SDK's fixed hosts are redirected."""

from __future__ import annotations

import socket

import dingtalk_stream
import pytest

from tests.fakes.dingtalk import FakeDingTalk


def test_guard_refuses_and_records_a_non_loopback_connect(no_internet: list[str]) -> None:
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("203.0.113.7", 443))  # TEST-NET-3, never routed
    with pytest.raises(OSError):
        socket.getaddrinfo("api.dingtalk.com", 443)
    assert len(no_internet) == 2
    no_internet.clear()  # expected here; any other test recording one fails at teardown


def test_sdk_calls_that_read_the_import_time_endpoint_stay_on_loopback(no_internet: list[str]) -> None:
    sdk = dingtalk_stream.DingTalkStreamClient(dingtalk_stream.Credential("id", "secret"))
    assert sdk.get_host_ip() == ""  # patched: the original "connects" to 8.8.8.8
    assert sdk.open_connection() is None  # goes to the dead loopback port, not api.dingtalk.com
    assert sdk.get_access_token() is None
    assert no_internet == []


async def test_malformed_ping_data_is_still_acked(fake: FakeDingTalk) -> None:
    from bot.channels.dingtalk.stream import DingTalkStream
    from tests.channels.dingtalk.conftest import CollectingDispatcher

    client = DingTalkStream(fake.settings(), CollectingDispatcher())
    client.start_background()
    try:
        await fake.wait_connections(1)
        frame_id = fake.push_callback("ping", "{oops", kind="SYSTEM")
        await fake.wait_acks(1)
        assert fake.acks[0].message_id == frame_id and fake.acks[0].code == 200
    finally:
        await client.stop()
