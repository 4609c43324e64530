"""The engine facade with its futures awaited, for tests that drive the engine directly.

`dapgo.engine.debugger.Debugger` answers every request with a Future completed by the
engine's owner thread; these tests want the answers. `threads` and `goroutine_command`
keep the extra parts of their answers as attributes, the way the DAP handlers use them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dapgo.engine.debugger import Debugger
from dapgo.engine.model import EngineEvent, ThreadInfo

TIMEOUT = 120


class SyncDebugger:
    def __init__(self, on_event: Callable[[EngineEvent], None]) -> None:
        self.engine = Debugger(on_event)
        self.last_threads_omitted = 0
        self.last_threads_message = ""
        self.goroutine_view_changed = False

    def __getattr__(self, name: str) -> Callable[..., Any]:
        request = getattr(self.engine, name)
        return lambda *args, **kwargs: request(*args, **kwargs).result(TIMEOUT)

    def threads(self) -> list[ThreadInfo]:
        answer = self.engine.threads().result(TIMEOUT)
        self.last_threads_omitted = answer.omitted
        self.last_threads_message = answer.omitted_message
        return answer.threads

    def goroutine_command(self, args: str) -> str:
        answer = self.engine.goroutine_command(args).result(TIMEOUT)
        self.goroutine_view_changed = answer.threads_changed
        return answer.text
