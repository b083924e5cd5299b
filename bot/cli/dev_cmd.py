"""`crmbot dev …`: developer helpers — run a fake platform server for demos.

The fakes live in `tests/fakes/`, which is not installed with the package: run these commands from
a checkout of the source tree (the current directory is searched for `tests/fakes/`).
"""

from __future__ import annotations

import argparse
import importlib
import runpy
import sys
from pathlib import Path

from bot.cli.common import fail

_NOT_IN_CHECKOUT = (
    "找不到 tests/fakes/：模拟服务器只随源码提供，不随安装包发布。请在 crmbot 源码目录下运行此命令。"
)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("dev", help="开发工具：运行模拟的企业微信/钉钉服务器（需在源码目录下运行）")
    actions = parser.add_subparsers(dest="dev_command", metavar="ACTION")
    wecom = actions.add_parser(
        "fake-wecom",
        help="运行模拟企业微信（127.0.0.1），打印其地址和配置；需在源码目录下运行（tests/ 不随安装包发布）",
    )
    wecom.add_argument("--port", type=int, default=8088, help="监听端口（默认 8088）")
    wecom.add_argument(
        "--bot-url",
        help="crmbot 回调地址，例如 http://127.0.0.1:8080/wecom/callback；给出后可在终端里以销售身份发消息",
    )
    wecom.set_defaults(func=run_fake_wecom)
    dingtalk = actions.add_parser("fake-dingtalk", help="运行模拟钉钉（127.0.0.1）；需在源码目录下运行")
    dingtalk.add_argument("fake_args", nargs=argparse.REMAINDER, help="传给 tests/fakes/dingtalk.py 的参数")
    dingtalk.set_defaults(func=run_fake_dingtalk)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _import_fakes() -> bool:
    root = Path.cwd()
    if not (root / "tests" / "fakes" / "__init__.py").exists():
        return False
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return True


def run_fake_wecom(args: argparse.Namespace) -> int:
    if not _import_fakes():
        return fail(_NOT_IN_CHECKOUT)
    module = importlib.import_module("tests.fakes.wecom")
    argv = ["--port", str(args.port)] + (["--bot-url", args.bot_url] if args.bot_url else [])
    return int(module.main(argv))


def run_fake_dingtalk(args: argparse.Namespace) -> int:
    if not _import_fakes() or importlib.util.find_spec("tests.fakes.dingtalk") is None:
        return fail(_NOT_IN_CHECKOUT)
    sys.argv = ["tests.fakes.dingtalk", *args.fake_args]
    runpy.run_module("tests.fakes.dingtalk", run_name="__main__", alter_sys=True)
    return 0
