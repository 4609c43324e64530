"""What every request handler shares: the call context, argument checking, request errors.

A handler is `async def handler(call: Call) -> dict | None`: it returns the response body
(or None for no body) and raises `RequestError` (or lets an engine `DebuggerError` through)
to fail the request. The session turns either into an error response and keeps serving.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from dapgo.protocol.errors import ErrorId

if TYPE_CHECKING:
    from dapgo.session import Session

Body = dict[str, Any]


class RequestError(Exception):
    """A request that fails for a reason the user should see; `str(exc)` is the message."""

    def __init__(self, error_id: ErrorId, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id


class Call:
    """One request being handled: its session, command, arguments and follow-up actions."""

    __slots__ = ("after", "args", "command", "session")

    def __init__(self, session: Session, command: str, args: Args) -> None:
        self.session = session
        self.command = command
        self.args = args
        self.after: list[Callable[[], None]] = []

    def then(self, action: Callable[[], None]) -> None:
        """Run `action` right after this request's response is sent (success or not)."""
        self.after.append(action)


Handler = Callable[[Call], Awaitable[Body | None]]


class Args:
    """Typed access to a request's `arguments`; errors name the offending argument.

    JSON null counts as absent for optional arguments.
    """

    def __init__(self, command: str, raw: Mapping[str, Any], prefix: str = "") -> None:
        self.command = command
        self.raw = raw
        self.prefix = prefix

    def _bad(self, name: str, what: str) -> RequestError:
        return RequestError(
            ErrorId.INVALID_ARGUMENTS,
            f"{self.command}: argument '{self.prefix}{name}' {what}",
        )

    def _get(self, name: str, required: bool) -> Any:
        value = self.raw.get(name)
        if value is None and required:
            raise self._bad(name, "is required")
        return value

    def has(self, name: str) -> bool:
        return self.raw.get(name) is not None

    def opt_str(self, name: str) -> str | None:
        value = self._get(name, False)
        if value is not None and not isinstance(value, str):
            raise self._bad(name, "must be a string")
        return value

    def req_str(self, name: str) -> str:
        value = self._get(name, True)
        if not isinstance(value, str):
            raise self._bad(name, "must be a string")
        if not value:
            raise self._bad(name, "must not be empty")
        return value

    def opt_int(self, name: str, minimum: int | None = None) -> int | None:
        value = self._get(name, False)
        if value is None:
            return None
        if type(value) is not int:
            raise self._bad(name, "must be an integer")
        if minimum is not None and value < minimum:
            raise self._bad(name, f"must be at least {minimum}")
        return value

    def req_int(self, name: str, minimum: int | None = None) -> int:
        self._get(name, True)
        value = self.opt_int(name, minimum)
        assert value is not None
        return value

    def opt_bool(self, name: str, default: bool) -> bool:
        value = self._get(name, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._bad(name, "must be true or false")
        return value

    def opt_str_list(self, name: str) -> list[str] | None:
        value = self._get(name, False)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._bad(name, "must be a list of strings")
        return value

    def req_str_list(self, name: str) -> list[str]:
        self._get(name, True)
        value = self.opt_str_list(name)
        assert value is not None
        return value

    def opt_obj(self, name: str) -> Args | None:
        value = self._get(name, False)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self._bad(name, "must be an object")
        return Args(self.command, value, f"{self.prefix}{name}.")

    def req_obj(self, name: str) -> Args:
        self._get(name, True)
        value = self.opt_obj(name)
        assert value is not None
        return value

    def opt_obj_list(self, name: str) -> list[Args] | None:
        value = self._get(name, False)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self._bad(name, "must be a list of objects")
        return [Args(self.command, v, f"{self.prefix}{name}[{i}].") for i, v in enumerate(value)]

    def bad(self, name: str, what: str) -> RequestError:
        """An error for argument `name` (for checks the typed getters cannot express)."""
        return self._bad(name, what)
