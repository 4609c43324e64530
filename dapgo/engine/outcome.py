"""How a run of the program ended (a continue, one of a step's runs, a single step)."""

from __future__ import annotations

from typing import Literal

import attrs

from dapgo.engine.hits import Hit

OutcomeKind = Literal["hits", "arrived", "exited", "interrupted"]


@attrs.frozen
class Outcome:
    """`hits`: stops the user must see (the first is reported, the rest wait their turn);
    `arrived`: a stepping target was reached (`tid` at `addr`); `exited`: the program ended
    (`exit_code`); `interrupted`: a request ended the run (pause, disconnect, terminate) and
    has already said what the user sees."""

    kind: OutcomeKind
    hits: tuple[Hit, ...] = ()
    tid: int = 0
    addr: int = 0
    exit_code: int | None = None


INTERRUPTED = Outcome("interrupted")


def exited(code: int | None) -> Outcome:
    return Outcome("exited", exit_code=code if code is not None else -1)
