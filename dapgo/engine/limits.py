"""Upper bounds on what one request may make the engine load or hold.

A client (or a hostile peer) may ask for a billion elements, a string of an exabyte, a
goroutine list of any size: every page and limit it sets is clamped to these, and the answer
holds what was loaded (a page may come back shorter than asked; the client pages on). Leaf
module: imported by the facade (engine/api.py) and the engine core alike.
"""

from __future__ import annotations

MAX_PAGE = 1000  # children of one array, slice, map or channel per `variables` request
MAX_STRING_LEN = 64 << 10  # maxStringLen: bytes of a string loaded for display
MAX_PAGE_TEXT = 8 << 20  # characters of the values of one page: it ends early past this
MAX_ARRAY_VALUES = MAX_PAGE  # maxArrayValues: the default page
MAX_GOROUTINES = 100_000  # maxGoroutines: threads listed
MAX_EXPRESSION_LEN = 4096  # characters of an `evaluate` expression, a condition, a logpoint


def clamp(value: int | None, bound: int) -> int | None:
    """`value` no larger than `bound` (None stays None)."""
    return None if value is None else min(value, bound)
