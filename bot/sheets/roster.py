"""The worker roster as CSV (columns: 姓名, 微信号或昵称, 电话, 技能, 团队, 承诺书日期, 状态).

Import checks every row first and reports bad rows by line number; only a clean file is
written, in one transaction, so nothing is half-imported.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from typing import Any

from bot.config import WorkerSeed, looks_like_id
from bot.render import load_labels
from bot.sheets.cells import csv_row, from_csv
from storage.repository import Repository

_LABELS = load_labels()["roster"]  # read-only: column and status names live in templates/labels.toml
COLUMNS = tuple(_LABELS["columns"])
STATUS_OUT: dict[str, str] = dict(_LABELS["status_names"])
STATUS_IN: dict[str, str] = {**{name: key for key, name in STATUS_OUT.items()}, **_LABELS["status_aliases"]}
SKILL_JOIN = "\u3001"  # the enumeration comma
_SKILL_SPLIT = re.compile(r"[、,，;；/\s]+")


class RosterError(Exception):
    """The CSV is not importable; ``problems`` lists one line per bad row."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def parse_roster(text: str, categories: set[str], source: str = "roster.csv") -> list[WorkerSeed]:
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader, None)
    if header is None or [h.strip() for h in header][: len(COLUMNS)] != list(COLUMNS):
        raise RosterError([f"{source}:1: the header must be: {','.join(COLUMNS)}"])
    rows, problems, seen = [], [], set()
    for lineno, cells in enumerate(reader, 2):
        if not any(c.strip() for c in cells):
            continue
        where = f"{source}:{lineno}"
        cells = [from_csv(c.strip()) for c in cells] + [""] * (len(COLUMNS) - len(cells))
        name, wechat, phone, skills_text, team, pledge, status = cells[: len(COLUMNS)]
        if not name:
            problems.append(f"{where}: {COLUMNS[0]} is empty")
            continue
        if name in seen:
            problems.append(f"{where}: {name} appears twice")
        seen.add(name)
        if not re.fullmatch(r"1[3-9]\d{9}", phone):
            problems.append(f"{where}: {COLUMNS[2]} {phone!r} is not an 11-digit mobile number")
        skills = tuple(s for s in _SKILL_SPLIT.split(skills_text) if s)
        unknown = [s for s in skills if s not in categories]
        if unknown:
            problems.append(f"{where}: {COLUMNS[3]} {', '.join(unknown)} not in the configured categories")
        if pledge:
            try:
                date.fromisoformat(pledge)
            except ValueError:
                problems.append(f"{where}: {COLUMNS[5]} {pledge!r} must look like 2026-03-01")
        if status not in STATUS_IN:
            problems.append(f"{where}: {COLUMNS[6]} {status!r} must be one of {', '.join(STATUS_OUT.values())}")
            continue
        rows.append(WorkerSeed(name, wechat or name, phone, skills, team or None, pledge or None, STATUS_IN[status]))
    if problems:
        raise RosterError(problems)
    return rows


async def import_roster(repo: Repository, community: str, rows: list[WorkerSeed], now: float) -> dict[str, int]:
    counts = {"added": 0, "updated": 0}
    async with repo.transaction() as tx:
        for row in rows:
            values: dict[str, Any] = {"wechat": row.wechat, "phone": row.phone, "skills": row.skills,
                                      "team": row.team, "pledge_date": row.pledge_date, "status": row.status}
            existing = await tx.find_worker(community, name=row.name)
            # an id in the 微信号 column is that account; a nickname waits for the worker's code
            # (linggong workers codes), and a bound worker's contact id is never overwritten by a file
            proven = looks_like_id(row.wechat)
            if existing is None:
                await tx.add_worker(dict(values, community=community, name=row.name, registered_at=now,
                                         bound_at=now if proven else None))
                counts["added"] += 1
            else:
                if existing.bound:
                    values["wechat"] = existing.wechat
                elif proven:
                    values["bound_at"] = now
                await tx.update_worker(existing.id, values)
                counts["updated"] += 1
        await tx.add_event(None, community, now, "cli", "roster_import", f"{counts}")
    return counts


async def export_roster(repo: Repository, community: str | None) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    async with repo.transaction() as tx:
        workers = await tx.list_workers(community)
    for w in workers:
        writer.writerow(csv_row([w.name, w.wechat, w.phone, SKILL_JOIN.join(w.skills), w.team or "",
                                 w.pledge_date or "", STATUS_OUT[w.status]]))
    return out.getvalue()
