"""Go fixture programs for the tests: built on demand, cached by source hash, found by marker.

Fixtures live in tests/fixtures/<name>/ as small Go modules. Lines are looked up by
`// @name` markers in the Go sources, never by number.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
CACHE = Path(os.environ.get("DAPGO_TEST_CACHE", ROOT / ".cache" / "fixtures"))
DEBUG_FLAGS = ["-gcflags=all=-N -l"]


def go_binary(version: str | None = None) -> str:
    """Path of the `go` tool: the project's default toolchain, or a side-by-side version."""
    if version is None:
        venv_go = ROOT / ".venv" / "bin" / "go"
        return str(venv_go) if venv_go.exists() else "go"
    return str(ROOT / ".cache" / "go" / version / "go" / "bin" / "go")


def _source_hash(src: Path, extra: str) -> str:
    h = hashlib.sha256(extra.encode())
    for f in sorted(src.rglob("*")):
        if f.is_file():
            h.update(str(f.relative_to(src)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def build(name: str, *, go: str | None = None, optimized: bool = False,
          flags: tuple[str, ...] = (), package: str = ".") -> Path:
    """Build fixture `name` (debug flags unless `optimized`, then any extra `flags`, e.g.
    `-buildmode=pie`, `-trimpath`) and return the binary's path; `package` is the package
    to build, relative to the fixture (e.g. "./plug" with `-buildmode=plugin`)."""
    src = FIXTURES / name
    gobin = go_binary(go)
    flags_ = ([] if optimized else DEBUG_FLAGS) + list(flags)
    version = subprocess.run([gobin, "env", "GOVERSION"], capture_output=True, text=True,
                             check=True).stdout.strip()
    # The source directory is part of the key: a binary names its sources by absolute path,
    # and a checkout's tests expect its own paths (the cache is shared between checkouts).
    key = _source_hash(src, f"{version} {flags_} {src} {package}")
    out = CACHE / f"{name}-{version}-{key}"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        subprocess.run([gobin, "build", *flags_, "-o", str(tmp), package], cwd=src, check=True,
                       env={**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"})
        tmp.rename(out)
    return out


_MARKER = re.compile(r"//\s*@(\w+)")


def markers(name: str) -> dict[str, tuple[Path, int]]:
    """Map every `// @marker` in fixture `name` to (absolute file path, 1-based line)."""
    found: dict[str, tuple[Path, int]] = {}
    for f in sorted((FIXTURES / name).rglob("*.go")):
        for i, text in enumerate(f.read_text().splitlines(), start=1):
            for m in _MARKER.finditer(text):
                found[m.group(1)] = (f, i)
    return found


def line_of(name: str, marker: str) -> tuple[str, int]:
    path, line = markers(name)[marker]
    return str(path), line


def gofmt(go: str | None = None) -> Path:
    """cmd/gofmt of a toolchain (a program nobody here wrote), built plainly (optimized,
    inlining on)."""
    gobin = go_binary(go)
    out = CACHE / f"gofmt-{go or 'default'}"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        subprocess.run([gobin, "build", "-o", str(tmp), "cmd/gofmt"], check=True,
                       env={**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": ""})
        tmp.rename(out)
    return out
