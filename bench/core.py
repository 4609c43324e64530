"""Core file benchmark: open a kernel core of cmd/go and show main's stack.

cmd/go is built from each toolchain's own source (`go build -o X cmd/go`, optimized, as
shipped), run as `X mod download` against a module proxy that accepts the connection and
never answers, and killed there with SIGQUIT under GOTRACEBACK=crash, so the kernel writes
a core while the main goroutine waits for the network. Timed, side by side in one run, from
starting the debug adapter to the stack trace of goroutine 1 (initialize, launch mode
"core", configurationDone, threads, stackTrace), for:
  * dapgo, cold (an empty dapgo cache directory) and warm (the cache left by the cold run);
  * Delve (`dlv dap`, the same DAP requests), and `dlv core` (its command line:
    `goroutine 1 stack`, then exit), where `dlv` is installed and reads that Go version
    (Delve 1.20.2 reads Go 1.21 builds only).
Prints the median of several runs and dapgo's ratio to Delve.

Usage: .venv/bin/python bench/core.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from corefiles import kernel_core  # noqa: E402
from dapclient import DAPClient  # noqa: E402
from dlvdap import dlv_dap  # noqa: E402

WORK = ROOT / ".cache" / "bench" / "core"
TOOLCHAINS = {"1.21.13": ROOT / ".cache" / "go" / "1.21.13" / "go" / "bin" / "go",
              "1.27.3": ROOT / ".venv" / "bin" / "go"}
DELVE_READS = ("1.21.13",)  # Delve 1.20.2 refuses newer Go builds


def build_cmd_go(version: str, go: Path) -> Path:
    out = WORK / f"cmd-go-{version}"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        print(f"building cmd/go {version} into {out} ...", flush=True)
        subprocess.run([str(go), "build", "-o", str(out), "cmd/go"], check=True,
                       env={**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": ""})
    return out


def crash_core(binary: Path, version: str) -> Path:
    """A kernel core of `binary mod download` stuck on a silent proxy, killed by SIGQUIT."""
    directory = WORK / f"crash-{version}"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    with socket.socket() as proxy:
        proxy.bind(("127.0.0.1", 0))
        proxy.listen(8)
        held: list[socket.socket] = []

        def ready(_proc: subprocess.Popen[bytes]) -> None:  # cmd/go awaits the proxy
            conn, _ = proxy.accept()
            held.append(conn)
            time.sleep(0.3)

        env = {"GOPROXY": f"http://127.0.0.1:{proxy.getsockname()[1]}", "GOSUMDB": "off",
               "GOFLAGS": "", "GOTOOLCHAIN": "local", "GOPATH": str(directory / "gopath"),
               "GOMODCACHE": str(directory / "modcache")}
        core, err = kernel_core([str(binary), "mod", "download", "example.com/never@v1.0.0"],
                                directory, env=env, send=3, ready=ready)
        for conn in held:
            conn.close()
    assert "SIGQUIT" in err, err[-500:]
    return core


def session(client: DAPClient, binary: Path, core: Path) -> None:
    """One DAP session up to goroutine 1's stack trace, then disconnect."""
    client.request("initialize", {"adapterID": "go", "linesStartAt1": True,
                                  "columnsStartAt1": True, "pathFormat": "path"}, timeout=60)
    client.request("launch", {"mode": "core", "program": str(binary),
                              "coreFilePath": str(core)}, timeout=120)
    client.wait_event("initialized", timeout=60)
    client.request("configurationDone", timeout=60)
    threads = client.request("threads", timeout=60)["body"]["threads"]
    assert any(t["id"] == 1 for t in threads), threads
    st = client.request("stackTrace", {"threadId": 1, "startFrame": 0, "levels": 50},
                        timeout=60)
    names = [f["name"] for f in st["body"]["stackFrames"]]
    assert "main.main" in names, names
    client.request("disconnect", {}, timeout=60)


def time_dapgo(binary: Path, core: Path, cache_dir: str) -> float:
    env = {**os.environ, "DAPGO_CACHE_DIR": cache_dir}
    t0 = time.perf_counter()
    with DAPClient.spawn_stdio(env=env) as c:
        session(c, binary, core)
        return time.perf_counter() - t0


def time_delve_dap(dlv: str, binary: Path, core: Path) -> float:
    t0 = time.perf_counter()
    with dlv_dap(dlv) as c:
        session(c, binary, core)
        return time.perf_counter() - t0


def time_delve_cli(dlv: str, binary: Path, core: Path) -> float:
    t0 = time.perf_counter()
    out = subprocess.run([dlv, "core", "--check-go-version=false",
                          "--allow-non-terminal-interactive=true", str(binary), str(core)],
                         input="goroutine 1 stack\n"
                         "exit\n", capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - t0
    assert "main.main" in out.stdout, out.stdout[-2000:] + out.stderr[-2000:]
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    dlv = shutil.which("dlv")
    for version, go in TOOLCHAINS.items():
        if not go.exists():
            print(f"Go {version}: not installed (run `make setup`)")
            continue
        binary = build_cmd_go(version, go)
        core = crash_core(binary, version)
        cold, warm, dap, cli = [], [], [], []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="dapgo-cache-") as cache:
                cold.append(time_dapgo(binary, core, cache))
                warm.append(time_dapgo(binary, core, cache))
            if dlv and version in DELVE_READS:
                dap.append(time_delve_dap(dlv, binary, core))
                cli.append(time_delve_cli(dlv, binary, core))
        c, w = statistics.median(cold), statistics.median(warm)
        print(f"cmd/go {version} ({binary.stat().st_size / 1e6:.1f} MB), core of "
              f"{core.stat().st_blocks * 512 / 1e6:.1f} MB on disk: adapter start -> "
              f"goroutine 1's stack, median of {args.runs} runs")
        print(f"  dapgo cold      : {c * 1000:8.1f} ms")
        print(f"  dapgo warm      : {w * 1000:8.1f} ms")
        if dap:
            d, k = statistics.median(dap), statistics.median(cli)
            print(f"  Delve dap       : {d * 1000:8.1f} ms   dapgo cold/Delve {c / d:.2f}, "
                  f"warm/Delve {w / d:.2f}")
            print(f"  Delve `dlv core`: {k * 1000:8.1f} ms   dapgo cold/dlv core {c / k:.2f}")
        elif version in DELVE_READS:
            print("  Delve           : not installed (dlv not on PATH); no ratio")
        else:
            print(f"  Delve           : 1.20.2 cannot read Go {version} builds; no ratio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
