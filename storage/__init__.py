"""Storage: models, the Repository protocol, migrations and backends."""

from storage.models import Event, Order, OutMessage, Worker
from storage.repository import Repository, Tx

__all__ = ["Event", "Order", "OutMessage", "Repository", "Tx", "Worker", "open_repository"]


async def open_repository(database: str) -> Repository:
    """Open the backend named by ``database`` (a path or ``sqlite:///path``) and migrate it."""
    from storage.sqlite import SqliteRepository

    path = database.removeprefix("sqlite:///") if database.startswith("sqlite:///") else database
    repo = SqliteRepository(path)
    await repo.open()
    return repo
