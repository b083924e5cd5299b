"""Configuration: crmbot.toml + CRMBOT_* environment variables (pydantic-settings).

Precedence: init kwargs > environment (`CRMBOT_WECOM__CORP_ID` ↔ `[wecom] corp_id`) > crmbot.toml.
The file is `--config FILE`, else `$CRMBOT_CONFIG`, else `./crmbot.toml` when present.
Everything has a working default: with no file at all crmbot runs on SQLite + the console.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot.channels.dingtalk.settings import DingTalkSettings
from bot.channels.wecom.settings import WeComSettings


class ConfigError(Exception):
    """A bad config file or value; the message names the file and the key."""


class ApiSettings(BaseModel):
    token: str = Field(default="", repr=False)  # bearer token for POST /api/calls; empty = API off


class ServerSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8080
    # handler processes beside the web process (bot/worker_pool.py); 0: one process does everything
    workers: int = Field(default=0, ge=0, le=64)


class DedupSettings(BaseModel):
    auto: float = 90.0  # at or above: link to the existing customer
    ask: float = 70.0  # between ask and auto: ask the rep "是否关联到 X？"


class CalendarSettings(BaseModel):
    extra_holidays: dict[str, str] = Field(default_factory=dict)  # "2027-02-04" = "春节调休"
    extra_workdays: list[str] = Field(default_factory=list)  # make-up workdays announced later
    removed_holidays: list[str] = Field(default_factory=list)
    work_start: str = "09:00"
    work_end: str = "18:00"
    quiet_start: str = "21:00"
    quiet_end: str = "09:00"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRMBOT_", env_nested_delimiter="__", extra="forbid")

    database_url: str = "sqlite:///crmbot.db"
    timezone: str = "Asia/Shanghai"
    data_dir: Path = Path("data")
    log_level: str = "INFO"
    dialog_timeout_minutes: int = 30
    max_message_chars: int = 4000
    server: ServerSettings = Field(default_factory=ServerSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    dedup: DedupSettings = Field(default_factory=DedupSettings)
    calendar: CalendarSettings = Field(default_factory=CalendarSettings)
    wecom: WeComSettings = Field(default_factory=WeComSettings)
    dingtalk: DingTalkSettings = Field(default_factory=DingTalkSettings)
    # extra sections the later features read (pipeline, assignment, reminders, permissions)
    pipeline: dict[str, Any] = Field(default_factory=dict)
    assignment: dict[str, Any] = Field(default_factory=dict)
    reminders: dict[str, Any] = Field(default_factory=dict)
    permissions: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings)


def find_config_file(explicit: str | Path | None = None) -> Path | None:
    if explicit:
        return Path(explicit)
    env = os.environ.get("CRMBOT_CONFIG")
    if env:
        return Path(env)
    local = Path("crmbot.toml")
    return local if local.exists() else None


def _env_overrides(data: dict[str, Any]) -> dict[str, Any]:
    """Drop file values that an environment variable overrides (env wins over the file)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        env_key = f"CRMBOT_{key.upper()}"
        if env_key in os.environ:
            continue
        if isinstance(value, dict):
            nested = {k: v for k, v in value.items() if f"{env_key}__{k.upper()}" not in os.environ}
            out[key] = nested
        else:
            out[key] = value
    return out


def load_settings(config: str | Path | None = None, **overrides: Any) -> Settings:
    path = find_config_file(config)
    file_data: dict[str, Any] = {}
    if path is not None:
        if not path.exists():
            raise ConfigError(f"找不到配置文件：{path}")
        try:
            file_data = tomllib.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise ConfigError(f"配置文件 {path} 不是 UTF-8 编码：{exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"配置文件 {path} 格式错误：{exc}") from exc
    try:
        settings = Settings(**_deep_merge(_env_overrides(file_data), overrides))
    except ValidationError as exc:
        where = f"配置文件 {path}" if path else "环境变量"
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{where} 中的配置有误 —— {problems}") from exc
    return settings


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
