"""What a handler gets: the sender, the transaction, the time, the services, and ways to answer.

Everything a handler says is written to the outbox inside the handler's transaction, so a
reply goes out if and only if the change it reports was committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.cards import card_to_dict
from bot.notify import Notifier, new_card_id  # noqa: F401 - re-exported for feature modules
from bot.types import Card, CardAction, IncomingMessage
from core.model import User
from storage.messaging import Dialog

if TYPE_CHECKING:
    from bot.services import Services
    from storage.uow import SqlUnitOfWork


@dataclass
class Context:
    services: Services
    uow: SqlUnitOfWork
    user: User
    event: IncomingMessage | CardAction
    now: datetime
    card_id: str | None = None  # the card that was pressed, for CardAction events

    def __post_init__(self) -> None:
        self.notifier = Notifier(self.services, self.uow, self.now)

    @property
    def sent(self) -> list[dict[str, Any]]:
        return self.notifier.sent

    @property
    def tz(self) -> ZoneInfo:
        return self.services.tz

    @property
    def local_now(self) -> datetime:
        return self.now.astimezone(self.tz)

    @property
    def channel(self) -> str:
        return self.event.channel

    # ------------------------------------------------------------ answering the sender
    def reply(self, text: str) -> None:
        self._out(self.user, self.channel, self.event.sender_platform_id, "text", {"text": text})

    def reply_card(self, card: Card, *, state: dict[str, Any] | None = None) -> str:
        """Send a card; `state` is kept with the card (never sent) for its button handlers."""
        return self._card(self.user, self.channel, self.event.sender_platform_id, card, state)

    def close_card(self, card: Card, action: str) -> bool:
        """Mark the pressed card handled (its buttons work once) and show what was done on it.

        False when another press got there first; the caller then changes nothing.
        """
        if self.card_id is None:
            self.reply_card(card)
            return True
        if not self.uow.cards.claim(self.card_id, self.user.id, action, self.now):
            return False
        self.update_pressed_card(card)
        return True

    def update_pressed_card(self, card: Card) -> None:
        """Show on the pressed card what was done (in place where the platform allows)."""
        if self.card_id is None:
            self.reply_card(card)
            return
        row = self.uow.cards.get(self.card_id)
        body = {"card": card_to_dict(card), "ref": row.ref if row else None,
                "response_code": getattr(self.event, "response_code", None) or (row.response_code if row else None)}
        self._out(self.user, self.channel, self.event.sender_platform_id, "card_update", body, card_id=self.card_id)

    # ------------------------------------------------------------ notifying other people
    def notify(self, user: User, message: str | Card, *, state: dict[str, Any] | None = None) -> str | None:
        return self.notifier.notify(user, message, state=state)

    # ------------------------------------------------------------ dialogs
    def card_state(self) -> dict[str, Any]:
        """The state stored with the pressed card (see reply_card)."""
        row = self.uow.cards.get(self.card_id) if self.card_id else None
        return dict((row.body or {}).get("state") or {}) if row else {}

    def ask(self, kind: str, step: str, question: str | Card, data: dict[str, Any] | None = None, *,
            card_state: dict[str, Any] | None = None) -> str | None:
        """Open a dialog step; a Card question returns its id (`card_state` is kept with it, see reply_card)."""
        minutes = self.services.settings.dialog_timeout_minutes
        if isinstance(question, Card):
            card_id = self.reply_card(question, state=card_state)
            data = {**(data or {}), "question_card_id": card_id}
        else:
            card_id = None
            self.reply(question)
        self.uow.dialogs.put(Dialog(self.user.id, kind, step, data or {}, self.channel,
                                    self.now + timedelta(minutes=minutes)), self.now)
        return card_id

    def end_dialog(self) -> None:
        self.uow.dialogs.clear(self.user.id)

    # ------------------------------------------------------------ internals
    def _card(self, user: User, channel: str, recipient: str, card: Card,
              state: dict[str, Any] | None = None) -> str:
        return self.notifier.card(user, channel, recipient, card, state)

    def _out(self, user: User, channel: str, recipient: str, kind: str, body: dict[str, Any],
             card_id: str | None = None) -> None:
        self.notifier.out(user.id, channel, recipient, kind, body, card_id)
