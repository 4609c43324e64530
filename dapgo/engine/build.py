"""Building the program to debug: `go build` (mode debug) and `go test -c` (mode test).

Both build with optimisations and inlining off (`-gcflags=all=-N -l`), as vscode-go/Delve do,
into a temporary directory unless the launch configuration names an `output` path.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from dapgo.engine.errors import BuildError, ProgramNotFoundError
from dapgo.engine.model import LaunchConfig

DEBUG_GCFLAGS = "-gcflags=all=-N -l"


def find_go() -> str:
    """The `go` tool: $DAPGO_GO, then PATH, then the one next to this Python (the venv)."""
    env = os.environ.get("DAPGO_GO")
    if env:
        return env
    found = shutil.which("go")
    if found:
        return found
    beside = Path(sys.executable).parent / "go"
    if beside.exists():
        return str(beside)
    raise BuildError("the Go toolchain (`go`) was not found on PATH; install Go or set DAPGO_GO")


def package_dir(cfg: LaunchConfig) -> str:
    """The directory of the package `cfg.program` names (a directory or a .go file)."""
    program = os.path.abspath(os.path.join(cfg.cwd or os.getcwd(), cfg.program))
    return program if os.path.isdir(program) else os.path.dirname(program)


def cancel_build(proc: subprocess.Popen[str]) -> None:
    """Kill a build started by `build` and everything it started, and wait for it."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


class BuildHandle:
    """A build that another thread may cancel (a disconnect during a long `go build`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._cancelled = False

    def started(self, proc: subprocess.Popen[str], _tmpdir: str | None) -> None:
        """For `build(..., started=)`: the `go` process is running."""
        with self._lock:
            self._proc = proc
            cancelled = self._cancelled
        if cancelled:  # cancelled just before it started
            cancel_build(proc)

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            proc = self._proc
        if proc is not None:
            cancel_build(proc)


def build_env(cfg: LaunchConfig) -> dict[str, str]:
    """The environment of the build: the launch's `env` applies to it too (GOOS, GOFLAGS,
    CGO_ENABLED, ... as with vscode-go); None removes a variable."""
    env = dict(os.environ)
    for k, v in cfg.env:
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def build(
    cfg: LaunchConfig,
    started: Callable[[subprocess.Popen[str], str | None], None] | None = None,
) -> tuple[str, str | None]:
    """Build `cfg.program`; returns (binary path, temporary directory to remove or None).
    `started` receives the running `go` process and the temporary directory, so that a
    caller can cancel the build with `cancel_build` and remove the directory itself."""
    program = os.path.abspath(os.path.join(cfg.cwd or os.getcwd(), cfg.program))
    if not os.path.exists(program):
        raise ProgramNotFoundError(f"program not found: {cfg.program}")
    pkg_dir = program if os.path.isdir(program) else os.path.dirname(program)
    target = "." if os.path.isdir(program) else program
    tmpdir: str | None = None
    if cfg.output:
        out = os.path.abspath(os.path.join(cfg.cwd or pkg_dir, cfg.output))
    else:
        tmpdir = tempfile.mkdtemp(prefix="dapgo-build-")
        out = os.path.join(tmpdir, "__debug_bin")
    if cfg.mode == "test":
        cmd = [find_go(), "test", "-c", DEBUG_GCFLAGS, *cfg.build_flags, "-o", out]
    else:
        cmd = [find_go(), "build", DEBUG_GCFLAGS, *cfg.build_flags, "-o", out, target]
    # its own process group, so that cancelling kills the compilers go started as well
    proc = subprocess.Popen(cmd, cwd=pkg_dir, env=build_env(cfg), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    if started is not None:
        started(proc, tmpdir)
    stdout, stderr = proc.communicate()
    if proc.returncode != 0 or not os.path.exists(out):
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)
        detail = (stderr or stdout).strip()
        if proc.returncode < 0:
            raise BuildError(f"build cancelled: {shlex.join(cmd)}")
        raise BuildError(f"build failed: {shlex.join(cmd)}\n{detail}")
    return out, tmpdir
