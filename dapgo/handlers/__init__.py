"""DAP request handlers, one module per request family, collected into one command table."""

from __future__ import annotations

from dapgo.handlers import (
    breakpoints,
    evaluation,
    execution,
    inspection,
    lifecycle,
    machine,
)
from dapgo.handlers.base import Handler

HANDLERS: dict[str, Handler] = {
    **lifecycle.HANDLERS,
    **breakpoints.HANDLERS,
    **execution.HANDLERS,
    **inspection.HANDLERS,
    **evaluation.HANDLERS,
    **machine.HANDLERS,
}
