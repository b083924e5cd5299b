"""WeCom (企业微信) self-built app channel: encrypted callback in, server API out.

Wiring (one call in `build_app`)::

    sender = setup_wecom(app, settings.wecom, dispatcher)   # registers GET+POST /wecom/callback
    senders["wecom"] = sender                                # the outbox drainer sends through it

Importing this package is cheap (`bot.settings` imports `.settings`): aiohttp, wechatpy and the
rest load only when `setup_wecom` or one of the re-exported names is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiohttp import web

    from bot.channels.wecom.sender import WeComSender
    from bot.channels.wecom.settings import WeComSettings
    from bot.types import Dispatcher

CALLBACK_PATH = "/wecom/callback"

_EXPORTS = {
    "WeComAPIError": "bot.channels.wecom.client",
    "WeComClient": "bot.channels.wecom.client",
    "WeComCallback": "bot.channels.wecom.callback",
    "WeComSender": "bot.channels.wecom.sender",
    "WeComSettings": "bot.channels.wecom.settings",
}

__all__ = ["CALLBACK_PATH", "setup_wecom", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def setup_wecom(
    app: web.Application, settings: WeComSettings, dispatcher: Dispatcher, *, inbound: bool = True
) -> WeComSender:
    """Register the callback on `app` and return the outbox sender; its HTTP session closes on cleanup.
    `inbound=False` (a worker process): the sender only.

    Raises ValueError (with a Chinese message) when the settings cannot work at all.
    """
    from bot.channels.wecom.callback import WeComCallback
    from bot.channels.wecom.client import WeComClient
    from bot.channels.wecom.sender import WeComSender

    missing = [n for n in ("corp_id", "secret", "token", "aes_key") if not getattr(settings, n)]
    if not settings.agent_id:
        missing.append("agent_id")
    if missing:
        raise ValueError(
            f"企业微信配置不完整，缺少：{', '.join(missing)}（运行 crmbot wecom check 查看详情）"
        )
    try:
        callback = WeComCallback(settings, dispatcher)
    except ValueError as exc:
        raise ValueError(
            "企业微信 EncodingAESKey 无效：应为 43 位字母和数字（运行 crmbot wecom check 查看详情）"
        ) from exc
    if inbound:
        callback.register(app, CALLBACK_PATH)
    sender = WeComSender(WeComClient(settings), settings)

    async def _close(_: web.Application) -> None:
        await sender.close()

    app.on_cleanup.append(_close)
    return sender
