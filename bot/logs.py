"""Logging that never shows a resident's phone or door number."""

from __future__ import annotations

import logging
import re

_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})-?(\d{3,4})(\d{4})(?!\d)")
_DOOR = re.compile(r"(\d+)\s*(单元)\s*(\d+)\s*(室|号)?|(\d{3,4})\s*(室)")


def masked(text: str) -> str:
    """Mask phone numbers and door numbers in ``text`` for logs."""
    text = _PHONE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    text = _LANDLINE.sub(lambda m: f"{m.group(1)}-****{m.group(3)}", text)
    return _DOOR.sub("*单元***", text)


class MaskingFilter(logging.Filter):
    """Rewrites every record's message, traceback and stack with phones and door numbers masked.

    The traceback of ``log.exception`` carries the exception's own message (which may quote a
    phone number); it is formatted here once and stored masked as ``exc_text``, which
    formatters use instead of formatting the exception again."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        record.msg, record.args = masked(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = masked(record.exc_text)
        if record.stack_info:
            record.stack_info = masked(record.stack_info)
        return True


def setup_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
