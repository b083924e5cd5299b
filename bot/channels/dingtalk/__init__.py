"""DingTalk (钉钉) channel: Stream-mode robot (or outgoing-robot HTTP mode), cards, sending.

The package imports lazily: `bot.settings` reads `bot.channels.dingtalk.settings` on every
command, and must not pay for the SDK, aiohttp and websockets when DingTalk is not used.
The wiring lives in `wiring.py` (`setup_dingtalk`).
"""

from __future__ import annotations

from typing import Any

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


def __getattr__(name: str) -> Any:
    if name in __all__:
        from bot.channels.dingtalk import wiring

        return getattr(wiring, name)
    raise AttributeError(name)
