"""The console (local) channel: a first-class channel for the terminal, demos and transcripts.

Replies are printed as `→ USERID: …`; cards as text with numbered buttons. Typing a button's
number or label presses it (`@USERID > LABEL` in scripts).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TextIO

from bot.cards import card_from_dict, render_text
from bot.runtime import handle_event, record_inbound
from bot.services import Services
from bot.types import CardAction, IncomingMessage

Printer = Callable[[str], None]


def send_message(services: Services, user_id: str, text: str, *, attachments: tuple = ()) -> None:  # type: ignore[type-arg]
    event = IncomingMessage(channel="console", message_id=f"console-{uuid.uuid4().hex}", sender_platform_id=user_id,
                            text=text, kind="file" if attachments and not text else "text",
                            received_at=services.clock.now(), attachments=attachments)
    _process(services, event)


def find_button(services: Services, user_id: str, choice: str) -> CardAction | str:
    """The press of `choice` on a card sent to the user, or an error text.

    A number, or a label the latest card has, presses that button of the latest card. Otherwise a
    label presses it on the most recent card that has one (unhandled cards first): a reminder that
    arrived in between does not hide the card the user is looking at.
    """
    with services.uow_factory() as uow:
        cards = uow.cards.recent_for_user(user_id, limit=20)
        if not cards:
            return "还没有发给您的卡片。"
        latest = (cards[0].id, list(cards[0].body.get("buttons", [])))
        by_label = [(c.handled_at is not None, i, c.id, b) for i, c in enumerate(cards)
                    for b in c.body.get("buttons", []) if b["label"] == choice]
    card_id, buttons = latest
    chosen = None
    if choice.isdigit() and 1 <= int(choice) <= len(buttons):
        chosen = buttons[int(choice) - 1]
    elif any(b["label"] == choice for b in buttons):
        chosen = next(b for b in buttons if b["label"] == choice)
    elif by_label:
        _, _, card_id, chosen = min(by_label, key=lambda t: (t[0], t[1]))
    if chosen is None:
        labels = "、".join(f"{i}.{b['label']}" for i, b in enumerate(buttons, 1)) or "（这张卡片没有按钮）"
        return f"最新的卡片上没有「{choice}」这个按钮。可选：{labels}"
    return CardAction(channel="console", event_id=f"console-{uuid.uuid4().hex}", sender_platform_id=user_id,
                      action_id=chosen["action_id"], card_ref=card_id, received_at=services.clock.now())


def press(services: Services, action: CardAction) -> None:
    _process(services, action)


def _process(services: Services, event: IncomingMessage | CardAction) -> None:
    inbox_id = record_inbound(services, event)
    if inbox_id is not None:
        handle_event(services, event, inbox_id)


def drain_console(services: Services, printer: Printer) -> int:
    """Print every pending console message in order and mark it sent."""
    count = 0
    while True:
        now = services.clock.now()
        with services.uow_factory() as uow:
            rows = uow.outbox.claim_due(now, channels=["console"], limit=100)
            for msg in rows:
                printer(format_output(msg.recipient, msg.kind, msg.body))
                uow.outbox.mark_sent(msg.id, now)
                if msg.card_id and msg.kind == "card":
                    uow.cards.set_ref(msg.card_id, msg.card_id, None)
            uow.commit()
        count += len(rows)
        if len(rows) < 100:
            return count


def format_output(recipient: str, kind: str, body: dict) -> str:  # type: ignore[type-arg]
    if kind == "text":
        return f"→ {recipient}: {body['text']}"
    card = card_from_dict(body["card"])
    prefix = "（卡片已更新）" if kind == "card_update" else ""
    return f"→ {recipient}: {prefix}{render_text(card)}"


def stream_printer(out: TextIO) -> Printer:
    def emit(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    return emit
