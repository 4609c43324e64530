"""Byte-for-byte tests of the sans-I/O frame parser and encoder."""

from __future__ import annotations

import json

import pytest

from dapgo.protocol.errors import FramingError, LocalProtocolError
from dapgo.protocol.framing import FrameParser, decode_body, encode


def frame(body: bytes, extra_headers: bytes = b"") -> bytes:
    return extra_headers + b"Content-Length: %d\r\n\r\n" % len(body) + body


MSG = {"seq": 1, "type": "request", "command": "initialize", "arguments": {"adapterID": "go"}}
MSG_BYTES = json.dumps(MSG).encode()


def feed_all(parser: FrameParser, *chunks: bytes) -> list[object]:
    out: list[object] = []
    for chunk in chunks:
        out.extend(parser.feed(chunk))
    return out


def test_single_frame() -> None:
    assert FrameParser().feed(frame(MSG_BYTES)) == [MSG]


def test_split_at_every_byte() -> None:
    data = frame(MSG_BYTES)
    for cut in range(len(data) + 1):
        p = FrameParser()
        first = p.feed(data[:cut])
        second = p.feed(data[cut:])
        assert first + second == [MSG], cut
        assert (first == [MSG]) == (cut == len(data))
        assert p.buffered == 0


def test_one_byte_at_a_time() -> None:
    data = frame(MSG_BYTES) * 3
    p = FrameParser()
    assert feed_all(p, *(data[i : i + 1] for i in range(len(data)))) == [MSG] * 3


def test_two_frames_in_one_chunk() -> None:
    other = {"seq": 2, "type": "request", "command": "threads"}
    data = frame(MSG_BYTES) + frame(json.dumps(other).encode())
    assert FrameParser().feed(data) == [MSG, other]


def test_utf8_body_length_counts_bytes() -> None:
    msg = {"seq": 3, "type": "event", "event": "output", "body": {"output": "héllo ✓ 🐹"}}
    body = json.dumps(msg, ensure_ascii=False).encode("utf-8")
    assert len(body) > len(body.decode("utf-8"))
    data = frame(body)
    for cut in range(len(data) + 1):  # splits inside multi-byte characters too
        p = FrameParser()
        assert p.feed(data[:cut]) + p.feed(data[cut:]) == [msg]


def test_other_headers_ignored_case_insensitive_name() -> None:
    data = b"Content-Type: application/json\r\ncontent-length: 2\r\nX-A:b\r\n\r\n{}"
    assert FrameParser().feed(data) == [{}]


def test_whitespace_around_length_value() -> None:
    assert FrameParser().feed(b"Content-Length:2 \r\n\r\n{}") == [{}]


def test_encode_exact_bytes() -> None:
    assert encode({"a": "é"}) == b'Content-Length: 10\r\n\r\n{"a":"\xc3\xa9"}'


def test_encode_roundtrip() -> None:
    msg = {"seq": 1, "type": "event", "event": "output", "body": {"output": "ü\n🐹"}}
    assert FrameParser().feed(encode(msg)) == [msg]


def test_encode_lone_surrogate_falls_back_to_escapes() -> None:
    data = encode({"t": "a\udc80"})
    assert data == b'Content-Length: 15\r\n\r\n{"t":"a\\udc80"}'


@pytest.mark.parametrize("bad", [["not", "a", "dict"], {"x": object()}, {"f": float("nan")}])
def test_encode_rejects(bad: object) -> None:
    with pytest.raises(LocalProtocolError):
        encode(bad)  # type: ignore[arg-type]


# ---- malformed input: one error item, then the parser resynchronizes ----

GOOD = frame(b'{"seq":9}')


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        (b"Content-Length: abc\r\n\r\n{}", "invalid Content-Length"),
        (b"Content-Length: -5\r\n\r\n{}", "invalid Content-Length"),
        (b"Content-Length: 1e3\r\n\r\n{}", "invalid Content-Length"),
        (b"Content-Length: \r\n\r\n", "invalid Content-Length"),
        (b"Content-Length: 99999999999999999999999\r\n\r\n", "exceeds the limit"),
        (b"Content-Length: 1000\r\n\r\n", "exceeds the limit"),
        (b"Content-Type: json\r\n\r\n{}", "without Content-Length"),
        (b"\r\n", "without Content-Length"),
        (b"garbage line\r\n\r\n", "malformed header line"),
        (b" Content-Length: 2\r\n\r\n{}", "malformed header line"),
        (b"Content-Length: 2\n\n{}", "not terminated by CRLF"),
        (b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}", "conflicting"),
    ],
)
def test_bad_header_then_resync(bad: bytes, needle: str) -> None:
    for cut in range(len(bad + GOOD) + 1):
        p = FrameParser(max_body_bytes=999)
        items = p.feed((bad + GOOD)[:cut]) + p.feed((bad + GOOD)[cut:])
        assert len(items) == 2, (cut, items)
        assert isinstance(items[0], FramingError)
        assert needle in str(items[0])
        assert items[1] == {"seq": 9}


def test_header_too_long_without_terminator() -> None:
    p = FrameParser(max_header_bytes=64)
    items = p.feed(b"X" * 65)
    assert items == [FramingError("header block longer than 64 bytes")]
    assert p.feed(b"YYYY" + GOOD) == [{"seq": 9}]


def test_resync_discards_until_a_header_split_across_chunks() -> None:
    p = FrameParser()
    assert len(p.feed(b"bogus\r\n")) == 1
    assert p.feed(b"more junk that is long enough to be dropped Cont") == []
    assert p.buffered < 20
    assert p.feed(b"ent-Length: 2\r\n\r\n{}") == [{}]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b'{"a": "\xc3"}', "not valid UTF-8"),
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[1, 2]", "JSON array, not an object"),
        (b'"text"', "JSON string, not an object"),
        (b"42", "JSON number, not an object"),
        (b"null", "JSON null, not an object"),
        (b"true", "JSON boolean, not an object"),
    ],
)
def test_bad_body_then_next_frame(body: bytes, needle: str) -> None:
    items = FrameParser().feed(frame(body) + GOOD)
    assert len(items) == 2
    assert isinstance(items[0], FramingError) and needle in str(items[0])
    assert items[1] == {"seq": 9}


def test_deeply_nested_json_is_an_error_not_a_crash() -> None:
    item = decode_body(b"[" * 100_000 + b"]" * 100_000)
    assert isinstance(item, FramingError)


def test_error_items_keep_stream_order() -> None:
    data = GOOD + b"junk\r\n\r\n" + GOOD + frame(b"[]") + GOOD
    items = FrameParser().feed(data)
    kinds = ["err" if isinstance(i, FramingError) else "msg" for i in items]
    assert kinds == ["msg", "err", "msg", "err", "msg"]


def test_integer_too_long_for_int_is_a_float_not_a_failed_frame() -> None:
    # int() refuses more than 4300 digits; the message is still decoded (as JavaScript
    # would: an infinite number), so the request gets an answer about its argument
    body = b'{"seq": 5, "arguments": {"threadId": ' + b"9" * 5000 + b"}}"
    assert FrameParser().feed(frame(body) + GOOD) == [
        {"seq": 5, "arguments": {"threadId": float("inf")}}, {"seq": 9}]


def test_header_with_a_huge_length_is_refused_by_the_plain_header_path_too() -> None:
    items = FrameParser(max_body_bytes=100).feed(b"Content-Length: 101\r\n\r\n" + b"x" * 101
                                                 + GOOD)
    assert isinstance(items[0], FramingError) and "exceeds the limit" in str(items[0])
    assert items[-1] == {"seq": 9}
