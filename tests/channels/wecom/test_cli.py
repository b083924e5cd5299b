"""`crmbot wecom check` against the fake WeCom."""

from __future__ import annotations

from bot.channels.wecom.settings import WeComSettings
from bot.cli.wecom_cmd import check
from tests.fakes.wecom import FakeWeCom


async def test_check_prints_what_to_paste(fake: FakeWeCom) -> None:
    code, lines = await check(fake.settings(callback_url="https://crm.example.com/wecom/callback"))
    text = "\n".join(lines)
    assert code == 0, text
    assert "✔ 已获取 access_token" in text and "crmbot 销售助手（模拟）" in text
    assert "URL：            https://crm.example.com/wecom/callback" in text
    assert f"Token：          {fake.token}" in text
    assert f"EncodingAESKey： {fake.aes_key}" in text


async def test_check_explains_a_wrong_secret(fake: FakeWeCom) -> None:
    code, lines = await check(fake.settings(secret="wrong"))
    assert code == 1 and "Secret 不正确" in lines[-1] and "40001" in lines[-1]


async def test_check_explains_a_wrong_corp_id(fake: FakeWeCom) -> None:
    code, lines = await check(fake.settings(corp_id="ww0wrong"))
    assert code == 1 and "CorpID 不正确" in lines[-1]


async def test_check_explains_a_wrong_agent_id(fake: FakeWeCom) -> None:
    code, lines = await check(fake.settings(agent_id=42))
    assert code == 1 and "AgentId 不正确" in lines[-1]


async def test_check_explains_an_unreachable_server(fake: FakeWeCom) -> None:
    code, lines = await check(fake.settings(api_base_url="http://127.0.0.1:9", request_timeout_seconds=1))
    assert code == 1 and "无法连接企业微信服务器" in lines[-1]


async def test_check_refuses_bad_settings_offline() -> None:
    code, lines = await check(
        WeComSettings(corp_id="ww1", agent_id=1, secret="s", token="has space", aes_key="short")
    )
    text = "\n".join(lines)
    assert code == 2 and "Token 只能由英文字母和数字组成" in text and "EncodingAESKey 无效" in text
    code, lines = await check(WeComSettings())
    assert code == 2 and "未配置企业微信" in lines[0]
