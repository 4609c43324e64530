"""DAP's readMemory and writeMemory: the program's bytes at any address, as the program
sees them (dapgo's int3 bytes hidden on reads, kept under writes by the backend)."""

from __future__ import annotations

from dapgo.engine.errors import DebuggerError
from dapgo.engine.target import Target

PAGE = 4096
MAX_READ = 1 << 20  # one request reads at most 1 MiB


def read(target: Target, address: int, count: int) -> tuple[bytes, int]:
    """(the readable bytes from `address` on, how many after them could not be read)."""
    if count < 0 or address < 0:
        raise DebuggerError("readMemory: the address and count must not be negative")
    count = min(count, MAX_READ)
    try:
        return target.read(address, count), 0
    except OSError:
        pass
    out = bytearray()
    pos, end = address, address + count
    while pos < end:  # page by page up to the first page that cannot be read
        chunk = min(end, (pos // PAGE + 1) * PAGE) - pos
        try:
            out += target.read(pos, chunk)
        except OSError:
            break
        pos += chunk
    return bytes(out), count - len(out)


def write(target: Target, address: int, data: bytes, allow_partial: bool) -> int:
    """Write `data`; returns how many bytes were written (all, or with `allow_partial` the
    ones before the first page that cannot be written)."""
    if address < 0:
        raise DebuggerError("writeMemory: the address must not be negative")
    try:
        target.write(address, data)
        return len(data)
    except OSError as exc:
        if not allow_partial:
            raise DebuggerError(f"cannot write {len(data)} bytes at {address:#x}: "
                                f"{exc.strerror or exc}") from None
    done = 0
    while done < len(data):
        pos = address + done
        chunk = min(len(data) - done, (pos // PAGE + 1) * PAGE - pos)
        try:
            target.write(pos, data[done:done + chunk])
        except OSError:
            break
        done += chunk
    if done == 0:
        raise DebuggerError(f"cannot write at {address:#x}: the memory is not writable")
    return done
