"""The outbox drainer: delivers queued replies and cards through each channel, with retries.

Rows are claimed in their own short transaction (SKIP LOCKED on PostgreSQL, so replicas never
send the same row); network errors, 5xx and rate limits back off exponentially with jitter;
request errors and the last failed try mark the row `failed` (`crmbot outbox --failed/--retry`).
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import datetime, timedelta

from bot.cards import card_from_dict
from bot.services import Services
from bot.types import ChannelSender, SendError, SendResult
from storage.messaging import OutgoingMessage
from storage.uow import SqlUnitOfWork

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
BASE_DELAY = 2.0
MAX_DELAY = 300.0
# Outcomes are written in one transaction per this many sends, not one per send (a transaction
# per message cost as much as the handler's own). A crash loses at most these marks: the rows
# are sent again once their lease runs out, as the one row in flight always could be.
RECORD_EVERY = 10
LEASE = timedelta(seconds=120)


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with full jitter: 2 s, 4 s, 8 s … capped at 5 min."""
    ceiling = min(MAX_DELAY, BASE_DELAY * 2**attempts)
    r = (rng or random).uniform(0.5, 1.0)
    return timedelta(seconds=ceiling * r)


async def deliver(sender: ChannelSender, msg: OutgoingMessage) -> SendResult:
    body = msg.body
    if msg.kind == "text":
        return await sender.send_text(msg.recipient, body["text"])
    card = card_from_dict(body["card"])
    if msg.kind == "card":
        return await sender.send_card(msg.recipient, card, card_id=msg.card_id or "")
    if msg.kind == "card_update":
        ref = SendResult(ref=body.get("ref"), response_code=body.get("response_code"))
        return await sender.send_card(msg.recipient, card, card_id=msg.card_id or "") if not (
            ref.ref or ref.response_code) else await sender.update_card(
            msg.recipient, card, card_id=msg.card_id or "", ref=ref)
    raise SendError(f"unknown outbox kind {msg.kind}", retryable=False)


async def drain_once(services: Services, senders: dict[str, ChannelSender], *, limit: int = 50) -> int:
    """Send what is due; returns how many rows were handled."""
    now = services.clock.now()

    def claim() -> list[OutgoingMessage]:
        with services.uow_factory() as uow:
            # the due time moves forward while we send, so a concurrent drainer skips these rows
            rows = uow.outbox.take_due(now, now + LEASE, channels=list(senders), limit=limit)
            uow.commit()
            return rows

    rows = await asyncio.to_thread(claim)
    outcomes: list[tuple[OutgoingMessage, SendResult | SendError]] = []
    for msg in rows:  # one at a time, in order: a user's messages arrive in the order they were written
        sender = senders[msg.channel]
        try:
            outcomes.append((msg, await deliver(sender, msg)))
        except SendError as err:
            outcomes.append((msg, err))
        except Exception as err:  # a bug in a sender must not stop the drainer
            log.exception("sender %s crashed on outbox row %s", msg.channel, msg.id)
            outcomes.append((msg, SendError(str(err), retryable=True)))
        if len(outcomes) >= RECORD_EVERY:
            await asyncio.to_thread(_record, services, outcomes)
            outcomes = []
    if outcomes:
        await asyncio.to_thread(_record, services, outcomes)
    return len(rows)


def _record(services: Services, outcomes: list[tuple[OutgoingMessage, SendResult | SendError]]) -> None:
    now = services.clock.now()
    with services.uow_factory() as uow:
        for msg, outcome in outcomes:
            if isinstance(outcome, SendError):
                _record_failure(uow, msg, outcome, now)
            else:
                _record_success(uow, msg, outcome, now)
        uow.commit()


def _record_success(uow: SqlUnitOfWork, msg: OutgoingMessage, result: SendResult, now: datetime) -> None:
    uow.outbox.mark_sent(msg.id, now)
    if msg.card_id and (result.ref or result.response_code):
        uow.cards.set_ref(msg.card_id, result.ref, result.response_code)


def _record_failure(uow: SqlUnitOfWork, msg: OutgoingMessage, err: SendError, now: datetime) -> None:
    attempts = msg.attempts + 1
    if err.retryable and attempts < MAX_ATTEMPTS:
        uow.outbox.mark_retry(msg.id, now, backoff(attempts), str(err))
        log.warning("outbox row %s: retry %s after %s", msg.id, attempts, err)
    else:
        uow.outbox.mark_failed(msg.id, now, str(err))
        log.error("outbox row %s failed for good: %s", msg.id, err)
