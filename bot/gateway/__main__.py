"""Run the local gateway: ``python -m bot.gateway world.json [--host H] [--port P]``.

``world.json`` holds ``{"bot_id", "bot_name", "contacts": [{"id", "name", "friend"?}],
"rooms": [{"id", "topic", "member_ids", "aliases"?}]}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from pathlib import Path

from bot.gateway.server import DEFAULT_PORT, serve_forever
from bot.gateway.world import World


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.gateway", description=__doc__)
    parser.add_argument("world", type=Path, help="world description (JSON)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--heartbeat", type=float, default=15.0, help="heartbeat interval, seconds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    world = World.from_dict(json.loads(args.world.read_text(encoding="utf-8")))
    try:
        asyncio.run(serve_forever(world, args.host, args.port, heartbeat_interval=args.heartbeat))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
