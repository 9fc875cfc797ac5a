"""The intake journal: no message the bot received is lost to a crash.

Real WeChat gateways deliver each message event once and never again.  The bot fetches a
message's payload and handles it some milliseconds after the event; a crash in between used to
lose it for good.  So every message event's id is written to the ``inbox`` table as soon as it
arrives, before its payload is fetched, and removed once the message was handled (or found not
to be for the app).  At every login the ids still there are fetched again and handled, in
WeChat-time order; the ``processed`` record keeps that exactly-once.

Writes are batched: one transaction takes every id that arrived since the last one, and the
removals ride along (they may lag: a removed-late id is only found processed at the next login).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from bot.background import Background
from bot.clock import Clock
from storage.repository import Repository

log = logging.getLogger(__name__)

RECOVER_LIMIT = 5_000  # ids recovered per login (oldest first); more are left for the next one


class Journal:
    """The ``inbox`` table of one receiving account (``key``: which gateway can load the ids)."""

    def __init__(self, repo: Repository, key: str, clock: Clock) -> None:
        self.repo, self.key, self.clock = repo, key, clock
        self._arrived: list[str] = []
        self._finished: list[str] = []
        self._unwritten: set[str] = set()
        self._wake = asyncio.Event()
        self._written = asyncio.Event()
        self._writer = Background(self._run, "intake-journal")

    def start(self) -> None:
        self._writer.start()

    async def stop(self) -> None:
        """Write what is left (the last removals) and end the writer."""
        await self._writer.stop()
        await self._write()

    def arrived(self, message_id: str) -> None:
        """A message event came in (called from the event stream: never blocks)."""
        if message_id not in self._unwritten:
            self._unwritten.add(message_id)
            self._arrived.append(message_id)
            self._wake.set()

    def finished(self, message_ids: Iterable[str]) -> None:
        """These messages need no recovery any more (handled, or not for the app)."""
        self._finished.extend(message_ids)

    async def durable(self, message_ids: Iterable[str]) -> None:
        """Wait until these ids were written (or their write failed: the message's own transaction
        will meet the same database and report it)."""
        wanted = set(message_ids)
        while wanted & self._unwritten:
            if not self._writer.running:
                await self._write()
                continue
            self._written.clear()
            self._wake.set()
            await self._written.wait()

    async def pending(self, limit: int = RECOVER_LIMIT) -> list[str]:
        """Ids received (by this account, now or before a crash) and not yet finished."""
        await self._write()
        async with self.repo.transaction() as tx:
            return await tx.journal_pending(self.key, limit)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._write()

    async def _write(self) -> None:
        arrived, finished = self._arrived, self._finished
        if not arrived and not finished:
            self._written.set()
            return
        self._arrived, self._finished = [], []
        try:
            async with self.repo.transaction() as tx:
                if arrived:
                    await tx.journal_add(self.key, arrived, self.clock.now().timestamp())
                if finished:
                    await tx.journal_remove(finished)
        except asyncio.CancelledError:
            self._arrived[:0], self._finished[:0] = arrived, finished  # written by stop()
            raise
        except Exception:
            log.exception("cannot write %d message ids to the intake journal", len(arrived))
        self._unwritten.difference_update(arrived)
        self._written.set()
