"""Content-Length framing of DAP messages, sans I/O: bytes in, message dicts out.

A frame is a header block of `Name: value` lines, each ending in CRLF, closed by an empty
line, followed by exactly Content-Length bytes of UTF-8 JSON. Only Content-Length matters;
other headers are ignored.

Why the framing is dapgo's own rather than pygls's: `pygls.io_.run_async` also reads
Content-Length frames, but it silently skips a malformed header (so the client never hears
about it and may wait forever), passes every body to a JSON-RPC protocol object, and only
reports JSON errors through a JSON-RPC error type. DAP is not JSON-RPC, and a DAP server must
answer a bad frame with an error and carry on, so this parser reports every problem as a
`FramingError` item and resynchronizes at the next header. The transports do not use pygls
either (see dapgo.server for why).
"""

from __future__ import annotations

import json
import re
from typing import Any

from dapgo.protocol.errors import FramingError, LocalProtocolError

MAX_HEADER_BYTES = 8 * 1024
# a DAP request is small (the largest real ones, setBreakpoints of a big file, are kilobytes):
# this bounds what one connection's unfinished frame can make the server hold
MAX_BODY_BYTES = 16 * 1024 * 1024
# Python refuses to turn a longer digit string into an int (sys.get_int_max_str_digits);
# such a JSON number is decoded as a float (inf), as JavaScript would, so the request is
# still answered: an argument that must be an integer then says so
MAX_INT_DIGITS = 4000
_CONTENT_LENGTH = b"content-length"
_RESYNC_TOKEN = b"content-length:"

Item = dict[str, Any] | FramingError
# the header every client writes, taken without the general parser's line-by-line checks
_PLAIN_HEADER = re.compile(rb"Content-Length: ([0-9]{1,12})\r\n\r\n")


class FrameParser:
    """Incremental parser: `feed()` any chunk of bytes, get back what it completed.

    Each returned item is either a decoded message (a dict) or a `FramingError` describing
    one bad frame. After a header error the parser discards bytes up to the next
    `Content-Length:` (matched case-insensitively anywhere, since frames need not start on a
    new line); after a body error it already knows where the next frame starts.
    """

    def __init__(
        self, max_header_bytes: int = MAX_HEADER_BYTES, max_body_bytes: int = MAX_BODY_BYTES
    ) -> None:
        self._buf = bytearray()
        self._body_length: int | None = None  # set while waiting for a body
        self._resyncing = False
        self._max_header = max_header_bytes
        self._max_body = max_body_bytes

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Item]:
        self._buf += data
        items: list[Item] = []
        while True:
            if self._resyncing and not self._resync():
                break
            if self._body_length is None:
                header = self._parse_header()
                if header is None:
                    break
                if isinstance(header, FramingError):
                    items.append(header)
                    continue
                self._body_length = header
            if len(self._buf) < self._body_length:
                break
            body = bytes(self._buf[: self._body_length])
            del self._buf[: self._body_length]
            self._body_length = None
            items.append(decode_body(body))
        return items

    def _resync(self) -> bool:
        """Drop bytes up to the next Content-Length header; False if none is buffered yet."""
        at = self._buf.lower().find(_RESYNC_TOKEN)
        if at < 0:
            keep = len(_RESYNC_TOKEN) - 1  # a header name may be split across chunks
            if len(self._buf) > keep:
                del self._buf[: len(self._buf) - keep]
            return False
        del self._buf[:at]
        self._resyncing = False
        return True

    def _fail(self, message: str, skip: int) -> FramingError:
        """Report a header error: drop `skip` bytes (at least one), then resynchronize."""
        del self._buf[: max(skip, 1)]
        self._resyncing = True
        return FramingError(message)

    def _parse_header(self) -> int | FramingError | None:
        """The body length of a complete, valid header block; None if incomplete."""
        plain = _PLAIN_HEADER.match(self._buf)
        if plain is not None:
            size = int(plain[1])  # before the buffer moves under the match
            if size <= self._max_body:
                del self._buf[:plain.end()]
                return size
        length: int | None = None
        pos = 0
        while True:
            nl = self._buf.find(b"\n", pos, self._max_header + 1)
            if nl < 0:
                if len(self._buf) > self._max_header:
                    return self._fail(
                        f"header block longer than {self._max_header} bytes", skip=1
                    )
                return None
            if nl == 0 or self._buf[nl - 1] != ord("\r"):
                return self._fail("header line not terminated by CRLF", skip=nl + 1)
            line = bytes(self._buf[pos : nl - 1])
            pos = nl + 1
            if not line:
                break  # the empty line closing the header block
            name, colon, raw_value = line.partition(b":")
            if not colon or not name.strip() or name != name.strip():
                return self._fail(f"malformed header line {_show(line)}", skip=pos)
            if name.lower() != _CONTENT_LENGTH:
                continue  # other headers are allowed and ignored
            value = raw_value.strip(b" \t")
            if not value.isdigit() or not value.isascii():
                return self._fail(f"invalid Content-Length {_show(value)}", skip=pos)
            if len(value) > 19:  # also keeps int() away from huge digit strings
                return self._fail(
                    f"Content-Length {_show(value)} exceeds the limit of {self._max_body} bytes",
                    skip=pos,
                )
            this = int(value)
            if length is not None and this != length:
                return self._fail("conflicting Content-Length headers", skip=pos)
            length = this
        if length is None:
            return self._fail("header block without Content-Length", skip=pos)
        if length > self._max_body:
            return self._fail(
                f"Content-Length {length} exceeds the limit of {self._max_body} bytes", skip=pos
            )
        del self._buf[:pos]
        return length


