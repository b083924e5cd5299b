"""`crmbot dingtalk check` against the fake, and settings loading."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.channels.dingtalk.settings import DingTalkSettings
from bot.cli.main import main
from bot.settings import load_settings
from tests.fakes.dingtalk import FakeDingTalk


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("CRMBOT_DINGTALK__") or key == "CRMBOT_CONFIG":
            monkeypatch.delenv(key)


def _config(tmp_path: Path, fake: FakeDingTalk, secret: str | None = None) -> Path:
    path = tmp_path / "crmbot.toml"
    path.write_text(
        "[dingtalk]\n"
        f'client_id = "{fake.client_id}"\n'
        f'client_secret = "{secret or fake.client_secret}"\n'
        f'robot_code = "{fake.robot_code}"\n'
        'card_template_id = "tpl.schema"\n'
        f'api_base_url = "{fake.base_url}/"\n',
        encoding="utf-8",
    )
    return path


def test_check_passes_with_good_credentials(
    fake: FakeDingTalk, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(_config(tmp_path, fake)), "dingtalk", "check"]) == 0
    out = capsys.readouterr().out
    assert "已获取 accessToken" in out and "Stream 连接凭证" in out and "检查通过" in out
    assert fake.token_fetches == 1 and len(fake.open_requests) == 1
    assert fake.client_secret not in out


def test_check_explains_a_wrong_secret(
    fake: FakeDingTalk, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(_config(tmp_path, fake, secret="wrong")), "dingtalk", "check"]) == 1
    out = capsys.readouterr().out
    assert "钉钉拒绝了" in out and "Client Secret" in out and "wrong" not in out


def test_check_explains_an_unreachable_server(
    fake: FakeDingTalk, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRMBOT_DINGTALK__API_BASE_URL", "http://127.0.0.1:9")
    assert main(["--config", str(_config(tmp_path, fake)), "dingtalk", "check"]) == 1
    assert "无法连接钉钉服务器" in capsys.readouterr().out


def test_check_without_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["dingtalk", "check"]) == 2
    assert "未配置钉钉" in capsys.readouterr().out
    assert main(["--config", str(tmp_path / "missing.toml"), "dingtalk", "check"]) == 1
    assert "找不到配置文件" in capsys.readouterr().err


def test_settings_from_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[dingtalk]\nclient_id = "from-file"\nclient_secret = "topsecret-value"\n', encoding="utf-8"
    )
    monkeypatch.setenv("CRMBOT_DINGTALK__CLIENT_ID", "from-env")
    monkeypatch.setenv("CRMBOT_DINGTALK__HTTP_MODE", "true")
    settings = load_settings(path).dingtalk
    assert settings.client_id == "from-env" and settings.http_mode is True and settings.enabled
    assert settings.robot_code == "from-env"  # defaults to the app's client id
    assert settings.stream_open_url == "https://api.dingtalk.com/v1.0/gateway/connections/open"
    assert (
        "topsecret" not in repr(settings) and settings.client_secret.get_secret_value() == "topsecret-value"
    )
    assert not DingTalkSettings().enabled
    assert (
        DingTalkSettings(api_base_url="http://127.0.0.1:1/").stream_open_url
        == "http://127.0.0.1:1/v1.0/gateway/connections/open"
    )
    assert DingTalkSettings(client_secret="abc").signing_secret == "abc"
    assert DingTalkSettings(client_secret="abc", app_secret="xyz").signing_secret == "xyz"
