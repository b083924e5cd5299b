"""Helpers shared by the CLI commands: settings, services, clear errors and exit codes."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from bot.settings import ConfigError, Settings, load_settings
from storage.db import StorageError


def fail(message: str, code: int = 1) -> int:
    print(f"错误：{message}", file=sys.stderr)
    return code


def settings_from(args: argparse.Namespace, **overrides: Any) -> Settings:
    return load_settings(getattr(args, "config", None), **overrides)


def services_from(args: argparse.Namespace, **kwargs: Any) -> Any:
    from bot.app import build_services

    database = getattr(args, "database", None)
    settings = settings_from(args, **({"database_url": database} if database else {}))
    return build_services(settings, **kwargs)


def guarded(fn: Any) -> Any:
    """Turn configuration and storage problems into a Chinese message and exit code 1."""

    def run(args: argparse.Namespace) -> int:
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        try:
            return int(fn(args) or 0)
        except ConfigError as err:
            return fail(str(err))
        except StorageError as err:
            return fail(str(err))

    return run
