"""The address residents' phones open (QR codes on posters): ``[web] public_url`` when set, else
the address the web server actually serves on — this machine's LAN address when it listens on
every interface, and the port it really got."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

ANY = ("0.0.0.0", "::", "")


def lan_address() -> str:
    """This machine's address on its local network (the interface of the default route), or
    127.0.0.1 when it has none.  Nothing is sent: a UDP socket is only pointed at an address."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.254.254.254", 1))
            return s.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def serving_url(host: str, port: int) -> str:
    name = lan_address() if host in ANY else host
    return f"http://{f'[{name}]' if ':' in name else name}:{port}"


def public_url(configured: str, host: str, port: int) -> str:
    return configured.rstrip("/") if configured else serving_url(host, port)


def is_loopback(url: str) -> bool:
    """Whether phones cannot reach ``url`` (127.x, ::1, localhost)."""
    name = urlsplit(url).hostname or ""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
