"""DingTalk (钉钉) channel settings: the `[dingtalk]` section of crmbot.toml.

`bot.settings.Settings` embeds it as `dingtalk` (environment: `CRMBOT_DINGTALK__CLIENT_ID` …).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, model_validator

DEFAULT_API_BASE_URL = "https://api.dingtalk.com"
OPEN_CONNECTION_PATH = "/v1.0/gateway/connections/open"


class DingTalkSettings(BaseModel):
    """Credentials and endpoints of one DingTalk enterprise-internal app with a robot."""

    client_id: str = ""  # AppKey / Client ID; DingTalk is enabled when it is set
    client_secret: SecretStr = SecretStr("")
    robot_code: str = ""  # defaults to client_id, which is what DingTalk assigns to an app's robot
    card_template_id: str = ""  # interactive card template built in DingTalk's card builder
    api_base_url: str = DEFAULT_API_BASE_URL
    # Derived from api_base_url unless set: tests and private deployments point both at one host.
    stream_open_url: str = ""
    # Optional outgoing-robot HTTP mode for teams that cannot hold a Stream connection.
    http_mode: bool = False
    http_path: str = "/dingtalk/robot"
    app_secret: SecretStr = SecretStr("")  # signing key of HTTP mode; defaults to client_secret
    attachments_dir: Path = Path("data/attachments/dingtalk")
    max_attachment_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    request_timeout: float = Field(default=10.0, gt=0)
    # Reconnect backoff of the Stream client: base * 2**attempt, capped, with jitter.
    reconnect_base_delay: float = Field(default=1.0, ge=0)
    reconnect_max_delay: float = Field(default=60.0, gt=0)
    max_concurrent_frames: int = Field(default=64, gt=0)

    @model_validator(mode="after")
    def _derive_defaults(self) -> DingTalkSettings:
        self.api_base_url = self.api_base_url.rstrip("/")
        if not self.stream_open_url:
            self.stream_open_url = self.api_base_url + OPEN_CONNECTION_PATH
        if not self.robot_code:
            self.robot_code = self.client_id
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.client_id)

    @property
    def signing_secret(self) -> str:
        """Key of the outgoing-robot signature: app_secret, or the app's client secret."""
        return self.app_secret.get_secret_value() or self.client_secret.get_secret_value()
