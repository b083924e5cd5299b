"""WeCom (企业微信) self-built app channel: encrypted callback in, server API out.

Wiring (one call in `build_app`)::

    sender = setup_wecom(app, settings.wecom, dispatcher)   # registers GET+POST /wecom/callback
    outbox_senders["wecom"] = sender                         # the drainer sends through it
"""

from __future__ import annotations

from aiohttp import web

from bot.channels.wecom.callback import WeComCallback
from bot.channels.wecom.client import WeComAPIError, WeComClient
from bot.channels.wecom.sender import WeComSender
from bot.channels.wecom.settings import WeComSettings
from bot.types import Dispatcher

CALLBACK_PATH = "/wecom/callback"

__all__ = [
    "CALLBACK_PATH",
    "WeComAPIError",
    "WeComCallback",
    "WeComClient",
    "WeComSender",
    "WeComSettings",
    "setup_wecom",
]


def setup_wecom(app: web.Application, settings: WeComSettings, dispatcher: Dispatcher) -> WeComSender:
    """Register the callback on `app` and return the outbox sender; its HTTP session closes on cleanup."""
    WeComCallback(settings, dispatcher).register(app, CALLBACK_PATH)
    sender = WeComSender(WeComClient(settings), settings)

    async def _close(_: web.Application) -> None:
        await sender.close()

    app.on_cleanup.append(_close)
    return sender
