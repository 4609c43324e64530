"""editors/nvim: the Lua module for nvim-dap builds adapters that start a working dapgo.

The module is loaded by `nvim --headless` (Debian's neovim; nvim-dap itself is replaced by a
stand-in `dap` module that records what setup() registers), or, where Neovim is missing, by
LuaJIT/Lua 5.1. The server adapter's `${port}` is substituted as nvim-dap does, that exact
command line is started, and a DAP session runs over TCP on the Go fixture `basic`. The
executable (stdio) adapter's command line is started and serves a session over stdio.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import fixtures
import procs
import pytest
from dapclient import DAPGO, DAPClient

ROOT = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).with_name("nvim_harness.lua")
NVIM_DIR = ROOT / "editors" / "nvim"
FIXTURE = "basic"


def _runner(kind: str) -> list[str] | None:
    if kind == "nvim":
        nvim = shutil.which("nvim")
        if nvim is None:
            return None
        return [nvim, "--headless", "-u", "NONE", "-i", "NONE", "-n",
                "--cmd", f"set runtimepath^={NVIM_DIR}",
                "-c", f"luafile {HARNESS}", "-c", "qa!"]
    for lua in ("luajit", "lua5.1", "lua"):
        path = shutil.which(lua)
        if path:
            return [path, str(HARNESS)]
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module", params=["nvim", "lua"])
def registered(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What setup() registers, loaded by headless Neovim, and by plain LuaJIT/Lua 5.1."""
    cmd = _runner(request.param)
    if cmd is None:
        what = "nvim" if request.param == "nvim" else "luajit/lua5.1"
        pytest.skip(f"{what} is not installed (apt-get install neovim luajit)")
    out = tmp_path_factory.mktemp("nvim") / "registered.json"
    env = {**os.environ, "DAPGO_HARNESS_OUT": str(out), "DAPGO_REPO": str(ROOT),
           "DAPGO_PATH": DAPGO, "DAPGO_FREE_PORT": str(_free_port())}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert out.exists(), f"harness wrote nothing: rc={proc.returncode} {proc.stdout} {proc.stderr}"
    result: dict[str, Any] = json.loads(out.read_text())
    assert "error" not in result, result.get("error")
    assert (result["runtime"] == "nvim") == (request.param == "nvim")
    return result


def test_setup_registers_adapters_and_configurations(registered: dict[str, Any]) -> None:
    assert registered["module_file"].endswith("editors/nvim/lua/dapgo/init.lua")
    assert registered["adapter_names"] == ["dapgo", "dapgo-stdio", "dapgo-tcp"]
    names = [c["name"] for c in registered["configurations"]]
    # others' entries are kept, earlier dapgo ones replaced, a second setup() adds no copies
    assert names == ["Delve: keep me", "dapgo: Launch file", "dapgo: Launch package",
                     "dapgo: Launch test package", "dapgo: Attach to process",
                     "dapgo: Connect to server"]
    by = {c["name"]: c for c in registered["configurations"]}
    assert by["dapgo: Launch file"]["program"] == "${file}"
    assert by["dapgo: Launch package"]["program"] == "${fileDirname}"
    assert by["dapgo: Launch test package"]["mode"] == "test"
    assert by["dapgo: Attach to process"]["processId"] == "<function>"
    assert by["dapgo: Attach to process"]["mode"] == "local"
    if registered["runtime"] == "nvim":  # the module's /proc picker through vim.ui.select
        assert registered["picked"] == 1 and registered["pick_items"] > 1
        assert registered["attach_pid"] == registered["pick_expected"]
        assert registered["pick_label"].startswith(f"{registered['attach_pid']}  ")
    for c in registered["configurations"][1:]:
        assert c["type"] == "dapgo" and c["hideSystemGoroutines"] is True
    assert registered["connect_adapter"] == {"type": "server", "host": "127.0.0.1", "port": 4711,
                                             "options": {"initialize_timeout_sec": 120}}
    assert registered["bad_transport"] is True


