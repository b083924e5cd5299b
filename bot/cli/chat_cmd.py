"""`crmbot chat`: talk to the bot in the terminal (--as USERID) or run a transcript (--script FILE)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.cli.common import fail, guarded, services_from
from bot.clock import FakeClock, SystemClock


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("chat", help="在终端里和机器人对话，或运行对话脚本")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--as", dest="user", metavar="USERID", help="以这个用户的身份对话")
    who.add_argument("--script", metavar="FILE", help="运行对话脚本（- 表示标准输入）")
    p.add_argument("--demo", action="store_true",
                   help="使用一个全新的内存数据库并创建演示组织（不影响真实数据）")
    p.add_argument("--database", metavar="URL", help="数据库地址（默认取配置）")
    p.set_defaults(func=guarded(run))


def _services(args: argparse.Namespace, clock: FakeClock | None = None) -> object:
    if args.demo:
        args.database = "sqlite:///:memory:"
    services = services_from(args, clock=clock) if clock else services_from(args)
    if args.demo:
        from core.usecases.users import DEMO_ORG, upsert_users

        with services.uow_factory() as uow:
            upsert_users(uow, "system", DEMO_ORG, services.clock.now())
            uow.commit()
    return services


def run(args: argparse.Namespace) -> int:
    if args.script:
        return _run_script(args)
    return _repl(args)


def _run_script(args: argparse.Namespace) -> int:
    from bot.channels.console import stream_printer
    from bot.script import ScriptError, run_script

    if args.script == "-":
        lines = sys.stdin.read().splitlines()
        base = Path.cwd()
    else:
        path = Path(args.script)
        if not path.exists():
            return fail(f"找不到脚本文件：{path}")
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            return fail(f"脚本文件 {path} 不是 UTF-8 编码。")
        base = path.parent
    clock = FakeClock(SystemClock().now())  # `!now` in the script moves it
    services = _services(args, clock)
    try:
        run_script(services, clock, lines, stream_printer(sys.stdout), base_dir=base)  # type: ignore[arg-type]
    except ScriptError as err:
        return fail(str(err), 2)
    return 0


def _repl(args: argparse.Namespace) -> int:
    from bot.channels.console import drain_console, find_button, press, send_message, stream_printer
    from bot.types import CardAction

    services = _services(args)
    with services.uow_factory() as uow:  # type: ignore[attr-defined]
        user = uow.users.get(args.user)
    if user is None:
        return fail(f"没有用户「{args.user}」。先运行 crmbot init --demo 或 crmbot users import users.csv。")
    printer = stream_printer(sys.stdout)
    print(f"你好，{user.name}！直接输入消息和机器人对话；输入卡片按钮的编号或文字即可点击；Ctrl-D 退出。")
    if services.parser_factory is not None:  # type: ignore[attr-defined]
        services.parser  # type: ignore[attr-defined]  # noqa: B018 - load jieba before the first prompt
    while True:
        try:
            line = input(f"{user.name}> ")
        except EOFError:
            print()
            return 0
        text = line.strip()
        if not text:
            continue
        pressed = _as_button(services, args.user, text, find_button)
        if isinstance(pressed, CardAction):
            press(services, pressed)  # type: ignore[arg-type]
        else:
            send_message(services, args.user, text)  # type: ignore[arg-type]
        for scan in services.extras.get("scans", []):  # type: ignore[attr-defined]
            scan(services)  # reminders that fell due while we talked
        drain_console(services, printer)  # type: ignore[arg-type]


def _as_button(services: object, user_id: str, text: str, find_button: object) -> object:
    """A short input that names a button on the latest unhandled card presses it."""
    if len(text) > 12:
        return None
    with services.uow_factory() as uow:  # type: ignore[attr-defined]
        card = uow.cards.latest_for_user(user_id)
        if card is None or card.handled_at is not None:
            return None
        labels = [b["label"] for b in card.body.get("buttons", [])]
    if text in labels or (text.isdigit() and 1 <= int(text) <= len(labels)):
        return find_button(services, user_id, text)  # type: ignore[operator]
    return None
