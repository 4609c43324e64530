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

from dapgo.engine.errors import ProcessError

# $1: where to write our pid; $2: where to wait for the go-ahead; then the program and args
WRAPPER = 'echo $$ >"$1" && read _ <"$2" && shift 2 && exec "$@"'
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

    def argv(self, program: list[str]) -> list[str]:
        """What the terminal runs."""
        return ["/bin/sh", "-c", WRAPPER, "dapgo", self.pid_path, self.go_path, *program]

    def wait_pid(self, timeout: float = TERMINAL_TIMEOUT) -> int:
        """The wrapper's pid, once it has written it."""
        deadline = time.monotonic() + timeout
        data = b""
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProcessError(f"the editor's terminal did not start the program within "
                                   f"{timeout:.0f}s")
            ready, _, _ = select.select([self._pid_fd], [], [], min(left, 0.5))
            if ready:
                chunk = os.read(self._pid_fd, 64)
                data += chunk
                if not chunk and not data:
                    time.sleep(0.02)  # a writer came and went without writing: wait on
        try:
            return int(data.split(b"\n")[0])
        except ValueError:
            raise ProcessError(f"the terminal wrapper wrote {data!r}, not its pid") from None

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
        shutil.rmtree(self._dir, ignore_errors=True)
