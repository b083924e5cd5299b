"""Feature routers. `build_root_router()` includes every feature's router once."""

from __future__ import annotations

import importlib

from bot.router import Router

# feature modules, each exposing `router`; order matters only for the free-text fallback
FEATURES = (
    "bot.handlers.help",
    "bot.handlers.customers",
    "bot.handlers.followups",
    "bot.handlers.deals",
    "bot.handlers.assignment",
    "bot.handlers.alerts",
    "bot.handlers.merge",
    "bot.handlers.offboarding",
    "bot.handlers.calls",
    "bot.handlers.imports",
    "bot.handlers.freetext",
)


def build_root_router() -> Router:
    root = Router("root")
    for name in FEATURES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        root.include(module.router)
    return root
