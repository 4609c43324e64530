"""Logpoint messages: Delve-compatible `{expression}` interpolation, `{{` and `}}` for
literal braces. Parsing is pure; evaluating the expressions is the caller's job.

A leaf module (it imports only dapgo.engine.errors): the ptrace logpoints of the engine core
and the kernel logpoints of engine/bpf share it, so both read a message the same way.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from dapgo.engine.errors import DebuggerError


@attrs.frozen
class Expr:
    """An `{expression}` of the message."""

    text: str


Part = str | Expr


def parse_log_message(template: str) -> list[Part]:
    """Split a logMessage into literal text and expressions; unbalanced braces are an error."""
    parts: list[Part] = []
    text: list[str] = []
    i = 0
    while i < len(template):
        ch = template[i]
        if ch == "{" and template.startswith("{{", i):
            text.append("{")
            i += 2
        elif ch == "}" and template.startswith("}}", i):
            text.append("}")
            i += 2
        elif ch == "{":
            end = template.find("}", i + 1)
            if end < 0:
                raise DebuggerError(f"log message {template!r}: '{{' at {i} is never closed")
            expr = template[i + 1 : end].strip()
            if not expr:
                raise DebuggerError(f"log message {template!r}: empty {{}} at {i}")
            if text:
                parts.append("".join(text))
                text = []
            parts.append(Expr(expr))
            i = end + 1
        elif ch == "}":
            raise DebuggerError(f"log message {template!r}: '}}' at {i} has no '{{' (write }}}})")
        else:
            text.append(ch)
            i += 1
    if text:
        parts.append("".join(text))
    return parts


def format_log_message(parts: list[Part], value_of: Callable[[str], str]) -> str:
    """The message with each expression replaced by `value_of(expression)`; an expression
    that fails shows its error in place, like Delve (`{x}` -> `<error: ...>`)."""
    out = []
    for part in parts:
        if isinstance(part, Expr):
            try:
                out.append(value_of(part.text))
            except DebuggerError as exc:
                out.append(f"<error: {exc}>")
        else:
            out.append(part)
    return "".join(out)
