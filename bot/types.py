"""Neutral message, card and channel types.

Platform types stop at the channel adapter: inside crmbot everything is an `IncomingMessage`,
a `CardAction` or a `Card`. Channel adapters (console, WeCom, DingTalk) translate both ways.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

ChannelName = Literal["console", "wecom", "dingtalk"]
MessageKind = Literal["text", "voice", "image", "file", "unknown"]


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file or image a user sent; `path` is a local file the adapter already saved.

    When the platform only hands over a media id (WeCom MediaId), the adapter leaves `path` empty and
    sets `media_ref`; the work task asks the channel to download it (WeComSender.fetch_attachment).
    """

    filename: str
    path: str
    content_type: str = "application/octet-stream"
    size: int = 0
    media_ref: str | None = None  # platform media id, when `path` is not filled yet


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    channel: ChannelName
    message_id: str  # the platform's id, unique per channel: the inbox key
    sender_platform_id: str  # WeCom userid / DingTalk staffId / crmbot userid on the console
    text: str
    kind: MessageKind = "text"
    received_at: datetime | None = None
    from_voice: bool = False  # text came from the platform's speech-to-text
    attachments: tuple[Attachment, ...] = ()
    conversation_id: str | None = None  # group chats
    is_group: bool = False
    mentioned_bot: bool = False


@dataclass(frozen=True, slots=True)
class CardAction:
    """A button press. `action_id` is a namespaced id such as `alert:snooze:42:3d`."""

    channel: ChannelName
    event_id: str  # unique per channel: the inbox key
    sender_platform_id: str
    action_id: str
    card_ref: str | None = None  # platform reference of the pressed card (task_id / outTrackId / console id)
    response_code: str | None = None  # WeCom: single-use code to update the pressed card
    received_at: datetime | None = None
    values: dict[str, str] = field(default_factory=dict)  # free input a platform card may carry


ButtonStyle = Literal["primary", "default", "danger"]


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    action_id: str
    style: ButtonStyle = "default"


@dataclass(frozen=True, slots=True)
class Card:
    """A platform-neutral card: title, optional description, key/value fields, at most 6 buttons."""

    title: str
    fields: tuple[tuple[str, str], ...] = ()
    buttons: tuple[Button, ...] = ()
    description: str = ""
    footer: str = ""

    def __post_init__(self) -> None:
        if len(self.buttons) > 6:
            raise ValueError("a card has at most 6 buttons")


@dataclass(frozen=True, slots=True)
class SendResult:
    """What a platform returned for a sent message: the reference needed to update it later."""

    ref: str | None = None  # WeCom task_id / DingTalk outTrackId / console card id
    response_code: str | None = None  # WeCom response_code for update_template_card


class SendError(Exception):
    """Sending failed. `retryable` errors (network, 5xx, rate limits) are retried by the outbox."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class ChannelSender(Protocol):
    """What the outbox drainer needs from a channel to deliver messages."""

    name: ChannelName

    async def send_text(self, to: str, text: str) -> SendResult: ...

    async def send_card(self, to: str, card: Card, *, card_id: str) -> SendResult: ...

    async def update_card(self, to: str, card: Card, *, card_id: str, ref: SendResult) -> SendResult: ...


class Dispatcher(Protocol):
    """What a channel adapter hands incoming events to.

    `accept` records the event in the inbox (a repeated delivery returns False and is dropped)
    and schedules the work in a tracked task; the adapter acknowledges the platform right after.
    """

    async def accept(self, event: IncomingMessage | CardAction) -> bool: ...