def test_server_adapter_uses_nvim_dap_port_form(registered: dict[str, Any]) -> None:
    a = registered["tcp_adapter"]
    assert a == registered["server_adapter"]
    assert a["type"] == "server" and a["port"] == "${port}"
    assert a["executable"]["command"] == DAPGO
    assert a["executable"]["args"] == ["--listen", "127.0.0.1:${port}"]
    s = registered["tcp_adapter_substituted"]
    assert isinstance(s["port"], int)
    assert s["executable"]["args"] == ["--listen", f"127.0.0.1:{s['port']}"]


def _connect(host: str, port: int, proc: subprocess.Popen[bytes]) -> DAPClient:
    """Connect as nvim-dap does: retry while the freshly started server comes up."""
    deadline = time.monotonic() + 15
    while True:
        try:
            return DAPClient.connect(host, port)
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _session(c: DAPClient, launch: dict[str, Any]) -> None:
    """initialize, launch, breakpoint hit, stack, variables, continue, exit code, output."""
    path, line = fixtures.line_of(FIXTURE, "add_body")
    caps = c.request("initialize", {"adapterID": "dapgo", "clientID": "neovim",
                                    "linesStartAt1": True, "columnsStartAt1": True,
                                    "pathFormat": "path"})["body"]
    assert caps["supportsConfigurationDoneRequest"] is True
    c.request("launch", launch, timeout=120)
    c.wait_event("initialized")
    bps = c.request("setBreakpoints", {"source": {"path": path},
                                       "breakpoints": [{"line": line}]})["body"]["breakpoints"]
    assert bps[0]["verified"] is True
    c.request("configurationDone")
    stopped = c.wait_event("stopped", lambda b: b["reason"] == "breakpoint", timeout=30)["body"]
    frames = c.request("stackTrace", {"threadId": stopped["threadId"]})["body"]["stackFrames"]
    assert frames[0]["name"] == "main.add" and frames[0]["line"] == line
    scopes = c.request("scopes", {"frameId": frames[0]["id"]})["body"]["scopes"]
    args = c.request("variables", {"variablesReference": scopes[0]["variablesReference"]})
    assert {v["name"] for v in args["body"]["variables"]} >= {"a", "b"}
    c.request("setBreakpoints", {"source": {"path": path}, "breakpoints": []})
    c.request("continue", {"threadId": stopped["threadId"]})
    assert c.wait_event("exited", timeout=30)["body"]["exitCode"] == 3
    c.wait_event("terminated")
    out = "".join(e["body"]["output"] for e in c.events("output")
                  if e["body"].get("category") == "stdout")
    assert out.startswith("basic: start\n")
    c.request("disconnect", {})
    assert not c.violations


def _launch_args(registered: dict[str, Any]) -> dict[str, Any]:
    """The module's "Launch package" configuration as nvim-dap sends it (variables expanded)."""
    cfg = next(c for c in registered["configurations"] if c["name"] == "dapgo: Launch package")
    expanded = {k: v for k, v in cfg.items()}
    expanded["program"] = str(fixtures.FIXTURES / FIXTURE)  # ${fileDirname} of main.go
    expanded["args"] = ["3"]
    return expanded


def test_server_adapter_command_serves_a_dap_session(registered: dict[str, Any]) -> None:
    a = registered["tcp_adapter_substituted"]
    argv = [a["executable"]["command"], *a["executable"]["args"]]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        with _connect(a.get("host", "127.0.0.1"), a["port"], proc) as c:
            _session(c, _launch_args(registered))
    finally:
        procs.stop(proc)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""


def test_executable_adapter_command_serves_a_dap_session(registered: dict[str, Any]) -> None:
    a = registered["stdio_adapter"]
    assert a["type"] == "executable" and a["command"] == DAPGO
    assert a["args"] == ["--log-level", "WARNING"]
    assert registered["stdio_adapter_registered"]["type"] == "executable"
    with DAPClient.spawn_stdio(*a["args"]) as c:
        assert c.proc is not None and c.proc.args[0] == a["command"]
        _session(c, _launch_args(registered))
