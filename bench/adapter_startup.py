"""Adapter start-up benchmark: from starting `dapgo` (over stdio) to its `initialize` response.

Measured side by side in one run, alternating, median of N runs each:
  * python: the same interpreter (the venv's) running an empty program, from spawn to the
    end of its output: what any Python program pays before its first line runs;
  * dapgo: `.venv/bin/dapgo`, from spawn to a complete `initialize` response (the request
    is written right after the spawn, as an editor does).
The difference is what dapgo adds: target no more than 50 ms. Both run with Python's
bytecode cache on (as for an installed program: pip compiles a wheel's modules), kept in
.cache/pycache, whatever PYTHONDONTWRITEBYTECODE says in the caller's environment; the
warm-up run fills it.

Then one more dapgo run under `-X importtime` (PYTHONPROFILEIMPORTTIME) lists the modules
imported by the time it answered `initialize`: the heavy ones (pyelftools `elftools`,
python-ptrace `ptrace`, `bcc`, `capstone`) must not be among them; for each that is, the
chain of dapgo modules that pulled it in is printed, so a regression shows where it is.

Usage: .venv/bin/python bench/adapter_startup.py [--runs N]
Exit status 1 when the target is missed or a heavy module is imported at start.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
DAPGO = ROOT / ".venv" / "bin" / "dapgo"
HEAVY = ("elftools", "ptrace", "bcc", "capstone")
TARGET_MS = 50.0

PYCACHE = ROOT / ".cache" / "pycache"
# the children's environment: bytecode cached (an installed program's normal state)
ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
       "PYTHONPYCACHEPREFIX": str(PYCACHE)}

_INIT = json.dumps({"seq": 1, "type": "request", "command": "initialize",
                    "arguments": {"adapterID": "go", "clientID": "bench"}}).encode()
INITIALIZE = b"Content-Length: %d\r\n\r\n" % len(_INIT) + _INIT


def _read_response(stdout: object) -> dict[str, object]:
    """One framed message from dapgo's stdout (a blocking binary stream)."""
    assert hasattr(stdout, "readline") and hasattr(stdout, "read")
    length = -1
    while True:
        line = stdout.readline()
        if not line:
            raise RuntimeError("dapgo closed its output before answering")
        if line == b"\r\n":
            break
        m = re.fullmatch(rb"Content-Length: (\d+)\r\n", line)
        if m:
            length = int(m.group(1))
    message: dict[str, object] = json.loads(stdout.read(length))
    return message


def time_dapgo(env: dict[str, str] = ENV) -> tuple[float, str]:
    """Seconds from spawn to the initialize response; and dapgo's stderr."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(DAPGO)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(INITIALIZE)
    proc.stdin.flush()
    response = _read_response(proc.stdout)
    elapsed = time.perf_counter() - t0
    assert response.get("command") == "initialize" and response.get("success"), response
    _, err = proc.communicate(timeout=30)  # closes stdin: dapgo ends at end of input
    if proc.returncode != 0:
        raise RuntimeError(f"dapgo exited with {proc.returncode}: {err.decode()[-2000:]}")
    return elapsed, err.decode("utf-8", "replace")


def time_python() -> float:
    """Seconds from spawn to the end of the output of an empty program."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(PYTHON), "-c", "pass"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    assert proc.stdout is not None
    proc.stdout.read()
    elapsed = time.perf_counter() - t0
    proc.communicate(timeout=30)
    return elapsed


_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def imports_at_start() -> list[tuple[int, str, int, int]]:
    """(depth, module, self us, cumulative us) for every import, in the order reported."""
    _, err = time_dapgo({**ENV, "PYTHONPROFILEIMPORTTIME": "1"})
    out = []
    for line in err.splitlines():
        m = _IMPORT_LINE.match(line)
        if m:
            out.append((len(m.group(3)) // 2, m.group(4), int(m.group(1)), int(m.group(2))))
    return out


def _importer_chain(rows: list[tuple[int, str, int, int]], index: int) -> list[str]:
    """The dapgo modules whose import led to rows[index] (the innermost first). importtime
    reports a module after everything it imported, one level less indented."""
    chain: list[str] = []
    depth = rows[index][0]
    for d, name, _, _ in rows[index + 1:]:
        if d < depth:
            depth = d
            if name.startswith("dapgo"):
                chain.append(name)
    return chain


def report_imports(rows: list[tuple[int, str, int, int]]) -> bool:
    """Print the import picture; False if a heavy module was imported."""
    top = sum(c for d, _, _, c in rows if d == 0)
    print(f"  imports by the initialize response: {len(rows)} modules, "
          f"{top / 1000:.1f} ms under -X importtime")
    clean = True
    for heavy in HEAVY:
        mods = [i for i, r in enumerate(rows)
                if r[1] == heavy or r[1].startswith(heavy + ".")]
        if not mods:
            print(f"    {heavy:<9}: not imported")
            continue
        clean = False
        outer = min(mods, key=lambda i: rows[i][0])
        cost = sum(rows[i][2] for i in mods)
        chain = " <- ".join(_importer_chain(rows, outer)) or "?"
        print(f"    {heavy:<9}: IMPORTED ({len(mods)} modules, {cost / 1000:.1f} ms of their "
              f"own) via {chain}")
    engine = [r[1] for r in rows if r[1].startswith("dapgo.engine")]
    if engine:
        print(f"    dapgo.engine modules imported: {len(engine)}")
    by_package: dict[str, int] = {}
    for _, name, own, _ in rows:
        by_package[name.split(".")[0]] = by_package.get(name.split(".")[0], 0) + own
    biggest = sorted(by_package.items(), key=lambda kv: -kv[1])[:8]
    print("    largest packages (own import time): "
          + ", ".join(f"{name} {us / 1000:.1f} ms" for name, us in biggest))
    ours = sorted((r for r in rows if r[1].startswith("dapgo")), key=lambda r: -r[2])[:8]
    print("    largest dapgo modules (own import time): "
          + ", ".join(f"{name} {own / 1000:.1f} ms" for _, name, own, _ in ours))
    return clean


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    time_python()  # warm the page cache for both
    time_dapgo()
    py, dap = [], []
    for _ in range(args.runs):
        py.append(time_python())
        dap.append(time_dapgo()[0])
    p, d = statistics.median(py) * 1000, statistics.median(dap) * 1000
    diff = d - p
    met = diff <= TARGET_MS
    print(f"adapter start-up over stdio: spawn -> initialize response, median of {args.runs} "
          f"runs ({sys.executable.replace(str(ROOT) + '/', '')})")
    print(f"  python, empty program : {p:8.1f} ms")
    print(f"  dapgo, initialize     : {d:8.1f} ms")
    print(f"  difference            : {diff:8.1f} ms  (target <= {TARGET_MS:.0f} ms: "
          f"{'met' if met else 'NOT met'}); ratio dapgo/python = {d / p:.2f}")
    clean = report_imports(imports_at_start())
    return 0 if met and clean else 1


if __name__ == "__main__":
    sys.exit(main())
