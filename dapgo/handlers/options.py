"""The session's options: what launch/attach attributes and `dapgo config` set, in one
place, each with its type, default and a line of help (the console lists them from here).

To add one: a `Option(...)` in OPTIONS; `SessionOptions` then has it as an attribute (read
it where it is used), `dapgo config` lists and sets it. Options the engine must know are
handed to it by whoever sets them (see handlers/console.py).
"""

from __future__ import annotations

from typing import Any


class Option:
    __slots__ = ("choices", "default", "help", "kind", "minimum", "name")

    def __init__(self, name: str, kind: type, default: Any, help: str,
                 choices: tuple[str, ...] = (), minimum: int | None = None) -> None:
        self.name = name  # as `dapgo config` and launch.json spell it
        self.kind = kind
        self.default = default
        self.help = help
        self.choices = choices
        self.minimum = minimum

    @property
    def attr(self) -> str:
        return "".join("_" + c.lower() if c.isupper() else c for c in self.name)

    def parse(self, text: str) -> Any:
        """A value typed in the console; ValueError with a message when it is not one."""
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


OPTIONS: dict[str, Option] = {o.name: o for o in (
    Option("disassembleFlavor", str, "intel",
           "syntax of the disassembly view: intel or go (Go's assembler syntax)",
           choices=("intel", "go")),
    Option("stackTraceDepth", int, 50,
           "frames loaded per stackTrace page when the client asks for all of them",
           minimum=1),
)}


class SessionOptions:
    """The current value of every option of OPTIONS, as attributes (snake_case)."""

    disassemble_flavor: str
    stack_trace_depth: int

    def __init__(self) -> None:
        for o in OPTIONS.values():
            setattr(self, o.attr, o.default)

    def get(self, name: str) -> Any:
        return getattr(self, OPTIONS[name].attr)

    def set(self, name: str, value: Any) -> None:
        setattr(self, OPTIONS[name].attr, value)
