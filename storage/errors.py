"""Storage faults every backend reports the same way, so the app can react without knowing SQL.

A backend's ``transaction()`` turns its driver's errors into these types (the original error
is kept as ``__cause__``) after rolling the transaction back, so a fault never leaves half of
a message's effects behind:

- ``StorageBusy``: another connection holds a lock (SQLite "database is locked", a busy
  timeout, a PostgreSQL lock timeout, deadlock or serialization failure), or the PostgreSQL
  connection was lost or refused for now.  Retrying the whole transaction a little later is
  safe.
- ``StorageFull``: the disk or the database's size limit is full.  Nothing more can be
  recorded until someone frees space.
- ``StorageReadOnly``: the database (file, folder or disk) can no longer be written.
- ``StorageBroken``: the database cannot be read or written at all (I/O error, corruption,
  file gone).

The last three are *fatal*: the app stops taking messages it could not record.

Each type has a default ``kind`` and ``advice`` (worded for SQLite, the default backend); a
backend may pass its own for a fault where those would mislead (``storage.postgres``).
"""

from __future__ import annotations


class StorageFault(Exception):
    """A storage failure that is not a bug in the caller: see the module docstring."""

    kind = "fault"
    fatal = True
    advice = "check the database"

    def __init__(self, detail: str, *, kind: str | None = None, advice: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if kind is not None:
            self.kind = kind
        if advice is not None:
            self.advice = advice

    def describe(self) -> str:
        """One line for the log: what happened and what to do."""
        return f"database {self.kind} ({self.detail}): {self.advice}"


class StorageBusy(StorageFault):
    kind = "locked"
    fatal = False
    advice = ("another program is holding a lock on the database (a second linggong instance, a sqlite3 "
              "shell, a tool copying the file?)")


class StorageFull(StorageFault):
    kind = "disk full"
    advice = ("free space on the disk that holds the database (or raise its size limit), then start "
              "linggong again; messages sent meanwhile were not recorded")


class StorageReadOnly(StorageFault):
    kind = "read-only"
    advice = ("make the database file, its -wal/-shm files and their folder writable by the user "
              "running linggong (or remount the disk read-write), then start linggong again")


class StorageBroken(StorageFault):
    kind = "unusable"
    advice = ("the database file cannot be read or written (disk error, corruption, file removed); "
              "check the disk, restore the last backup with `linggong restore`, then start again")
