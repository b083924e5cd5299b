"""Fixtures for the DingTalk channel tests: a fake DingTalk, a collecting dispatcher, and a
guard that fails any test whose code tries to reach a host other than 127.0.0.1."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import dingtalk_stream
import dingtalk_stream.card_replier
import dingtalk_stream.chatbot
import dingtalk_stream.stream
import dingtalk_stream.utils
import pytest

from bot.types import CardAction, IncomingMessage
from tests.fakes.dingtalk import FakeDingTalk

# Where the SDK's import-time endpoint copies are pointed: a closed loopback port, so a stray
# SDK call fails fast and locally instead of reaching api.dingtalk.com.
DEAD_ENDPOINT = "http://127.0.0.1:9"


def _is_loopback(host: Any) -> bool:
    if host in (None, "localhost", b"localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.decode() if isinstance(host, bytes) else str(host)).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_internet(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Refuse (and then fail the test on) any connect or DNS lookup that is not loopback."""
    attempts: list[str] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(address: Any) -> None:
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            attempts.append(repr(address))
            raise ConnectionRefusedError(f"test tried to leave 127.0.0.1: {address!r}")

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host):
            attempts.append(f"DNS {host!r}")
            raise socket.gaierror(f"test tried to resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    # The SDK reads DINGTALK_OPENAPI_ENDPOINT once at import and copies it into several modules.
    monkeypatch.setenv("DINGTALK_OPENAPI_ENDPOINT", DEAD_ENDPOINT)
    for module in (
        dingtalk_stream.utils,
        dingtalk_stream.stream,
        dingtalk_stream.chatbot,
        dingtalk_stream.card_replier,
    ):
        monkeypatch.setattr(module, "DINGTALK_OPENAPI_ENDPOINT", DEAD_ENDPOINT, raising=False)
    monkeypatch.setattr(
        dingtalk_stream.DingTalkStreamClient,
        "OPEN_CONNECTION_API",
        DEAD_ENDPOINT + "/v1.0/gateway/connections/open",
    )
    monkeypatch.setattr(dingtalk_stream.DingTalkStreamClient, "get_host_ip", lambda self: "")
    yield attempts
    # Some code (the SDK's get_host_ip, for one) swallows the refusal: fail on the record instead.
    assert not attempts, f"non-loopback connection attempted: {attempts}"


class CollectingDispatcher:
    """Records events and dedupes by message_id / event_id like the inbox does."""

    def __init__(self, delay: float = 0.0) -> None:
        self.events: list[IncomingMessage | CardAction] = []
        self.calls = 0
        self.delay = delay
        self.fail_next = 0  # raise on the next N calls: the inbox is down
        self._keys: set[str] = set()

    async def accept(self, event: IncomingMessage | CardAction) -> bool:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("inbox unavailable")
        key = event.message_id if isinstance(event, IncomingMessage) else "card:" + event.event_id
        if key in self._keys:
            return False
        self._keys.add(key)
        self.events.append(event)
        return True

    @property
    def messages(self) -> list[IncomingMessage]:
        return [e for e in self.events if isinstance(e, IncomingMessage)]

    @property
    def actions(self) -> list[CardAction]:
        return [e for e in self.events if isinstance(e, CardAction)]


@pytest.fixture
def fake() -> Iterator[FakeDingTalk]:
    with FakeDingTalk() as server:
        yield server


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()
