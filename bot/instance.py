"""Who this bot process is, when several share one database (one process per WeChat account).

``process_id`` names the process in the outbox's claims: the configured instance name (or the
host name) plus the process id and a random tag, so two processes never share a claim, even
when they were given the same name by mistake.
"""

from __future__ import annotations

import os
import secrets
import socket


def process_id(name: str = "") -> str:
    """A name for this process that no other process has: ``name/pid-random``."""
    return f"{name or socket.gethostname()}/{os.getpid()}-{secrets.token_hex(3)}"
