"""Logging that never shows a resident's phone or door number."""

from __future__ import annotations

import logging

from handlers.privacy import mask


def masked(text: str) -> str:
    """``text`` for a log line: phones, ID numbers, door numbers and names masked, by the same
    rules as every other output (``handlers.privacy``)."""
    return mask(text, bare_locals=True)


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
