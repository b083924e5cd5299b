"""DingTalk (钉钉) channel: Stream-mode robot (or outgoing-robot HTTP mode), cards, sending.

Wiring (once, in `build_app`)::

    sender = setup_dingtalk(app, settings.dingtalk, dispatcher)
    outbox_senders["dingtalk"] = sender

Stream mode starts the client on app startup and stops it on cleanup; HTTP mode registers
`settings.http_path` as a POST route instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from bot.channels.dingtalk.client import DingTalkAPIError, DingTalkClient
from bot.channels.dingtalk.http_mode import make_handler
from bot.channels.dingtalk.inbound import AcceptGate, InboundTranslator
from bot.channels.dingtalk.sender import DingTalkSender, render_card
from bot.channels.dingtalk.settings import DingTalkSettings
from bot.channels.dingtalk.stream import DingTalkStream
from bot.types import Dispatcher

DINGTALK_STREAM = web.AppKey("dingtalk_stream", DingTalkStream)
DINGTALK_CLIENT = web.AppKey("dingtalk_client", DingTalkClient)

__all__ = [
    "DINGTALK_CLIENT",
    "DINGTALK_STREAM",
    "DingTalkAPIError",
    "DingTalkClient",
    "DingTalkSender",
    "DingTalkSettings",
    "DingTalkStream",
    "render_card",
    "setup_dingtalk",
]


def setup_dingtalk(
    app: web.Application, settings: DingTalkSettings, dispatcher: Dispatcher, *, inbound: bool = True
) -> DingTalkSender:
    """Attach the DingTalk channel to `app` and return the sender for the outbox drainer.
    `inbound=False` (a worker process): no Stream connection or HTTP route, the sender only."""
    client = DingTalkClient(settings)
    translator = InboundTranslator(settings, client)
    app[DINGTALK_CLIENT] = client

    if not inbound:
        pass
    elif settings.http_mode:
        gate = AcceptGate(dispatcher)
        app.router.add_post(settings.http_path, make_handler(settings.signing_secret, translator, gate))
    else:
        stream = DingTalkStream(settings, dispatcher, client=client, translator=translator)
        app[DINGTALK_STREAM] = stream

        async def stream_lifecycle(_app: web.Application) -> AsyncIterator[None]:
            stream.start_background()
            yield
            await stream.stop()

        app.cleanup_ctx.append(stream_lifecycle)

    async def close_client(_app: web.Application) -> AsyncIterator[None]:
        yield
        await client.close()

    # cleanup_ctx unwinds in reverse: registered first, the client closes after the stream stops.
    app.cleanup_ctx.insert(0, close_client)
    return DingTalkSender(client)
