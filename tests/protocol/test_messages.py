"""The DAP envelope: request checking and response/event construction."""

from __future__ import annotations

from typing import Any

import pytest

from dapgo.protocol.errors import ErrorId, RemoteProtocolError
from dapgo.protocol.messages import error_response, event, parse_request, response


def test_parse_request() -> None:
    assert parse_request({"seq": 1, "type": "request", "command": "threads"}) == {
        "seq": 1, "type": "request", "command": "threads"}
    assert parse_request({"seq": 2, "type": "request", "command": "x", "arguments": None,
                          "extra": 1}) == {"seq": 2, "type": "request", "command": "x"}


@pytest.mark.parametrize(("msg", "needle", "eid"), [
    ({"type": "request", "command": "x"}, "'seq'", ErrorId.INVALID_REQUEST),
    ({"seq": True, "type": "request", "command": "x"}, "'seq'", ErrorId.INVALID_REQUEST),
    ({"seq": 1, "type": "event", "command": "x"}, "'request'", ErrorId.INVALID_REQUEST),
    ({"seq": 1, "type": "request"}, "'command'", ErrorId.INVALID_REQUEST),
    ({"seq": 1, "type": "request", "command": ""}, "'command'", ErrorId.INVALID_REQUEST),
    ({"seq": 1, "type": "request", "command": "x", "arguments": [1]}, "must be an object",
     ErrorId.INVALID_ARGUMENTS),
])
def test_parse_request_rejects(msg: dict[str, Any], needle: str, eid: ErrorId) -> None:
    with pytest.raises(RemoteProtocolError, match=needle) as info:
        parse_request(msg)
    assert info.value.error_id == eid


def test_constructors() -> None:
    assert response(4, 2, "threads", {"threads": []}) == {
        "seq": 4, "type": "response", "request_seq": 2, "success": True,
        "command": "threads", "body": {"threads": []}}
    assert "body" not in response(4, 2, "pause")
    assert error_response(5, 3, "launch", ErrorId.FAILED_LAUNCH, "no {x}") == {
        "seq": 5, "type": "response", "request_seq": 3, "success": False, "command": "launch",
        "message": "no {x}",
        "body": {"error": {"id": 2000, "format": "no {x}", "showUser": True}}}
    assert event(6, "initialized") == {"seq": 6, "type": "event", "event": "initialized"}
