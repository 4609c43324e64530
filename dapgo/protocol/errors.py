"""Protocol-level error ids and exception types.

Error ids travel in an error response's `body.error.id`. They are grouped in ranges, like
Delve's: 1xxx the message or request itself is wrong, 2xxx starting a debug session failed,
3xxx the debuggee is in the wrong state, 4xxx the engine refused a request, 9xxx dapgo's bug.

As in h11, who is at fault decides the exception type: `RemoteProtocolError` means the peer
sent something we cannot accept (answer with an error, keep serving); `LocalProtocolError`
means dapgo itself tried to send something invalid (a bug on our side).
"""

from __future__ import annotations

import enum


class ErrorId(enum.IntEnum):
    MALFORMED_MESSAGE = 1000  # framing, UTF-8 or JSON errors; not a DAP message
    INVALID_REQUEST = 1001  # a JSON object that is not a valid DAP request
    UNSUPPORTED_COMMAND = 1002
    INVALID_ARGUMENTS = 1003
    FAILED_LAUNCH = 2000
    FAILED_ATTACH = 2001
    NO_DEBUGGEE = 3000  # the request needs a launched or attached program
    NOT_STOPPED = 3001  # the request needs the program stopped
    ENGINE_ERROR = 4000  # any other user-facing engine error
    INTERNAL = 9000  # an unexpected exception inside dapgo


class ProtocolError(Exception):
    """Base of dapgo's protocol errors; `str(exc)` is fit to show a user."""

    error_id: ErrorId = ErrorId.MALFORMED_MESSAGE


class RemoteProtocolError(ProtocolError):
    """The peer sent something that violates the protocol."""

    def __init__(self, message: str, error_id: ErrorId = ErrorId.MALFORMED_MESSAGE) -> None:
        super().__init__(message)
        self.error_id = error_id


class FramingError(RemoteProtocolError):
    """A frame could not be decoded: bad header, bad length, bad UTF-8/JSON, not an object.

    The frame parser returns these as items (it does not raise them), in stream order with
    the messages around them.
    """

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FramingError) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def __repr__(self) -> str:
        return f"FramingError({str(self)!r})"


class LocalProtocolError(ProtocolError):
    """dapgo tried to send something that cannot be encoded as a DAP message."""

    error_id = ErrorId.INTERNAL
