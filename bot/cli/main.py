"""The `crmbot` command line: one sub-module per sub-command, each exposing `register(sub)`.

A sub-module's `register` adds its parser and sets `func` (called with the parsed args,
returns the exit code). Sub-modules are imported lazily by name so that a command such as
`crmbot parse` does not pay for SQLAlchemy or aiohttp start-up.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# sub-command name -> module under bot.cli that registers it
COMMANDS: dict[str, str] = {
    "serve": "serve_cmd",
    "chat": "chat_cmd",
    "db": "db_cmd",
    "init": "init_cmd",
    "users": "users_cmd",
    "export": "export_cmd",
    "parse": "parse_cmd",
    "dedupe": "dedupe_cmd",
    "import": "import_cmd",
    "calls": "calls_cmd",
    "outbox": "outbox_cmd",
    "alerts": "alerts_cmd",
    "audit": "audit_cmd",
    "jobs": "jobs_cmd",
    "wecom": "wecom_cmd",
    "dingtalk": "dingtalk_cmd",
    "dev": "dev_cmd",
}


def _available() -> dict[str, str]:
    found = {}
    for name, module in COMMANDS.items():
        if importlib.util.find_spec(f"bot.cli.{module}") is not None:
            found[name] = module
    return found


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crmbot", description="企业微信/钉钉 销售 CRM 机器人")
    parser.add_argument("--config", help="crmbot.toml 配置文件路径（默认：当前目录的 crmbot.toml 或 CRMBOT_CONFIG）")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    available = _available()
    # Only import the module of the command being run (plus all of them for --help).
    wanted = [a for a in argv if a in available]
    names = [wanted[0]] if wanted else list(available)
    for name in names:
        importlib.import_module(f"bot.cli.{available[name]}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(args_list)
    args = parser.parse_args(args_list)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `crmbot users list | head`: the reader left; exit quietly instead of a traceback
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