def decode_body(body: bytes) -> Item:
    """Decode one frame's body: a JSON object, or a FramingError saying why not."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return FramingError(f"message body is not valid UTF-8 ({exc.reason} at byte {exc.start})")
    try:
        try:
            value = _DECODE(text)
        except json.JSONDecodeError:
            raise
        except ValueError:  # an integer with too many digits for int(): see _parse_int
            value = _DECODE_LONG_INTS(text)
    except json.JSONDecodeError as exc:
        return FramingError(f"message body is not valid JSON ({exc.msg} at offset {exc.pos})")
    except RecursionError:
        return FramingError("message body is not valid JSON (nested too deeply)")
    except (ValueError, OverflowError, MemoryError) as exc:  # whatever else a decoder refuses
        return FramingError(f"message body cannot be decoded ({type(exc).__name__}: "
                            f"{str(exc)[:200]})")
    if not isinstance(value, dict):
        return FramingError(f"message body is a JSON {_json_kind(value)}, not an object")
    return value


def _parse_int(text: str) -> int | float:
    """A JSON integer: a Python int, or a float when it has too many digits for one."""
    if len(text) > MAX_INT_DIGITS:
        return float(text)
    return int(text)


# made once: json.loads/dumps with options build a new decoder/encoder for every message
_DECODE = json.JSONDecoder().decode
_DECODE_LONG_INTS = json.JSONDecoder(parse_int=_parse_int).decode
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def encode(message: dict[str, Any]) -> bytes:
    """Frame one message: `Content-Length: N\\r\\n\\r\\n` + N bytes of UTF-8 JSON."""
    if not isinstance(message, dict):
        raise LocalProtocolError(f"a DAP message must be a dict, not {type(message).__name__}")
    try:
        text = _ENCODE(message)
        try:
            body = text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: fall back to \\u escapes
            body = json.dumps(message, separators=(",", ":"), allow_nan=False).encode("ascii")
    except (TypeError, ValueError) as exc:
        raise LocalProtocolError(f"cannot encode message as JSON: {exc}") from exc
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def _show(raw: bytes, limit: int = 40) -> str:
    text = raw[:limit].decode("ascii", "backslashreplace")
    return repr(text + ("..." if len(raw) > limit else ""))


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"
