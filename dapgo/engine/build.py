"""Building the program to debug: `go build` (mode debug) and `go test -c` (mode test).

Both build with optimisations and inlining off (`-gcflags=all=-N -l`), as vscode-go/Delve do,
into a temporary directory unless the launch configuration names an `output` path.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
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


def _flags(build_flags: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for f in build_flags:
        out.extend(shlex.split(f))
    return out


def package_dir(cfg: LaunchConfig) -> str:
    """The directory of the package `cfg.program` names (a directory or a .go file)."""
    program = os.path.abspath(os.path.join(cfg.cwd or os.getcwd(), cfg.program))
    return program if os.path.isdir(program) else os.path.dirname(program)


def build(cfg: LaunchConfig) -> tuple[str, str | None]:
    """Build `cfg.program`; returns (binary path, temporary directory to remove or None)."""
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
        cmd = [find_go(), "test", "-c", DEBUG_GCFLAGS, *_flags(cfg.build_flags), "-o", out]
    else:
        cmd = [find_go(), "build", DEBUG_GCFLAGS, *_flags(cfg.build_flags), "-o", out, target]
    proc = subprocess.run(cmd, cwd=pkg_dir, capture_output=True, text=True)
    if proc.returncode != 0 or not os.path.exists(out):
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)
        detail = (proc.stderr or proc.stdout).strip()
        raise BuildError(f"build failed: {shlex.join(cmd)}\n{detail}")
    return out, tmpdir
