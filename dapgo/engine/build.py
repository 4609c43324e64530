"""Building the program to debug: `go build` (mode debug) and `go test -c` (mode test).

Both build with optimisations and inlining off (`-gcflags=all=-N -l`), as vscode-go/Delve do,
into a temporary directory unless the launch configuration names an `output` path.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from dapgo.engine.errors import BuildError, ProgramNotFoundError
from dapgo.engine.model import EngineEvent, LaunchConfig, Progress

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
    """A build that another thread may cancel (a disconnect during a long `go build`). A
    cancel removes the build's temporary directory itself: the adapter may exit before the
    building thread gets to it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._tmpdir: str | None = None
        self._cancelled = False

    def started(self, proc: subprocess.Popen[str], tmpdir: str | None) -> None:
        """For `build(..., started=)`: the `go` process is running."""
        with self._lock:
            self._proc, self._tmpdir = proc, tmpdir
            cancelled = self._cancelled
        if cancelled:  # cancelled just before it started
            self._stop(proc, tmpdir)

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            proc, tmpdir = self._proc, self._tmpdir
        if proc is not None:
            self._stop(proc, tmpdir)

    @staticmethod
    def _stop(proc: subprocess.Popen[str], tmpdir: str | None) -> None:
        cancel_build(proc)
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)


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


def go_version(cfg: LaunchConfig, go: str | None = None) -> str:
    """The Go version a build of `cfg` uses: `go env GOVERSION` run where and as the build
    runs (GOTOOLCHAIN and a go.mod `toolchain` line can switch it); "" when unknown."""
    go = go or find_go()
    try:
        out = subprocess.run([go, "env", "GOVERSION"], cwd=package_dir(cfg),
                             env=build_env(cfg), capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


# `go build -v` names each package as it compiles it, one import path a line
_PACKAGE_LINE = re.compile(r"[\w.~+-]+(/[\w.~+-]+)*")


def build(
    cfg: LaunchConfig,
    started: Callable[[subprocess.Popen[str], str | None], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[str, str | None]:
    """Build `cfg.program`; returns (binary path, temporary directory to remove or None).
    `started` receives the running `go` process and the temporary directory, so that a
    caller can cancel the build with `cancel_build` and remove the directory itself.
    `progress` receives the import path of each package as go compiles it (`-v`)."""
    program = os.path.abspath(os.path.join(cfg.cwd or os.getcwd(), cfg.program))
    if not os.path.exists(program):
        raise ProgramNotFoundError(f"program not found: {cfg.program}")
    pkg_dir = program if os.path.isdir(program) else os.path.dirname(program)
    target = "." if os.path.isdir(program) else program
    tmpdir: str | None = None
    if cfg.output:
        out = output_path(cfg)
    else:
        tmpdir = tempfile.mkdtemp(prefix="dapgo-build-")
        out = os.path.join(tmpdir, "__debug_bin")
    # (`go test` takes -v as the test binary's flag: a test build names no packages)
    verbose = ["-v"] if progress is not None else []
    if cfg.mode == "test":
        cmd = [find_go(), "test", "-c", DEBUG_GCFLAGS, *cfg.build_flags, "-o", out]
    else:
        cmd = [find_go(), "build", *verbose, DEBUG_GCFLAGS, *cfg.build_flags, "-o", out,
               target]
    # its own process group, so that cancelling kills the compilers go started as well
    proc = subprocess.Popen(cmd, cwd=pkg_dir, env=build_env(cfg), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    if started is not None:
        started(proc, tmpdir)
    assert proc.stdout is not None
    detail: list[str] = []  # what go said, but the package names of -v
    for line in proc.stdout:
        if progress is not None and _PACKAGE_LINE.fullmatch(line.strip()):
            progress(line.strip())
        else:
            detail.append(line)
    proc.wait()
    if proc.returncode != 0 or not os.path.exists(out):
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)
        if proc.returncode < 0:
            raise BuildError(f"build cancelled: {shlex.join(cmd)}")
        raise BuildError(f"build failed: {shlex.join(cmd)}\n{''.join(detail).strip()}")
    return out, tmpdir


def output_path(cfg: LaunchConfig) -> str:
    """Where `output` puts the binary: a relative path is taken from `cwd` when the launch
    names one, else from the package directory."""
    assert cfg.output is not None
    return os.path.abspath(os.path.join(cfg.cwd or package_dir(cfg), cfg.output))


class BuildProgress:
    """Progress events of one build: started at once (linking alone can take seconds), an
    update when go names a package it compiles, at most one per UPDATE_INTERVAL seconds,
    ended once."""

    UPDATE_INTERVAL = 0.25
    _ids = itertools.count(1)

    def __init__(self, emit: Callable[[EngineEvent], None], title: str, message: str) -> None:
        self._emit = emit
        self._id = f"dapgo-build-{next(self._ids)}"
        self._open = True
        self._last = 0.0
        self.packages = 0
        emit(Progress(self._id, "start", title, message))

    def package(self, name: str) -> None:
        """go is compiling package `name` (from `build(progress=...)`)."""
        self.packages += 1
        now = time.monotonic()
        if now - self._last >= self.UPDATE_INTERVAL:
            self._last = now
            self._emit(Progress(self._id, "update", message=f"compiling {name} "
                                f"({self.packages} packages)"))

    def end(self, how: str) -> None:
        if self._open:
            self._open = False
            self._emit(Progress(self._id, "end", message=f"{how} ({self.packages} packages "
                                "compiled)"))
