"""Go-style text for scalar values: quoted strings, floats, complex numbers, and the
`time.Duration` / `time.Time` forms Go's own String methods print."""

from __future__ import annotations

import datetime
import re
import struct

# time.Time.wall: hasMonotonic flag, 33-bit seconds since 1885, 30-bit nanoseconds
_HAS_MONOTONIC = 1 << 63
_NSEC_MASK = (1 << 30) - 1
_WALL_TO_INTERNAL = (1884 * 365 + 1884 // 4 - 1884 // 100 + 1884 // 400) * 86400
_INTERNAL_TO_UNIX = -62135596800  # seconds from year 1 to 1970


_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f\x7f]')


def go_quote(data: bytes) -> str:
    """A Go double-quoted string literal for `data`, as %q would print it."""
    text = data.decode("utf-8", errors="replace")
    if not _NEEDS_ESCAPE.search(text):
        return f'"{text}"'
    out = ['"']
    for ch in text:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def format_float(v: float, bits: int = 64) -> str:
    """Like fmt's %v for floats: the shortest digits that read back exactly, in %e form
    only when the exponent is < -4 or >= 21."""
    if v != v:
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "-0" if str(v).startswith("-") else "0"
    digits, exp = _shortest_digits(v, bits)
    neg = "-" if v < 0 else ""
    if exp < -4 or exp >= 21:
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{neg}{mant}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return f"{neg}0.{'0' * (-exp - 1)}{digits}"
    if len(digits) <= exp + 1:
        return neg + digits + "0" * (exp + 1 - len(digits))
    return f"{neg}{digits[:exp + 1]}.{digits[exp + 1:]}"


def _shortest_digits(v: float, bits: int) -> tuple[str, int]:
    """Significant digits (no leading/trailing zeros) and decimal exponent of |v|."""
    a = abs(v)
    if bits == 32:
        text = f"{a:.9e}"
        for n in range(1, 10):
            cand = f"{a:.{n - 1}e}"
            if struct.unpack("<f", struct.pack("<f", float(cand)))[0] == a:
                text = cand
                break
    else:
        text = _repr_e(a)
    mant, exp = text.split("e")
    digits = mant.replace(".", "").rstrip("0") or "0"
    return digits, int(exp)


def _repr_e(a: float) -> str:
    r = repr(a)
    if "e" in r:
        return r
    whole, _, frac = r.partition(".")
    frac = frac.rstrip("0")
    if whole != "0":
        digits = (whole + frac).rstrip("0")
        return f"{digits[0]}.{digits[1:] or '0'}e{len(whole) - 1}"
    stripped = frac.lstrip("0")
    exp = -(len(frac) - len(stripped)) - 1
    return f"{stripped[0]}.{stripped[1:] or '0'}e{exp}"


def format_complex(re_: float, im: float, bits: int = 64) -> str:
    """Delve's form: (1 + -2i)."""
    return f"({format_float(re_, bits)} + {format_float(im, bits)}i)"


def format_duration(ns: int) -> str:
    """time.Duration.String(): 1.5s, 2h3m0s, 1ms, 0s."""
    if ns == 0:
        return "0s"
    neg = ns < 0
    u = -ns if neg else ns
    if u < 1_000_000_000:
        for unit, scale in (("ns", 1), ("µs", 1_000), ("ms", 1_000_000)):
            if u < scale * 1000:
                return ("-" if neg else "") + _frac(u, scale) + unit
    secs, rem = divmod(u, 1_000_000_000)
    text = _frac(secs % 60 * 1_000_000_000 + rem, 1_000_000_000) + "s"
    mins = secs // 60
    if mins:
        text = f"{mins % 60}m" + text
        hours = mins // 60
        if hours:
            text = f"{hours}h" + text
    return ("-" if neg else "") + text


def _frac(v: int, scale: int) -> str:
    whole, rem = divmod(v, scale)
    if rem == 0:
        return str(whole)
    digits = len(str(scale)) - 1
    return f"{whole}." + f"{rem:0{digits}d}".rstrip("0")


def time_seconds(wall: int, ext: int) -> tuple[int, int, int | None]:
    """(unix seconds, nanoseconds, monotonic ns or None) of a time.Time's wall/ext words."""
    nsec = wall & _NSEC_MASK
    if wall & _HAS_MONOTONIC:
        sec = ((wall << 1) & ((1 << 64) - 1)) >> 31
        return sec + _WALL_TO_INTERNAL + _INTERNAL_TO_UNIX, nsec, ext
    return ext + _INTERNAL_TO_UNIX, nsec, None


def format_time(unix: int, nsec: int, offset: int, zone: str, mono: int | None) -> str:
    """time.Time.String(): 2006-01-02 15:04:05.999999999 -0700 MST [m=+0.000000001]."""
    try:
        base = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=unix + offset)
    except OverflowError:
        return f"<time {unix}s since 1970 out of range>"
    text = base.strftime("%Y-%m-%d %H:%M:%S").rjust(19, "0")
    if base.year < 1000:
        text = f"{base.year:04d}" + text[text.index("-"):]
    if nsec:
        text += "." + f"{nsec:09d}".rstrip("0")
    sign = "-" if offset < 0 else "+"
    off = abs(offset) // 60
    text += f" {sign}{off // 60:02d}{off % 60:02d} {zone}"
    if mono is not None:
        msign = "-" if mono < 0 else "+"
        m = abs(mono)
        text += f" m={msign}{m // 1_000_000_000}.{m % 1_000_000_000:09d}"
    return text
