"""The transcript runner behind `crmbot chat --script`: tests, demos and reviews.

Lines:
  @USERID: text        a message from that user
  @USERID > LABEL      that user presses the button (label or number) on the latest card sent to them
  @USERID 📎 PATH      that user sends a file (stage evidence)
  !now 2026-03-02 09:00   set the clock (local time zone)
  !advance 3d | 4h | 30m  move the clock and run the scans that are due
  # comment
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path

from bot.channels.console import Printer, drain_console, find_button, press, send_message
from bot.clock import FakeClock
from bot.services import Services
from bot.types import Attachment

_MESSAGE = re.compile(r"^@([\w.\-]+)\s*[:：]\s?(.*)$")
_PRESS = re.compile(r"^@([\w.\-]+)\s*>\s*(.+)$")
_FILE = re.compile(r"^@([\w.\-]+)\s*📎\s*(\S+)\s*(.*)$")
_ADVANCE = re.compile(r"^(\d+)\s*([dhm])$")


class ScriptError(Exception):
    def __init__(self, line_no: int, message: str) -> None:
        super().__init__(f"第 {line_no} 行：{message}")
        self.line_no = line_no


Scan = Callable[[Services], None]


def run_script(services: Services, clock: FakeClock, lines: Iterable[str], printer: Printer,
               *, base_dir: Path | None = None) -> int:
    """Run a transcript; returns how many lines were executed. Raises ScriptError on a malformed line."""
    executed = 0
    for line_no, raw in enumerate(lines, 1):
        line = raw.rstrip("\n").strip()
        if not line or line.startswith("#"):
            continue
        printer(line)
        if line.startswith("!"):
            _directive(services, clock, line, line_no, printer)
        elif m := _FILE.match(line):
            path = Path(m[2])
            if base_dir is not None and not path.is_absolute():
                path = base_dir / path
            size = path.stat().st_size if path.exists() else 0
            send_message(services, m[1], m[3].strip(),
                         attachments=(Attachment(path.name, str(path), size=size),))
        elif m := _PRESS.match(line):
            result = find_button(services, m[1], m[2].strip())
            if isinstance(result, str):
                printer(f"→ {m[1]}: {result}")
            else:
                press(services, result)
        elif m := _MESSAGE.match(line):
            send_message(services, m[1], m[2])
        else:
            raise ScriptError(line_no, f"看不懂这一行：{line!r}（应为 @用户: 消息、@用户 > 按钮、!now、!advance 或 # 注释）")
        drain_console(services, printer)
        executed += 1
    return executed


def _directive(services: Services, clock: FakeClock, line: str, line_no: int, printer: Printer) -> None:
    name, _, arg = line[1:].partition(" ")
    arg = arg.strip()
    if name == "now":
        try:
            local = datetime.strptime(arg, "%Y-%m-%d %H:%M")
        except ValueError as exc:
            raise ScriptError(line_no, f"!now 需要「YYYY-MM-DD HH:MM」格式，收到 {arg!r}") from exc
        clock.set(local.replace(tzinfo=services.tz))
    elif name == "advance":
        m = _ADVANCE.match(arg)
        if not m:
            raise ScriptError(line_no, f"!advance 需要如 3d、4h、30m 的时长，收到 {arg!r}")
        unit = {"d": "days", "h": "hours", "m": "minutes"}[m[2]]
        advance_and_scan(services, clock, timedelta(**{unit: int(m[1])}))
    else:
        raise ScriptError(line_no, f"未知指令 !{name}（可用：!now、!advance）")


def advance_and_scan(services: Services, clock: FakeClock, delta: timedelta) -> None:
    """Move the clock; scans registered in services.extras["scans"] run once per step so that
    escalations fire at the right moment, not all at the end."""
    scans: list[Scan] = services.extras.get("scans", [])
    step = timedelta(hours=1) if scans else delta
    target = clock.now() + delta
    while clock.now() < target:
        clock.set(min(target, clock.now() + step))
        for scan in scans:
            scan(services)
