"""`crmbot serve`: the HTTP app (WeCom callback, call-log API, /healthz) plus the background loops."""

from __future__ import annotations

import argparse
import logging
import sys

from bot.cli.common import guarded, settings_from


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="启动机器人服务")
    p.add_argument("--host", help="监听地址（默认 127.0.0.1 或配置 server.host）")
    p.add_argument("--port", type=int, help="端口（默认 8080 或配置 server.port）")
    p.add_argument("--workers", type=int, help="处理消息的子进程数（默认 0：单进程；或配置 server.workers）")
    p.set_defaults(func=guarded(run))


def run(args: argparse.Namespace) -> int:
    from aiohttp import web

    from bot.app import build_app
    from bot.worker_pool import setup_worker_pool

    settings = settings_from(args)
    logging.getLogger().setLevel(settings.log_level)
    workers = settings.server.workers if args.workers is None else args.workers
    if not 0 <= workers <= 64:
        print("--workers 应在 0 到 64 之间。", file=sys.stderr)
        return 2
    bot = build_app(settings, role="web" if workers else "all")
    if workers:
        setup_worker_pool(bot.web, settings, workers)
    host = args.host or settings.server.host
    port = args.port or settings.server.port
    channels = sorted(bot.senders) or ["console"]
    mode = f"  处理进程：{workers}" if workers else ""
    print(f"crmbot 已启动：http://{host}:{port}/healthz  渠道：{', '.join(channels)}{mode}")
    if not bot.senders:
        print("尚未配置企业微信或钉钉：在 crmbot.toml 的 [wecom]（corp_id、agent_id、secret、token、aes_key）"
              "或 [dingtalk]（client_id、client_secret、robot_code）中填写后重启；"
              "也可以用 crmbot chat --as 用户ID 在终端里对话。")
    # aiohttp's run_app handles SIGINT/SIGTERM: on_cleanup stops the loops and drains work in flight
    web.run_app(bot.web, host=host, port=port, print=None, handle_signals=True, shutdown_timeout=10)
    return 0
