"""Writing messages and cards to the outbox inside the current transaction, for anyone.

Handlers use it through `Context`; scans, imports and the call-log API use it directly.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.cards import card_to_dict
from bot.types import Card
from core.model import User

if TYPE_CHECKING:
    from bot.services import Services
    from storage.uow import SqlUnitOfWork


def new_card_id() -> str:
    return "c" + secrets.token_hex(8)


class Notifier:
    def __init__(self, services: Services, uow: SqlUnitOfWork, now: datetime) -> None:
        self.services, self.uow, self.now = services, uow, now
        self.sent: list[dict[str, Any]] = []

    def notify(self, user: User, message: str | Card, *, state: dict[str, Any] | None = None) -> str | None:
        """To a user on their channel; returns the card id for cards."""
        channel, recipient = self.services.route_for(user)
        if isinstance(message, Card):
            return self.card(user, channel, recipient, message, state)
        self.text(user, channel, recipient, message)
        return None

    def text(self, user: User, channel: str, recipient: str, text: str) -> None:
        self.out(user.id, channel, recipient, "text", {"text": text})

    def card(self, user: User, channel: str, recipient: str, card: Card,
             state: dict[str, Any] | None = None) -> str:
        card_id = new_card_id()
        body = card_to_dict(card)
        stored = {**body, "state": state} if state else body
        self.uow.cards.add(card_id=card_id, channel=channel, user_id=user.id, body=stored, now=self.now)
        self.out(user.id, channel, recipient, "card", {"card": body}, card_id=card_id)
        return card_id

    def out(self, user_id: str, channel: str, recipient: str, kind: str, body: dict[str, Any],
            card_id: str | None = None) -> None:
        self.uow.outbox.add(channel=channel, user_id=user_id, recipient=recipient, kind=kind, body=body,
                            now=self.now, card_id=card_id)
        self.sent.append({"to": user_id, "kind": kind, **body})
