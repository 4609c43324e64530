"""A doorbell for a thread blocked in waitpid: how the owner thread is woken without
touching the program.

While the program runs, the thread that traces it sits in waitpid(-1), which returns only
for a child's state change. The doorbell is such a child: a tiny process (`cat`, reading a
pipe whose write end only dapgo holds) spawned by the tracing thread itself. `ring()`, from
any thread, stops it with SIGSTOP; the tracing thread's waitpid reports that stop, the
thread sees the doorbell's pid, `answer()`s (SIGCONT) and does whatever it was woken for.
The program is never signalled, so nothing in it is disturbed.

Rings may coalesce (a stopped process ignores another SIGSTOP): the woken thread must
answer before it looks at what it was woken for, so a ring made after the look wakes it
again. When dapgo dies, the pipe's write end closes and the doorbell exits on its own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal

ARGV0 = "dapgo-doorbell"  # how it shows in `ps` (the program is cat)


class Doorbell:
    def __init__(self) -> None:
        """Spawn the doorbell; must run on the thread that will wait for it."""
        cat = shutil.which("cat") or "/bin/cat"
        read_end, self._write_end = os.pipe()  # both close-on-exec
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            self.pid = os.posix_spawn(
                cat, [ARGV0], {"LC_ALL": "C"},
                file_actions=[(os.POSIX_SPAWN_DUP2, read_end, 0),
                              (os.POSIX_SPAWN_DUP2, devnull, 1)],
                setpgroup=0,  # a terminal's Ctrl-C is not for it
            )
        finally:
            os.close(read_end)
            os.close(devnull)
        self.closed = False

    def ring(self) -> None:
        """From any thread: wake the thread waiting for the doorbell."""
        if not self.closed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGSTOP)

    def answer(self) -> None:
        """On the waiting thread, after waitpid reported the doorbell stopped."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGCONT)

    def close(self) -> None:
        """End the doorbell and reap it."""
        if self.closed:
            return
        self.closed = True
        os.close(self._write_end)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
