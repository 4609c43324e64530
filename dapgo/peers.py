"""Who is on the other end of a connection: only dapgo's own user may be served.

Whoever talks DAP to dapgo can launch a program as dapgo's user, so `dapgo --listen` serves
only peers of the same uid, as Delve's headless server does by default (--only-same-user):

- a unix socket (`--listen unix:PATH`): the kernel says who connected (SO_PEERCRED); the
  socket file is created mode 0600, so other users cannot even connect;
- loopback TCP: the peer's socket is another socket of this machine; its owner is read from
  /proc/net/tcp or /proc/net/tcp6 (the entry whose local address is the peer's address and
  whose remote address is ours);
- a peer on another machine cannot be identified: binding a non-loopback address prints a
  warning (see dapgo.server), and such peers are served.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct

_PROC_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")


def _parse_address(text: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    """A /proc/net/tcp{,6} address `HEX:PORT` (the address in host-order 32-bit words)."""
    hex_addr, hex_port = text.split(":")
    raw = bytes.fromhex(hex_addr)
    words = struct.unpack(f"<{len(raw) // 4}I", raw)
    packed = struct.pack(f">{len(words)}I", *words)
    ip = ipaddress.ip_address(packed)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, int(hex_port, 16)
    return ip, int(hex_port, 16)


def _normal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    ip = ipaddress.ip_address(host.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def tcp_peer_uid(peer: tuple[str, int], local: tuple[str, int]) -> int | None:
    """The uid owning a local TCP peer's socket (found by its address and port); None when it
    is not a socket of this machine's network namespace (or cannot be read)."""
    want_peer = (_normal(peer[0]), peer[1])
    want_local = (_normal(local[0]), local[1])
    for table in _PROC_TABLES:
        try:
            with open(table) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 8:
                continue
            try:
                if (_parse_address(fields[1]) == want_peer
                        and _parse_address(fields[2]) == want_local):
                    return int(fields[7])
            except ValueError:
                continue
    return None


def is_loopback(host: str) -> bool:
    try:
        return _normal(host).is_loopback
    except ValueError:
        return False


def unix_peer_uid(sock: socket.socket) -> int:
    """The uid of the process that connected to a unix socket (SO_PEERCRED)."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


def refusal(sock: socket.socket | None) -> str | None:
    """Why the peer of an accepted connection must not be served; None when it may be."""
    if sock is None:
        return None
    me = os.geteuid()
    if sock.family == socket.AF_UNIX:
        uid = unix_peer_uid(sock)
        return None if uid == me else f"the peer runs as uid {uid}, dapgo as uid {me}"
    peer, local = sock.getpeername(), sock.getsockname()
    if not is_loopback(peer[0]):
        return None  # another machine: cannot be identified (the listener warned)
    tcp_uid = tcp_peer_uid((peer[0], peer[1]), (local[0], local[1]))
    if tcp_uid is None:
        return "the peer's socket cannot be found in /proc/net/tcp{,6}"
    return None if tcp_uid == me else f"the peer runs as uid {tcp_uid}, dapgo as uid {me}"
