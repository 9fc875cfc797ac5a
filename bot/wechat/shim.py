"""python-wechaty 0.10.7, made importable: the only module that imports ``wechaty``.

``CACHE_DIR`` is pointed under the data directory before the import, because wechaty creates
that directory (default ``./.wechaty``) at import time.  Its loggers are kept to warnings.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class WechatyModules:
    """The few wechaty names the adapter uses, imported once through the shim."""

    Wechaty: Any
    WechatyOptions: Any
    PuppetService: Any
    PuppetOptions: Any
    MessageType: Any
    AsyncIOScheduler: Any
    PuppetStub: Any
    version: str


def load_wechaty(cache_dir: str | None = None) -> WechatyModules:
    """Apply the compatibility shim, then import wechaty (idempotent).

    Why a shim: python-wechaty 0.10.7 (the last release) does not import on Python 3.11+.
    Its ``WechatyOptions`` dataclass has a ``PuppetOptions()`` default, and 3.11 rejects
    unhashable dataclass defaults ("mutable default ... use default_factory").  Giving
    ``PuppetOptions`` identity hashing lets the class be defined; the shared default
    instance is never used, because the adapter always passes its own options.  The
    other breakages are handled by pins, not code: ``pyee<9`` (``AsyncIOEventEmitter``),
    ``urllib3<2`` (``get_host``) and, on 3.13, ``standard-telnetlib`` (wechaty and
    puppet-service import the removed ``telnetlib``).
    """
    if cache_dir and "CACHE_DIR" not in os.environ:
        os.makedirs(cache_dir, exist_ok=True)
        os.environ["CACHE_DIR"] = cache_dir  # wechaty makes this dir at import (default ./.wechaty)
    # wechaty's loggers print to stderr on their own (propagate=False); keep them to warnings.
    os.environ.setdefault("WECHATY_LOG", "warn")
    try:
        from wechaty_puppet import MessageType, PuppetOptions

        if PuppetOptions.__hash__ is None:
            PuppetOptions.__hash__ = object.__hash__  # type: ignore[method-assign]
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        with (
            warnings.catch_warnings()
        ):  # telnetlib is deprecated (3.11, 3.12) or a backport (3.13+)
            warnings.filterwarnings("ignore", ".*telnetlib", DeprecationWarning)
            from wechaty import VERSION, Wechaty, WechatyOptions
            from wechaty_grpc.wechaty import PuppetStub
            from wechaty_puppet_service import PuppetService
    except ImportError as exc:
        raise ImportError(
            f"cannot import wechaty ({exc}); it needs wechaty==0.10.7 with pyee<9, urllib3<2"
            " and, on Python 3.13+, standard-telnetlib"
        ) from exc
    # PuppetService logs the endpoint and token at WARNING on every connection.
    logging.getLogger("PuppetService").setLevel(logging.ERROR)
    return WechatyModules(
        Wechaty,
        WechatyOptions,
        PuppetService,
        PuppetOptions,
        MessageType,
        AsyncIOScheduler,
        PuppetStub,
        str(VERSION),
    )

