"""`crmbot wecom check`: verify the WeCom settings against the API and print what to paste.

Checks the settings offline first (missing values, EncodingAESKey and Token format), then fetches
an access token and reads the app (agent/get) with them, and explains every failure in Chinese.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import secrets
import string

from bot.channels.wecom.client import WeComAPIError, WeComClient
from bot.channels.wecom.crypto import WeComCrypto
from bot.channels.wecom.settings import WeComSettings
from bot.cli.common import fail, guarded, settings_from

CALLBACK_PATH = "/wecom/callback"
_TOKEN_RE = re.compile(r"^[A-Za-z0-9]{3,32}$")
_CONSOLE = "企业微信管理后台 → 应用管理 → 自建应用"

# errcode → what to do about it
_HINTS = {
    40013: "CorpID 不正确：请到「我的企业 → 企业信息」核对企业ID（corp_id）。",
    40001: f"Secret 不正确：请到「{_CONSOLE} → 你的应用」查看 Secret（是应用的 Secret，不是通讯录同步的）。",
    40091: "Secret 不正确或已重置：请重新复制应用的 Secret。",
    60020: f"本机的出口 IP 不在应用的「企业可信IP」中：请到「{_CONSOLE} → 你的应用 → 企业可信IP」添加本机 IP。",
    40056: f"AgentId 不正确：请到「{_CONSOLE} → 你的应用」核对 AgentId（agent_id）。",
    301002: "AgentId 与 Secret 不属于同一个应用：请核对 agent_id 与 secret。",
    60011: "该 Secret 没有读取此应用的权限：请核对 agent_id 与 secret 是否属于同一个应用。",
}


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("wecom", help="企业微信渠道工具")
    actions = parser.add_subparsers(dest="wecom_command", metavar="ACTION")
    check = actions.add_parser(
        "check",
        help="检查企业微信配置：获取 access_token，并打印需要填到管理后台的回调 URL、Token、EncodingAESKey",
    )
    check.set_defaults(func=guarded(run))
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _suggest_token() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))


def _suggest_aes_key() -> str:
    # 43 letters and digits, like the console's 随机获取; base64 of it plus "=" is the 32-byte key
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(43))


def offline_problems(settings: WeComSettings) -> list[str]:
    problems = []
    missing = [name for name in ("corp_id", "secret", "token", "aes_key") if not getattr(settings, name)]
    if not settings.agent_id:
        missing.insert(1, "agent_id")
    for name in missing:
        problems.append(
            f"缺少 {name}：在 crmbot.toml 的 [wecom] 段设置，或设置环境变量 CRMBOT_WECOM__{name.upper()}。"
        )
    if "token" in missing:
        problems.append(f"  可以使用随机生成的 Token：{_suggest_token()}（同时填到管理后台）")
    if "aes_key" in missing:
        problems.append(f"  可以使用随机生成的 EncodingAESKey：{_suggest_aes_key()}（同时填到管理后台）")
    if settings.token and not _TOKEN_RE.match(settings.token):
        problems.append("Token 只能由英文字母和数字组成，长度 3–32 位（管理后台的要求）。")
    if settings.aes_key:
        try:
            WeComCrypto(settings.token or "x", settings.aes_key, settings.corp_id)
        except ValueError:
            problems.append("EncodingAESKey 无效：应为 43 位字母和数字，请从管理后台原样复制或重新生成。")
    return problems


def _explain(exc: WeComAPIError, base_url: str) -> str:
    if exc.errcode is not None and exc.errcode in _HINTS:
        return f"{_HINTS[exc.errcode]}（errcode {exc.errcode}）"
    if exc.errcode is None and exc.status is None:
        return f"无法连接企业微信服务器（{base_url}）：请检查网络、代理或 api_base_url 设置。详情：{exc}"
    if exc.retryable:
        return f"企业微信暂时无法处理请求，请稍后再试。详情：{exc}"
    return f"企业微信拒绝了请求：{exc}"


async def check(settings: WeComSettings) -> tuple[int, list[str]]:
    """Returns the exit code and the lines to print."""
    if not settings.enabled:
        return 2, [
            "未配置企业微信：请在 crmbot.toml 的 [wecom] 段设置 corp_id、agent_id、secret、token、aes_key"
            "（或环境变量 CRMBOT_WECOM__CORP_ID 等）。",
            f"  若还没有 Token / EncodingAESKey，可使用：token = {_suggest_token()}  aes_key = {_suggest_aes_key()}",
        ]
    problems = offline_problems(settings)
    if problems:
        return 2, ["✘ 配置不完整或格式有误：", *problems]
    lines: list[str] = []
    client = WeComClient(settings)
    try:
        try:
            await client.access_token()
            lines.append(f"✔ 已获取 access_token（{settings.api_base_url}）")
            agent = await client.get_agent()
            lines.append(f"✔ 应用：{agent.get('name') or '（未命名）'}（AgentId {settings.agent_id}）")
        except WeComAPIError as exc:
            return 1, [*lines, "✘ " + _explain(exc, settings.api_base_url)]
    finally:
        await client.close()

    url = settings.callback_url
    lines.append("")
    lines.append(f"请在「{_CONSOLE} → 你的应用 → 接收消息 → 设置API接收」中填写：")
    lines.append(f"  URL：            {url or 'https://<你的域名>' + CALLBACK_PATH}")
    lines.append(f"  Token：          {settings.token}")
    lines.append(f"  EncodingAESKey： {settings.aes_key}")
    if not url:
        lines.append("提示：尚未设置 callback_url（[wecom] callback_url 或 CRMBOT_WECOM__CALLBACK_URL）。")
    else:
        if not url.rstrip("/").endswith(CALLBACK_PATH):
            lines.append(f"提示：callback_url 应以 {CALLBACK_PATH} 结尾，crmbot 在这个路径上接收回调。")
        if not url.startswith("https://"):
            lines.append("提示：企业微信要求公网可访问的地址，建议使用 https。")
    lines.append("保存时企业微信会立即访问该 URL 做校验：请先运行 crmbot serve，并确保公网可以访问。")
    return 0, lines


def run(args: argparse.Namespace) -> int:
    if getattr(args, "wecom_command", None) != "check":
        return fail("用法：crmbot wecom check", 2)
    settings = settings_from(args).wecom
    code, lines = asyncio.run(check(settings))
    for line in lines:
        print(line)
    return code
