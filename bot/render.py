"""Rendering replies from templates/.  WeChat text is plain, so autoescape is off on purpose:
user text is only ever passed as data (never compiled as a template), so ``{{7*7}}`` typed by a
user stays literal.  Undefined names are errors, so a template typo fails in tests."""

from __future__ import annotations

import tomllib
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

import jinja2

from handlers.parse import mask_phone

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


def load_labels(directory: Path = TEMPLATES_DIR) -> dict[str, Any]:
    """The user-facing words that are not whole messages (units, column names, status names)."""
    return tomllib.loads((directory / "labels.toml").read_text(encoding="utf-8"))


class Renderer:
    """Renders ``templates/<name>.txt`` with the app's timezone for time filters."""

    def __init__(self, tz: tzinfo, directory: Path = TEMPLATES_DIR) -> None:
        self.tz = tz
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(directory)),
            autoescape=False,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            auto_reload=False,  # templates do not change while the bot runs: no stat() per reply
        )
        self.labels = load_labels(directory)
        self.env.globals["labels"] = self.labels
        self.env.filters.update(mask=mask_phone, duration=self.duration, hm=self._hm, dt=self._dt, md=self._md,
                                year=self._year, month=self._month, category=self._category)

    def _local(self, ts: float) -> datetime:
        return datetime.fromtimestamp(ts, self.tz)

    def _hm(self, ts: float | None) -> str:
        return "-" if ts is None else self._local(ts).strftime("%H:%M")

    def _dt(self, ts: float | None) -> str:
        return "-" if ts is None else self._local(ts).strftime("%m-%d %H:%M")

    def duration(self, seconds: float | None) -> str:
        """5 -> '5 秒'; 200 -> '3 分 20 秒'; 7300 -> '2 小时 1 分' (formats from labels.toml)."""
        if seconds is None:
            return "-"
        t, s = self.labels["time"], int(round(seconds))
        if s < 60:
            return t["seconds"].format(s=s)
        if s < 3600:
            key = "minutes_seconds" if s % 60 else "minutes"
            return t[key].format(m=s // 60, s=s % 60)
        return t["hours_minutes"].format(h=s // 3600, m=s % 3600 // 60)

    def _md(self, ts: float | None) -> str:
        if ts is None:
            return "-"
        local = self._local(ts)
        return self.labels["time"]["month_day"].format(month=local.month, day=local.day)

    def _category(self, name: str | None) -> str:
        return name or self.labels["words"]["other_category"]

    def _year(self, ts: float) -> str:
        return str(self._local(ts).year)

    def _month(self, ts: float) -> str:
        local = self._local(ts)
        return self.labels["time"]["year_month"].format(year=local.year, month=local.month)

    def render(self, name: str, data: dict[str, Any]) -> str:
        text = self.env.get_template(f"{name}.txt").render(**data)
        lines = [line.rstrip() for line in text.strip().splitlines()]
        return "\n".join(lines)
