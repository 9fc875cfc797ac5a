"""Old rows that nothing needs any more, deleted in small batches: sent replies (the outbox) after
``[outbox] keep_sent_days``, handled message ids (``processed``) after ``keep_processed_days``.

The audit log (``events``), orders and workers are never pruned.  A handled id is only needed
while a gateway might deliver its message again (minutes: deploy/gateway re-sends the last 60 s,
the local gateway what a vanished stream carried), so a week is generous.  Each batch is its own
short transaction, so intake never waits long behind it; the whole run happens at most once an
hour (whichever instance gets there first), from the every-minute sweep.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

BATCH = 500  # rows per transaction
MAX_BATCHES = 40  # per table and run: a backlog is worked off over several runs
EVERY = 3600.0  # seconds between runs
LAST_RUN = "prune.last_at"
DAY = 86400.0


async def prune(app: App, *, force: bool = False) -> dict[str, int]:
    """Delete what is due (at most ``MAX_BATCHES`` batches per table); how many rows went."""
    now = app.clock.now().timestamp()
    async with app.repo.transaction() as tx:
        last = await tx.get_meta(LAST_RUN)
        if not force and last is not None and now - float(last) < EVERY:
            return {}
        await tx.set_meta(LAST_RUN, repr(now))
    keep = app.config.outbox
    counts = {"outbox": 0, "processed": 0}
    for table, before in (("outbox", now - keep.keep_sent_days * DAY),
                          ("processed", now - keep.keep_processed_days * DAY)):
        for _ in range(MAX_BATCHES):
            async with app.repo.transaction() as tx:
                if table == "outbox":
                    gone = await tx.prune_sent_outbox(before, BATCH)
                else:
                    gone = await tx.prune_processed(before, BATCH)
            counts[table] += gone
            if gone < BATCH:
                break
    if any(counts.values()):
        log.info("pruned %d sent replies and %d handled message ids", counts["outbox"], counts["processed"])
    return counts
