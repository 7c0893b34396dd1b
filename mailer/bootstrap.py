"""Build the application context from Settings: the one module that knows every part."""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass, field

from sqlalchemy import Engine

from mailer.config import Settings
from mailer.store import db


@dataclass
class AppContext:
    """Everything a use case or entry point needs, created once per process at start-up."""

    settings: Settings
    engine: Engine
    extras: dict[str, object] = field(default_factory=dict)

    def close(self) -> None:
        # Database threads kept in extras (subscriptions.run_db) end before the engine goes.
        for value in self.extras.values():
            if isinstance(value, Executor):
                value.shutdown(wait=True)
        self.engine.dispose()


def build_context(settings: Settings) -> AppContext:
    """Connect to the store described by ``settings``; does not migrate (see ``init``)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = db.make_engine(settings.database_url)
    return AppContext(settings=settings, engine=engine)
