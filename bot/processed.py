"""Which messages the app has handled: the one de-duplication.

The database's ``processed`` table is the record (a message's id is written in the transaction
that applies its effects, so a handled message is never handled again, also across restarts).
``ProcessedIds`` is an in-memory cache in front of it: the WeChat adapter asks ``known`` before
fetching a message's payload, so a re-delivered backlog costs no gateway round trips, and the
messages the app ignores without a transaction (chit-chat, the bot's own) are remembered here
only.  ``wait`` lets the console and tests wait until a message has been handled.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

from storage.repository import Repository

log = logging.getLogger(__name__)


class RecentIds:
    """A bounded set of recently seen ids (oldest forgotten first)."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, item: object) -> bool:
        return item in self._ids

    def add(self, item: str) -> None:
        self._ids[item] = None
        self._ids.move_to_end(item)
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)


class ProcessedIds:
    """The handled message ids: the recent ones in memory, all of them in the database."""

    def __init__(self, repo: Repository | None, size: int = 10_000) -> None:
        self.repo = repo  # None: in memory only (a WeChat bot run without an app, in tests)
        self._recent = RecentIds(size)
        self._changed = asyncio.Event()

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._recent

    def remember(self, message_id: str) -> None:
        """``message_id`` has been handled (or deliberately ignored) by this process."""
        self._recent.add(message_id)
        self._changed.set()
        self._changed = asyncio.Event()

    async def known(self, message_id: str) -> bool:
        """Whether the message was handled, now or by an earlier process (gateways re-deliver)."""
        if message_id in self._recent:
            return True
        if self.repo is None:
            return False
        try:
            async with self.repo.reading() as tx:  # a snapshot: no write transaction, no commit
                known = await tx.was_processed(message_id)
        except Exception:  # the app's own check in the message's transaction still runs
            log.exception("cannot check whether message %s was handled before", message_id)
            return False
        if known:
            self.remember(message_id)
        return known

    async def wait(self, message_id: str, timeout: float) -> None:
        """Wait until this process has handled (or found handled) message ``message_id``."""
        async with asyncio.timeout(timeout):
            while message_id not in self._recent:
                await self._changed.wait()
