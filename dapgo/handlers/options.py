"""The session's options: what launch/attach attributes and `dapgo config` set, in one
place, each with its type, default and a line of help (`dapgo config` lists them from here).

To add one: `register(Option(...))` (or an entry in OPTIONS below); `SessionOptions` then
has it as an attribute (snake_case; read it where it is used), launch/attach take it as an
attribute of the same name, and `dapgo config NAME VALUE` sets it. An option the engine must
know gets an `apply` coroutine, run after each change. An option whose value is not a
bool, int or str gives its own `parse` (text typed in the console -> value) and `show`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dapgo.session import Session


Apply = Callable[["Session", Any], Awaitable[None]]


class Option:
    __slots__ = ("apply", "choices", "custom_parse", "default", "help", "kind", "minimum",
                 "name", "show")

    def __init__(self, name: str, kind: type, default: Any, help: str,
                 choices: tuple[str, ...] = (), minimum: int | None = None,
                 apply: Apply | None = None, parse: Callable[[str], Any] | None = None,
                 show: Callable[[Any], str] = repr) -> None:
        self.name = name  # as `dapgo config` and launch.json spell it
        self.kind = kind
        self.default = default
        self.help = help
        self.choices = choices
        self.minimum = minimum
        self.apply = apply  # makes a new value take effect (in the engine)
        self.custom_parse = parse
        self.show = show

    @property
    def attr(self) -> str:
        return "".join("_" + c.lower() if c.isupper() else c for c in self.name)

    def parse(self, text: str) -> Any:
        """A value typed in the console; ValueError with a message when it is not one."""
        if self.custom_parse is not None:
            return self.custom_parse(text)
        if self.kind is bool:
            if text.lower() in ("true", "on", "yes", "1"):
                return True
            if text.lower() in ("false", "off", "no", "0"):
                return False
            raise ValueError(f"{self.name} is true or false, not {text!r}")
        if self.kind is int:
            try:
                value = int(text, 0)
            except ValueError:
                raise ValueError(f"{self.name} is a number, not {text!r}") from None
            if self.minimum is not None and value < self.minimum:
                raise ValueError(f"{self.name} is at least {self.minimum}")
            return value
        if self.choices and text not in self.choices:
            raise ValueError(f"{self.name} is one of {', '.join(self.choices)}, not {text!r}")
        return text


async def _value_limits(session: Session, _value: Any) -> None:
    if session.debugger is not None:
        o = session.options
        await session.engine(session.debugger.set_value_limits(o.max_string_len,
                                                                o.max_array_values))


OPTIONS: dict[str, Option] = {o.name: o for o in (
    Option("disassembleFlavor", str, "intel",
           "syntax of the disassembly view: intel or go (Go's assembler syntax)",
           choices=("intel", "go")),
    Option("stackTraceDepth", int, 50,
           "frames loaded per stackTrace page when the client asks for all of them",
           minimum=1),
    Option("maxStringLen", int, 512, "bytes of a string loaded and shown", minimum=1,
           apply=_value_limits),
    Option("maxArrayValues", int, 64, "elements of an array, slice or map loaded per page",
           minimum=1, apply=_value_limits),
    Option("showGlobalVariables", bool, False, "a Globals scope with the package's variables"),
)}


def register(option: Option) -> None:
    """Add an option (from another module: e.g. substitutePath)."""
    OPTIONS[option.name] = option


class SessionOptions:
    """The current value of every option of OPTIONS, as attributes (snake_case)."""

    disassemble_flavor: str
    stack_trace_depth: int
    max_string_len: int
    max_array_values: int
    show_global_variables: bool

    def __init__(self) -> None:
        for o in OPTIONS.values():
            setattr(self, o.attr, o.default)

    def get(self, name: str) -> Any:
        o = OPTIONS[name]
        return getattr(self, o.attr, o.default)

    def set(self, name: str, value: Any) -> None:
        setattr(self, OPTIONS[name].attr, value)
