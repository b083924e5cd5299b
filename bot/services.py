"""The wired dependencies every handler can reach (built once in bot.app.build_services)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from core.model import User
from core.pipeline import Pipeline
from core.ports import Clock
from core.usecases.customers import DuplicateCheck

if TYPE_CHECKING:
    from bot.router import Router
    from bot.settings import Settings
    from storage.uow import UnitOfWorkFactory


@dataclass
class Services:
    settings: Settings
    clock: Clock
    uow_factory: UnitOfWorkFactory
    router: Router
    pipeline: Pipeline
    dedup: DuplicateCheck
    tz: ZoneInfo
    parser_factory: Callable[[], Any] | None = None
    calendar: Any = None
    extras: dict[str, Any] = field(default_factory=dict)
    _parser: Any = None
    _parser_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def parser(self) -> Any:
        """The free-text parser, loaded once (jieba's dictionary takes ~0.5 s), knowing the
        customers and contacts already in the database so that their names are recognised."""
        if self._parser is None and self.parser_factory is not None:
            with self._parser_lock:
                if self._parser is None:
                    parser = self.parser_factory()
                    with self.uow_factory() as uow:
                        companies, contacts = uow.customers.known_names()
                    parser.add_names(companies, contacts)
                    self._parser = parser
        return self._parser

    def learn_names(self, companies: list[str], contacts: list[str]) -> None:
        """A customer was just created: the parser recognises it from the next message on."""
        if self._parser is not None:
            self._parser.add_names([c for c in companies if c], [c for c in contacts if c])

    def route_for(self, user: User) -> tuple[str, str]:
        """Where to reach a user who did not write to us just now: WeCom, DingTalk, else the console."""
        if self.settings.wecom.enabled and user.wecom_userid:
            return "wecom", user.wecom_userid
        if self.settings.dingtalk.enabled and user.dingtalk_staffid:
            return "dingtalk", user.dingtalk_staffid
        return "console", user.id
