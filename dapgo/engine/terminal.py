"""Starting the program in the user's terminal (DAP `runInTerminal`), held before it runs.

The editor runs a tiny shell wrapper in its terminal (`TerminalStart.argv`): the wrapper
writes its pid into one FIFO, waits for a line on a second FIFO, then execs the program with
the terminal as its stdin, stdout and stderr. Between the two, dapgo attaches to the wrapper
and asks to be told of its exec (dapgo.engine.ptrace.adopt), so the program is traced from
its first instruction: breakpoints are placed before any user code runs, exactly as for a
program dapgo forks itself. (Attaching to an already running program instead would race
with its first lines; a SIGSTOP in the wrapper would make an interactive shell report a
stopped job and take the terminal back.)
"""

from __future__ import annotations

import errno
import os
import select
import shutil
import tempfile
import time
from collections.abc import Callable

from dapgo.engine.errors import ProcessError

# $1: where to write our pid; $2: where to wait for the go-ahead; then the program and args
WRAPPER = 'echo $$ >"$1" && read _ <"$2" && shift 2 && exec "$@"'
# Run Without Debugging: $1: our pid; $2: where to write the program's exit status
UNTRACED_WRAPPER = 'echo $$ >"$1"; f=$2; shift 2; "$@"; c=$?; echo $c >"$f"; exit $c'
TERMINAL_TIMEOUT = 30.0  # seconds for the editor to start the wrapper


class TerminalStart:
    """The two FIFOs of one start; `close` removes them."""

    def __init__(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="dapgo-term-")
        self.pid_path = os.path.join(self._dir, "pid")
        self.go_path = os.path.join(self._dir, "go")
        os.mkfifo(self.pid_path, 0o600)
        os.mkfifo(self.go_path, 0o600)
        # opened now, without blocking, so that the wrapper's write never waits for us
        self._pid_fd = os.open(self.pid_path, os.O_RDONLY | os.O_NONBLOCK)
        self._exit_fd = -1

    def argv(self, program: list[str]) -> list[str]:
        """What the terminal runs."""
        return ["/bin/sh", "-c", WRAPPER, "dapgo", self.pid_path, self.go_path, *program]

    def untraced_argv(self, program: list[str]) -> list[str]:
        """What the terminal runs for Run Without Debugging: the program as a child of the
        wrapper, which then writes its exit status where `wait_exit` reads it."""
        self._exit_fd = os.open(self.go_path, os.O_RDONLY | os.O_NONBLOCK)
        return ["/bin/sh", "-c", UNTRACED_WRAPPER, "dapgo", self.pid_path, self.go_path,
                *program]

    def wait_pid(self, timeout: float = TERMINAL_TIMEOUT) -> int:
        """The wrapper's pid, once it has written it."""
        try:
            return int(_read_line(self._pid_fd, timeout, "start the program"))
        except ValueError:
            raise ProcessError("the terminal wrapper did not write its pid") from None

    def wait_exit(self, alive: Callable[[], bool]) -> int | None:
        """The untraced program's exit status (blocks until it has ended); None when the
        wrapper ended without saying (killed, its terminal closed)."""
        try:
            return int(_read_line(self._exit_fd, None, "report the exit", alive))
        except ValueError:
            return None

    def go_ahead(self, timeout: float = TERMINAL_TIMEOUT) -> None:
        """Let the wrapper exec the program (it is traced by now)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                fd = os.open(self.go_path, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as exc:  # ENXIO: the wrapper has not opened its end yet
                if exc.errno != errno.ENXIO or time.monotonic() > deadline:
                    raise ProcessError(f"cannot start the program in the terminal: {exc}"
                                       ) from exc
                time.sleep(0.005)
        try:
            os.write(fd, b"go\n")
        finally:
            os.close(fd)

    def close(self) -> None:
        os.close(self._pid_fd)
        if self._exit_fd >= 0:
            os.close(self._exit_fd)
            self._exit_fd = -1
        shutil.rmtree(self._dir, ignore_errors=True)


def _read_line(fd: int, timeout: float | None, what: str,
               alive: Callable[[], bool] = lambda: True) -> str:
    """A line from a FIFO opened O_NONBLOCK; "" when its writer closed it without one, or
    when nobody will write any more (`alive` false)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    data = b""
    wrote = False
    while b"\n" not in data:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise ProcessError(f"the editor's terminal did not {what} within {timeout:.0f}s")
        ready, _, _ = select.select([fd], [], [], 0.5 if left is None else min(left, 0.5))
        if not ready:
            if not alive():
                break
            continue
        chunk = os.read(fd, 64)
        data += chunk
        wrote = wrote or bool(chunk)
        if not chunk:
            if wrote or not alive():
                break  # the writer is done
            time.sleep(0.02)  # no writer yet (or one came and went without writing)
    return data.split(b"\n")[0].decode(errors="replace")


def kill_tree(pid: int) -> None:
    """Kill a wrapper and the program it started (its children)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(c) for c in f.read().split()]
    except OSError:
        children = []
    for p in [*children, pid]:
        try:
            os.kill(p, 9)
        except OSError:
            pass
