"""Timing check for dapgo.engine.dwarf on a large Go binary (not a test).

Usage: .venv/bin/python scripts/dwarf_timing.py [/tmp/cmd-go]
Build the binary with:
  cd .venv/lib/python3.11/site-packages/go/src/cmd/go && \
      ../../../bin/go build -gcflags=all='-N -l' -o /tmp/cmd-go .
Runs each scenario in a fresh interpreter: cold (empty DAPGO_CACHE_DIR) then warm."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from dapgo.engine.dwarf import BinaryInfo
t_import = time.perf_counter()
b = BinaryInfo.open(sys.argv[1])
t_open = time.perf_counter()
fn = b.function("main.main")
t_fn = time.perf_counter()
pc = b.first_pc_after_prologue(fn)
t_pro = time.perf_counter()
loc = b.line_for_pc(pc)
spo = b.sp_offset(pc)
t_first = time.perf_counter()
lk = b.addresses_for_line(loc[0], loc[1] + 1)
t_line = time.perf_counter()
vs = b.frame_variables(fn, pc)
t_vars = time.perf_counter()
print(json.dumps({
    "import": t_import - t0, "open": t_open - t_import, "function": t_fn - t_open,
    "prologue": t_pro - t_fn, "line+sp": t_first - t_pro,
    "first_stop_total(open..sp)": t_first - t_import,
    "addresses_for_line": t_line - t_first, "frame_variables": t_vars - t_line,
    "pc": hex(pc), "loc": loc, "sp_offset": spo, "vars": len(vs), "addrs": lk.addresses,
}))
"""


def main() -> None:
    binary = sys.argv[1] if len(sys.argv) > 1 else "/tmp/cmd-go"
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "DAPGO_CACHE_DIR": cache}
        for label in ("cold", "warm", "warm"):
            out = subprocess.run([sys.executable, "-c", CHILD, binary], env=env, check=True,
                                 capture_output=True, text=True).stdout
            r = json.loads(out)
            print(f"--- {label}")
            for k, v in r.items():
                print(f"  {k:28s} {v * 1000:8.1f} ms" if isinstance(v, float) else
                      f"  {k:28s} {v}")


if __name__ == "__main__":
    main()
