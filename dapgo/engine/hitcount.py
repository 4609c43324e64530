"""Hit conditions (`hitCondition` of DAP breakpoints), with Delve's meaning.

`N` or `== N` stops on the Nth hit only; `!= N`, `> N`, `>= N`, `< N`, `<= N` compare the
hit count; `% N` stops on every Nth hit.

A leaf module (it imports only dapgo.engine.errors), shared by the engine core and engine/bpf
so that a hit condition means the same in the kernel and under ptrace.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable

import attrs

from dapgo.engine.errors import DebuggerError

_OPS: dict[str, Callable[[int, int], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "%": lambda hits, n: hits % n == 0,
}
_RE = re.compile(r"^\s*(==|!=|>=|<=|>|<|%)?\s*(\d+)\s*$")


@attrs.frozen
class HitCondition:
    op: str
    count: int

    def matches(self, hits: int) -> bool:
        return _OPS[self.op](hits, self.count)


@functools.lru_cache(maxsize=256)  # asked on every hit of a breakpoint
def parse_hit_condition(text: str) -> HitCondition:
    m = _RE.match(text)
    if m is None or (m.group(1) == "%" and int(m.group(2)) == 0):
        raise DebuggerError(
            f"invalid hit condition {text!r}: use N, == N, != N, > N, >= N, < N, <= N or % N"
        )
    return HitCondition(m.group(1) or "==", int(m.group(2)))
