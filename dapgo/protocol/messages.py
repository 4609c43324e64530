"""The shapes of DAP base messages (request, response, event) and helpers to build them.

Only the envelope is typed here; each request's `arguments` are checked by its handler.
The constructors take the sequence number as a parameter: numbering belongs to the session.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

from dapgo.protocol.errors import ErrorId, RemoteProtocolError


class Request(TypedDict):
    seq: int
    type: Literal["request"]
    command: str
    arguments: NotRequired[dict[str, Any]]


class ErrorMessage(TypedDict):
    """DAP `Message`: the structured error carried in an error response's body."""

    id: int
    format: str
    showUser: bool


class Response(TypedDict):
    seq: int
    type: Literal["response"]
    request_seq: int
    success: bool
    command: str
    message: NotRequired[str]
    body: NotRequired[dict[str, Any]]


class Event(TypedDict):
    seq: int
    type: Literal["event"]
    event: str
    body: NotRequired[dict[str, Any]]


def parse_request(message: dict[str, Any]) -> Request:
    """Check that a decoded message is a DAP request; raise RemoteProtocolError if not."""
    seq = message.get("seq")
    if type(seq) is not int or seq < 0:
        raise RemoteProtocolError("message has no valid 'seq'", ErrorId.INVALID_REQUEST)
    kind = message.get("type")
    if kind != "request":
        raise RemoteProtocolError(
            f"expected a message of type 'request', got {kind!r}", ErrorId.INVALID_REQUEST
        )
    command = message.get("command")
    if not isinstance(command, str) or not command:
        raise RemoteProtocolError("request has no valid 'command'", ErrorId.INVALID_REQUEST)
    request: Request = {"seq": seq, "type": "request", "command": command}
    if "arguments" in message and message["arguments"] is not None:
        arguments = message["arguments"]
        if not isinstance(arguments, dict):
            raise RemoteProtocolError(
                f"'arguments' of '{command}' must be an object", ErrorId.INVALID_ARGUMENTS
            )
        request["arguments"] = arguments
    return request


def response(
    seq: int, request_seq: int, command: str, body: dict[str, Any] | None = None
) -> Response:
    """A success response."""
    msg: Response = {
        "seq": seq,
        "type": "response",
        "request_seq": request_seq,
        "success": True,
        "command": command,
    }
    if body is not None:
        msg["body"] = body
    return msg


def error_response(
    seq: int, request_seq: int, command: str, error_id: int, text: str, *, show_user: bool = True
) -> Response:
    """A failure response; the text goes both in `message` and in `body.error.format`.

    `format` is a DAP template where `{name}` names an entry of `variables`; dapgo sends no
    `variables`, and clients leave a `{...}` without a matching variable as it is.
    """
    return {
        "seq": seq,
        "type": "response",
        "request_seq": request_seq,
        "success": False,
        "command": command,
        "message": text,
        "body": {"error": {"id": int(error_id), "format": text, "showUser": show_user}},
    }


def event(seq: int, name: str, body: dict[str, Any] | None = None) -> Event:
    msg: Event = {"seq": seq, "type": "event", "event": name}
    if body is not None:
        msg["body"] = body
    return msg


def request(seq: int, command: str, arguments: dict[str, Any] | None = None) -> Request:
    """A request of dapgo's own to the client (a reverse request: runInTerminal)."""
    msg: Request = {"seq": seq, "type": "request", "command": command}
    if arguments is not None:
        msg["arguments"] = arguments
    return msg
