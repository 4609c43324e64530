"""Kernel core files for the tests and benchmarks: run a program until it dies with a core.

`kernel_core(argv, directory)` runs the program with GOTRACEBACK=crash and an unlimited
RLIMIT_CORE (set in the child only) in `directory`, and returns the core the kernel wrote.
Where /proc/sys/kernel/core_pattern would send cores elsewhere (a pipe to a crash handler,
an absolute path), it is set to `directory/core.%p` for that run and restored afterwards.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

CORE_PATTERN = Path("/proc/sys/kernel/core_pattern")


def _unlimited_core() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


@contextlib.contextmanager
def cores_in(directory: Path) -> Iterator[None]:
    """Cores of programs started in `directory` land there while this lasts."""
    old = CORE_PATTERN.read_text().strip()
    if not old.startswith("|") and "/" not in old:
        yield  # a plain file name: relative to the dying program's working directory
        return
    CORE_PATTERN.write_text(f"{directory}/core.%p\n")
    try:
        yield
    finally:
        CORE_PATTERN.write_text(old + "\n")


def tgkill(pid: int, tid: int, sig: int) -> None:
    """Send `sig` to one thread of process `pid`."""
    if ctypes.CDLL(None, use_errno=True).syscall(234, pid, tid, sig) != 0:  # SYS_tgkill
        raise OSError(ctypes.get_errno(), f"tgkill {pid} {tid}")


def kernel_core(argv: list[str], directory: Path, env: dict[str, str] | None = None,
                send: int | None = None,
                ready: Callable[[subprocess.Popen[bytes]], None] | None = None,
                timeout: float = 120) -> tuple[Path, str]:
    """Run `argv` in `directory` until it dies with a core: of a Go panic, or of signal
    `send`, sent once `ready(proc)` returns (by default: once the program writes its first
    line on stdout; with `send` 0, `ready` sends what it wants). Returns the core's path and
    what the program wrote on stderr. Whatever the program started is killed. Earlier core
    files in `directory` are removed first."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("core*"):  # the kernel would overwrite one of the same name
        old.unlink()
    err_path = directory / "stderr.txt"
    with cores_in(directory), open(err_path, "wb") as err_file:
        proc = subprocess.Popen(argv, cwd=directory, preexec_fn=_unlimited_core,
                                env={**os.environ, "GOTRACEBACK": "crash", **(env or {})},
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=err_file, start_new_session=True)
        try:
            if send is not None:
                assert proc.stdout is not None
                if ready is not None:
                    ready(proc)
                else:
                    proc.stdout.readline()  # the program says it is ready
                if send:
                    proc.send_signal(send)
            proc.wait(timeout=timeout)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # its children, if any
            proc.wait()
            assert proc.stdout is not None
            proc.stdout.close()
    err = err_path.read_text(errors="replace")
    assert proc.returncode < 0 and proc.returncode != -signal.SIGKILL, \
        (proc.returncode, err[-2000:])
    deadline = time.monotonic() + 10
    while True:
        new = sorted(directory.glob("core*"))
        if new and new[0].stat().st_size > 0:
            return new[0], err
        assert time.monotonic() < deadline, f"no core file in {directory}: {err[-2000:]!r}"
        time.sleep(0.05)
