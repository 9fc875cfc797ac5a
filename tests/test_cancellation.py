"""A task cancelled at the wrong moment must not leave the database connection in a transaction.

Regression: a WeChat session ending (its worker task cancelled) while a message's transaction was
waiting for ``BEGIN IMMEDIATE`` left that BEGIN to run on the database thread after the task had
gone; every later transaction then failed with "cannot start a transaction within a transaction"
(found against the official gateway, whose login event arrives twice at start-up).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from storage.sqlite import SqliteRepository


async def test_cancelled_while_beginning_leaves_no_transaction_open(tmp_path: Path) -> None:
    repo = SqliteRepository(str(tmp_path / "c.db"))
    await repo.open()
    try:
        async def hold() -> None:
            async with repo.transaction() as tx:
                await tx.set_meta("never", "1")

        task = asyncio.create_task(hold())
        await asyncio.sleep(0)  # the task now waits for BEGIN on the database thread
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        async with repo.transaction() as tx:  # failed with "within a transaction" before the fix
            await tx.set_meta("after", "1")
        async with repo.transaction() as tx:
            assert await tx.get_meta("after") == "1" and await tx.get_meta("never") is None
    finally:
        await repo.close()
