"""Storage: models, the Repository protocol, migrations and backends."""

from __future__ import annotations

import re

from storage.models import Event, Order, OutMessage, Worker
from storage.repository import Repository, Tx

__all__ = ["Event", "Order", "OutMessage", "Repository", "Tx", "Worker", "backend_of", "display_database",
           "open_repository"]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
SQLITE_SCHEME = "sqlite:///"


def backend_of(database: str) -> str:
    """``"postgresql"`` for a ``postgresql://`` or ``postgres://`` URL, else ``"sqlite"``."""
    return "postgresql" if database.startswith(POSTGRES_SCHEMES) else "sqlite"


def display_database(database: str) -> str:
    """``database`` fit for a log line or a message: a password in a URL becomes ``***``."""
    return re.sub(r"//([^:/@]+):[^@/]*@", r"//\1:***@", database)


async def open_repository(database: str) -> Repository:
    """Open the backend named by ``database`` and migrate it.

    - ``data/linggong.db`` or ``sqlite:///data/linggong.db`` (``sqlite:////abs/path`` for an
      absolute path): the SQLite file, the default for one community on one machine;
    - ``postgresql://user@host:5432/db`` or ``postgres://…``: a shared PostgreSQL; asyncpg
      passes extra query parameters on as server settings (``?search_path=linggong``).

    The configured value (``[bot] database``, or ``$LINGGONG_DATABASE``: ``bot.environment``) is
    resolved by the config loader; this function opens exactly what it is given.
    """
    if backend_of(database) == "postgresql":
        from storage.postgres import PostgresRepository

        repo: Repository = PostgresRepository(database)
    else:
        from storage.sqlite import SqliteRepository

        repo = SqliteRepository(database.removeprefix(SQLITE_SCHEME))
    await repo.open()
    return repo
