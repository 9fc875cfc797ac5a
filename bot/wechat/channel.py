"""The gRPC channel to the gateway, opened by the adapter itself rather than by python-wechaty.

python-wechaty's ``PuppetService.start()`` does three things the bot cannot live with:

- it sends ``Stop`` before ``Start``.  The official gateway answers ``Stop`` by stopping its
  puppet, which logs a real account out: every bot restart or reconnect would need a new QR
  scan.  Here the stream sends only ``Start`` (a no-op for a puppet that is already running)
  and then opens the event stream, on which the gateway re-emits the current login (or QR code);
- it cannot speak TLS, so wechaty 1.x gateways in their default mode and hosted services are
  unreachable.  ``Tls`` gives the channel an SSL context, the server name wechaty 1.x clients
  use (the token's prefix before its last ``_``, unless configured) and the token as
  ``authorization: Wechaty <token>`` metadata, as their call credentials do;
- it checks reachability with a blocking telnet connect (the session probes without blocking).

The token is also the HTTP/2 ``:authority``, which is how older gateways (and python-wechaty's
own clients) pass it.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

from grpclib.client import Channel
from grpclib.config import Configuration

from bot.wechat.support import split_endpoint


@dataclass(frozen=True)
class Tls:
    """TLS to the gateway: ``ca_file`` ("" = the system's trusted roots), ``server_name`` ("" = the
    token's SNI prefix, else the endpoint's host)."""

    ca_file: str = ""
    server_name: str = ""


def token_sni(token: str) -> str:
    """The server name wechaty 1.x clients derive from a token: the part before its last ``_``."""
    cut = token.rfind("_")
    return token[:cut].lower() if cut > 0 else ""


def ssl_context(tls: Tls) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=tls.ca_file or None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["h2"])
    return ctx


def open_channel(endpoint: str, token: str, tls: Tls | None) -> tuple[Channel, dict[str, str]]:
    """A channel to ``endpoint`` and the metadata every call must carry."""
    host, port = split_endpoint(endpoint)
    if tls is None:
        channel = Channel(host=host, port=port)
    else:
        name = tls.server_name or token_sni(token) or host
        channel = Channel(
            host=host, port=port, ssl=ssl_context(tls),
            config=Configuration(ssl_target_name_override=name),
        )
    channel._authority = token  # how the token travels to older gateways
    return channel, {"authorization": f"Wechaty {token}"}


def attach(stub_class: Any, puppet: Any, endpoint: str, token: str, tls: Tls | None) -> None:
    """Give python-wechaty's ``PuppetService`` a channel and stub (``stub_class``, the shim's
    ``PuppetStub``) opened here instead of by its ``_init_puppet``: every RPC it makes then goes
    over this channel, with the token."""
    channel, metadata = open_channel(endpoint, token, tls)
    puppet.channel = channel
    puppet._puppet_stub = stub_class(channel, metadata=metadata)


async def serve_events(puppet: Any) -> None:
    """``Start`` (never ``Stop``), then the event stream until it ends."""
    await puppet.puppet_stub.start()
    await puppet._listen_for_event()  # python-wechaty's own event loop
