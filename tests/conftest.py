"""Shared fixtures: databases (SQLite always, PostgreSQL when CRMBOT_TEST_DATABASE_URL is set),
wired services with a fake clock, the demo org, and a guard that keeps every test on loopback."""

from __future__ import annotations

import ipaddress
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.app import build_services
from bot.clock import FakeClock
from bot.services import Services
from bot.settings import Settings, load_settings

DATA = Path(__file__).parent / "data"
TZ = ZoneInfo("Asia/Shanghai")
PG_URL = os.environ.get("CRMBOT_TEST_DATABASE_URL")

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _loopback_only(address: Any) -> None:
    if isinstance(address, tuple) and address:
        host = address[0]
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            if host not in ("localhost",):
                raise ConnectionRefusedError(f"tests may not leave loopback (tried {host})") from None
            return
        if not ip.is_loopback:
            raise ConnectionRefusedError(f"tests may not leave loopback (tried {host})")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _loopback_only(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _loopback_only(address)
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True, scope="session")
def _no_network() -> Iterator[None]:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]


def _pg_schema_url(base: str) -> tuple[str, Callable[[], None]]:
    """A throw-away schema per test, so tests never see each other's rows."""
    import psycopg

    schema = "t_" + uuid.uuid4().hex[:12]
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"

    def drop() -> None:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")

    return f"{base}{sep}options=-csearch_path%3D{schema}", drop


BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'crmbot.db'}"
        return
    url, drop = _pg_schema_url(PG_URL or "")
    yield url
    from sqlalchemy.orm import close_all_sessions

    close_all_sessions()
    drop()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'crmbot.db'}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 10, 9, 0, tzinfo=TZ))


def make_settings(db_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    return load_settings(None, database_url=db_url, data_dir=str(tmp_path / "data"), **overrides)


def make_services(db_url: str, tmp_path: Path, clock: FakeClock, *, demo: bool = True, **overrides: Any) -> Services:
    from core.usecases.users import DEMO_ORG, upsert_users

    services = build_services(make_settings(db_url, tmp_path, **overrides), clock=clock)
    if demo:
        with services.uow_factory() as uow:
            upsert_users(uow, "system", DEMO_ORG, clock.now())
            uow.commit()
    return services


@pytest.fixture
def services(db_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Services]:
    s = make_services(db_url, tmp_path, clock)
    yield s
    s.uow_factory.engine.dispose()


@pytest.fixture
def sqlite_services(sqlite_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Services]:
    s = make_services(sqlite_url, tmp_path, clock)
    yield s
    s.uow_factory.engine.dispose()
