"""The `[wecom]` configuration section (`CRMBOT_WECOM__CORP_ID` etc. in the environment)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

DEFAULT_API_BASE_URL = "https://qyapi.weixin.qq.com"


class WeComSettings(BaseModel):
    """Credentials of the WeCom self-built app and the knobs of its adapter.

    Secrets are excluded from `repr` so that a logged settings object does not leak them.
    """

    corp_id: str = ""
    agent_id: int = 0
    secret: str = Field(default="", repr=False)
    token: str = Field(default="", repr=False)  # callback Token from the admin console
    aes_key: str = Field(default="", repr=False)  # the 43-character EncodingAESKey
    api_base_url: str = DEFAULT_API_BASE_URL
    callback_url: str = ""  # public URL WeCom posts to, e.g. https://crm.example.com/wecom/callback
    attachments_dir: Path = Path("data/attachments/wecom")
    max_body_bytes: int = 1024 * 1024  # a real callback is a few KB; anything above is refused
    max_clock_skew_seconds: int = 300  # callbacks whose timestamp is further off are refused as replays
    request_timeout_seconds: float = 10.0  # per API call; the outbox retries what times out
    # WeCom's own duplicate check on message/send: an identical text to the same user within this
    # window is delivered once, which makes a resend after an ambiguous timeout harmless. 0 = off.
    duplicate_check_seconds: int = 600

    @property
    def enabled(self) -> bool:
        return bool(self.corp_id)
