"""Small server-rendered SVG charts (no JavaScript, no assets): bars and grouped columns.

Every label is escaped; the SVG scales to its container (viewBox, width 100%).  The words (the
empty chart's note, the unit) come from the caller (labels.toml ``[web.charts]``).
"""

from __future__ import annotations

from markupsafe import Markup, escape

BAR = "#2f7d32"
BAR2 = "#f0a030"
INK = "#222"
GRID = "#ddd"


def _svg(width: int, height: int, title: str, body: list[str]) -> Markup:
    head = (f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
            f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
            f'<title>{escape(title)}</title>')
    return Markup(head + "".join(body) + "</svg>")


def _empty(title: str, empty: str) -> Markup:
    return _svg(400, 60, title, [f'<text x="200" y="35" text-anchor="middle" font-size="16" fill="#777">'
                                 f'{escape(empty)}</text>'])


def hbars(items: list[tuple[str, int]], title: str, *, unit: str, empty: str) -> Markup:
    """Horizontal bars, one per label (e.g. completed orders per worker); ``empty``: the note without data."""
    if not items or not any(v for _, v in items):
        return _empty(title, empty)
    row, label_w, width = 30, 110, 520
    top = max(v for _, v in items)
    plot = width - label_w - 60
    body = []
    for i, (label, value) in enumerate(items):
        y = i * row + 6
        w = max(2.0, plot * value / top) if value else 0
        body.append(f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end" font-size="14" fill="{INK}">'
                    f'{escape(label)}</text>')
        body.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="20" rx="3" fill="{BAR}"/>')
        body.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 16}" font-size="14" fill="{INK}">'
                    f'{value}{escape(unit)}</text>')
    return _svg(width, len(items) * row + 10, title, body)


def columns(items: list[tuple], title: str, legend: tuple[str, ...] | list[str] = (), *, empty: str) -> Markup:
    """Vertical columns per label; each item is (label, value[, value2]) for one or two series."""
    if not items or not any(any(v for v in item[1:]) for item in items):
        return _empty(title, empty)
    series = len(items[0]) - 1
    width, height, left, bottom, top_pad = 560, 240, 34, 28, 26
    plot_h = height - bottom - top_pad
    slot = (width - left - 6) / len(items)
    bar = max(4.0, min(28.0, slot * 0.8 / series))
    peak = max(max(item[1:]) for item in items) or 1
    body = [f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" stroke="{GRID}"/>',
            f'<text x="{left - 6}" y="{top_pad + 4}" text-anchor="end" font-size="12" fill="#555">{peak}</text>',
            f'<line x1="{left}" y1="{top_pad}" x2="{width}" y2="{top_pad}" stroke="{GRID}" stroke-dasharray="3 3"/>']
    colors = (BAR, BAR2)
    for i, (label, *values) in enumerate(items):
        x0 = left + i * slot + (slot - bar * series) / 2
        for s, value in enumerate(values):
            h = plot_h * value / peak
            x = x0 + s * bar
            body.append(f'<rect x="{x:.1f}" y="{height - bottom - h:.1f}" width="{bar - 1:.1f}" height="{h:.1f}" '
                        f'fill="{colors[s % 2]}"><title>{escape(label)}：{value}</title></rect>')
            if value:
                body.append(f'<text x="{x + bar / 2:.1f}" y="{height - bottom - h - 4:.1f}" text-anchor="middle" '
                            f'font-size="11" fill="{INK}">{value}</text>')
        body.append(f'<text x="{left + i * slot + slot / 2:.1f}" y="{height - 9}" text-anchor="middle" '
                    f'font-size="12" fill="{INK}">{escape(label)}</text>')
    for s, name in enumerate(legend):
        x = left + 10 + s * 85
        body.append(f'<rect x="{x}" y="4" width="12" height="12" fill="{colors[s % 2]}"/>'
                    f'<text x="{x + 16}" y="15" font-size="12" fill="{INK}">{escape(name)}</text>')
    return _svg(width, height, title, body)
