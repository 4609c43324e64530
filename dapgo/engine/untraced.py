"""Run Without Debugging (DAP `noDebug`): the built program run as a plain child, untraced,
or in the editor's terminal (`TerminalRun`).

No ptrace, no probes, no DWARF read: the program's stdout and stderr are forwarded as output
events (the same pump as a debugged program's), its exit code is reported when it ends, and
`terminate`/`disconnect` kill it and everything it started (its own process group).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence

from dapgo.engine.errors import ProcessError
from dapgo.engine.model import EngineEvent, Exited
from dapgo.engine.output import OutputPump
from dapgo.engine.terminal import TerminalStart, kill_tree

PUMP_DRAIN_SECONDS = 5


def exit_code_of(returncode: int) -> int:
    """A shell's convention, as for a debugged program: 128 + the signal that killed it."""
    return returncode if returncode >= 0 else 128 - returncode


class UntracedRun:
    """One program started without debugging; `Exited` is emitted once it has ended and
    all its output has been forwarded."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], cwd: str,
                 emit: Callable[[EngineEvent], None], tmpdir: str | None = None) -> None:
        self._emit = emit
        self._tmpdir = tmpdir
        self._report = True
        pump = OutputPump(emit)
        try:
            self._proc = subprocess.Popen(
                list(argv), env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                stdout=pump.stdout_fd, stderr=pump.stderr_fd, start_new_session=True)
        except OSError as exc:
            pump.close()
            raise ProcessError(f"could not start {argv[0]}: {exc}") from exc
        pump.start()
        self._pump = pump
        self._waiter = threading.Thread(target=self._wait, name="dapgo-nodebug", daemon=True)

    def watch(self) -> None:
        """Start waiting for the program's end (after its start has been reported)."""
        self._waiter.start()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _wait(self) -> None:
        code = exit_code_of(self._proc.wait())
        self._pump.join(timeout=PUMP_DRAIN_SECONDS)
        if self._report:
            self._emit(Exited(exit_code=code))

    def kill(self) -> None:
        """Kill the program and what it started; the exit is reported as usual."""
        if self._proc.poll() is None:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def close(self, kill: bool, report: bool = True) -> None:
        """End of the session: kill the program (`kill`), or leave it running on;
        `report` False: its end is not reported (it is being restarted)."""
        self._report = report
        if kill:
            self.kill()
            if self._waiter.is_alive():
                self._waiter.join(timeout=PUMP_DRAIN_SECONDS + 5)
        if self._tmpdir:  # a running program's binary can be unlinked
            shutil.rmtree(self._tmpdir, ignore_errors=True)


class TerminalRun:
    """A program run without debugging in the editor's terminal (console
    integratedTerminal/externalTerminal): started by the terminal's wrapper
    (dapgo.engine.terminal), which reports its exit status; same interface as UntracedRun."""

    def __init__(self, start: TerminalStart, pid: int, emit: Callable[[EngineEvent], None],
                 tmpdir: str | None = None) -> None:
        self._start = start
        self.pid = pid  # the wrapper's; the program is its child
        self._emit = emit
        self._tmpdir = tmpdir
        self._report = True
        self._waiter = threading.Thread(target=self._wait, name="dapgo-nodebug", daemon=True)

    def watch(self) -> None:
        self._waiter.start()

    def _wait(self) -> None:
        code = self._start.wait_exit(lambda: _alive(self.pid))
        self._start.close()
        if self._report:
            self._emit(Exited(exit_code=128 + signal.SIGKILL if code is None else code))

    def kill(self) -> None:
        kill_tree(self.pid)

    def close(self, kill: bool, report: bool = True) -> None:
        self._report = report
        if kill:
            self.kill()
            if self._waiter.is_alive():
                self._waiter.join(timeout=5)
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)


def _alive(pid: int) -> bool:
    """Is `pid` running (not gone, not a zombie its parent has yet to reap)?"""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False
