"""The exception breakpoint filters dapgo offers (DAP `exceptionBreakpointFilters`).

A leaf module: the server announces the filters at `initialize` without loading the engine.
"""

from __future__ import annotations

# filter id -> (runtime functions the program reaches, exception id, label). Fatal errors
# stop where their message is still an argument (runtime.fatalthrow comes later, when `s`
# may already be optimized out of the runtime's frames).
EXCEPTION_FILTERS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "panic": (("runtime.fatalpanic",), "panic", "Unrecovered panics"),
    "fatal": (("runtime.throw", "runtime.fatal"), "fatal error", "Fatal runtime errors"),
}
DEFAULT_EXCEPTION_FILTERS = ("panic", "fatal")
