"""`crmbot dingtalk check`: verify the DingTalk credentials before starting the bot.

Fetches an access token and opens a Stream connection ticket (without connecting), and says in
plain Chinese what is wrong if either fails.
"""

from __future__ import annotations

import argparse
import asyncio

from bot.channels.dingtalk.client import DingTalkAPIError, DingTalkClient
from bot.channels.dingtalk.inbound import BOT_MESSAGE_TOPIC, CARD_CALLBACK_TOPIC
from bot.channels.dingtalk.settings import DingTalkSettings
from bot.cli.common import guarded, settings_from

_CREDENTIAL_HINT = (
    "请到钉钉开放平台 → 应用开发 → 你的应用 → 凭证与基础信息，核对 Client ID 和 Client Secret。"
)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("dingtalk", help="钉钉渠道工具")
    actions = parser.add_subparsers(dest="dingtalk_command", metavar="ACTION")
    check = actions.add_parser("check", help="检查钉钉配置：获取 accessToken 并申请 Stream 连接凭证")
    check.set_defaults(func=guarded(run))
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _explain(exc: DingTalkAPIError, what: str, url: str) -> str:
    if exc.status is None:
        return f"无法连接钉钉服务器（{url}）：请检查网络、代理或 api_base_url 设置。详情：{exc}"
    if exc.status in (400, 401, 403) and not exc.retryable:
        return f"钉钉拒绝了{what}（HTTP {exc.status}，{exc.code or '无错误码'}）。{_CREDENTIAL_HINT}"
    if exc.retryable:
        return f"钉钉暂时无法处理{what}（HTTP {exc.status}，{exc.code or '无错误码'}），请稍后再试。"
    return f"{what}失败（HTTP {exc.status}，{exc.code or '无错误码'}）：{exc}"


async def check(settings: DingTalkSettings) -> tuple[int, list[str]]:
    """Returns the exit code and the lines to print."""
    lines: list[str] = []
    if not settings.enabled:
        return 2, [
            "未配置钉钉：请在 crmbot.toml 的 [dingtalk] 段设置 client_id 和 client_secret（或环境变量 CRMBOT_DINGTALK__CLIENT_ID）。"
        ]
    if not settings.client_secret.get_secret_value():
        return 2, ["已设置 client_id，但缺少 client_secret。" + _CREDENTIAL_HINT]
    client = DingTalkClient(settings)
    try:
        try:
            await client.access_token()
            lines.append(f"✔ 已获取 accessToken（{settings.api_base_url}）")
        except DingTalkAPIError as exc:
            return 1, [*lines, "✘ " + _explain(exc, "获取 accessToken 的请求", settings.api_base_url)]
        if settings.http_mode:
            lines.append(
                f"✔ HTTP 模式：请在机器人配置里把消息接收地址设为 https://<你的域名>{settings.http_path}"
            )
        else:
            try:
                ticket = await client.open_stream_connection(
                    [
                        {"type": "CALLBACK", "topic": BOT_MESSAGE_TOPIC},
                        {"type": "CALLBACK", "topic": CARD_CALLBACK_TOPIC},
                    ]
                )
                lines.append(f"✔ 已获得 Stream 连接凭证（网关 {ticket.endpoint}）")
            except DingTalkAPIError as exc:
                hint = (
                    "" if exc.status is None else "；并确认应用已开通机器人能力、消息接收模式为 Stream 模式"
                )
                return 1, [*lines, "✘ " + _explain(exc, "Stream 连接申请", settings.stream_open_url) + hint]
    finally:
        await client.close()
    if not settings.robot_code:
        lines.append("⚠ 未设置 robot_code：无法发送单聊消息。")
    if not settings.card_template_id:
        lines.append("⚠ 未设置 card_template_id：提醒和确认只能以文字发送，不能发互动卡片。")
    lines.append("钉钉配置检查通过。")
    return 0, lines


def run(args: argparse.Namespace) -> int:
    code, lines = asyncio.run(check(settings_from(args).dingtalk))
    for line in lines:
        print(line)
    return code
