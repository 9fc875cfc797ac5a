"""What the storage layer did, counted: transactions, calls to the database, statements, and
how long each write transaction held the write lock.

Every backend keeps one ``StorageStats`` (``repo.stats``).  Tests assert the counts of a message
(intake, a claim, a delivered reply); the benchmark reads them and the hold times.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class StorageStats:
    transactions: int = 0  # write transactions begun
    reads: int = 0  # read-only snapshots begun (``repo.reading()``)
    round_trips: int = 0  # calls to the database (the SQLite thread, a PostgreSQL round trip)
    statements: int = 0  # SQL statements run (a round trip may carry several)
    longest_hold: float = 0.0  # seconds, the longest a write transaction held the write lock
    on_hold: Callable[[float], None] | None = field(default=None, repr=False)  # told every hold time

    def held(self, seconds: float) -> None:
        self.longest_hold = max(self.longest_hold, seconds)
        if self.on_hold is not None:
            self.on_hold(seconds)

    def snapshot(self) -> dict[str, int]:
        return {"transactions": self.transactions, "reads": self.reads, "round_trips": self.round_trips,
                "statements": self.statements}

    def since(self, before: dict[str, int]) -> dict[str, int]:
        """The counts since ``before`` (a ``snapshot``)."""
        return {k: v - before[k] for k, v in self.snapshot().items()}
