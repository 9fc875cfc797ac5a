"""A local wechaty puppet-service gateway that simulates WeChat for tests and demos.

It speaks the same gRPC protocol as a real gateway (``wechaty gateway`` with PadLocal,
the Windows-hook puppet or the web protocol), so the real wechaty client connects to
it unchanged.  It imports ``wechaty_grpc`` (the protocol's message classes) and
grpclib, never the ``wechaty`` package itself.
"""

from bot.gateway.config_world import world_from_config
from bot.gateway.server import DEFAULT_PORT, Gateway, serve_forever
from bot.gateway.world import (
    MSG_IMAGE,
    MSG_TEXT,
    Contact,
    Room,
    SentRecord,
    StoredMessage,
    World,
    WorldState,
)

__all__ = [
    "DEFAULT_PORT",
    "MSG_IMAGE",
    "MSG_TEXT",
    "Contact",
    "Gateway",
    "Room",
    "SentRecord",
    "StoredMessage",
    "World",
    "WorldState",
    "serve_forever",
    "world_from_config",
]
