"""Numbered SQL migrations: ``NNN_name.sql`` files applied in order, tracked by version."""

from __future__ import annotations

import re
from pathlib import Path

_NAME = re.compile(r"^(\d{3})_(\w+)\.sql$")


def load_migrations() -> list[tuple[int, str, str]]:
    """Return ``(number, name, sql)`` for every migration file, ordered by number."""
    found = []
    for path in Path(__file__).parent.glob("*.sql"):
        match = _NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), match.group(2), path.read_text(encoding="utf-8")))
    found.sort()
    numbers = [n for n, _, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise RuntimeError(f"migrations must be numbered 001, 002, ... without gaps; found {numbers}")
    return found
