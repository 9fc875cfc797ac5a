"""Rendering replies from templates/.  WeChat text is plain, so autoescape is off on purpose:
user text is only ever passed as data (never compiled as a template), so ``{{7*7}}`` typed by a
user stays literal.  Undefined names are errors, so a template typo fails in tests."""

from __future__ import annotations

from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

import jinja2

from handlers.parse import mask_phone

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


def duration(seconds: float | None) -> str:
    """5 -> '5 秒'; 200 -> '3 分 20 秒'; 7300 -> '2 小时 1 分'."""
    if seconds is None:
        return "-"
    s = int(round(seconds))
    if s < 60:
        return f"{s} 秒"
    if s < 3600:
        return f"{s // 60} 分 {s % 60} 秒" if s % 60 else f"{s // 60} 分钟"
    return f"{s // 3600} 小时 {s % 3600 // 60} 分"


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
        )
        self.env.filters.update(mask=mask_phone, duration=duration, hm=self._hm, dt=self._dt, md=self._md,
                                year=self._year, month=self._month)

    def _local(self, ts: float) -> datetime:
        return datetime.fromtimestamp(ts, self.tz)

    def _hm(self, ts: float | None) -> str:
        return "-" if ts is None else self._local(ts).strftime("%H:%M")

    def _dt(self, ts: float | None) -> str:
        return "-" if ts is None else self._local(ts).strftime("%m-%d %H:%M")

    def _md(self, ts: float | None) -> str:
        return "-" if ts is None else self._local(ts).strftime("%m月%d日")

    def _year(self, ts: float) -> str:
        return str(self._local(ts).year)

    def _month(self, ts: float) -> str:
        local = self._local(ts)
        return f"{local.year}年{local.month}月"

    def render(self, name: str, data: dict[str, Any]) -> str:
        text = self.env.get_template(f"{name}.txt").render(**data)
        lines = [line.rstrip() for line in text.strip().splitlines()]
        return "\n".join(lines)
