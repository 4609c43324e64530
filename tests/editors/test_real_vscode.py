"""The real VS Code drives dapgo: code-server 4.139.1 (VS Code 1.139.1) in Debian's chromium.

code-server (npm, built with Node 24) installs the built editors/vscode/dapgo.vsix and opens
a workspace holding the Go fixture `editors` and a launch.json with the extension's "Launch
package", "Launch file", "Attach to process" (${command:pickProcess}) and "Connect to
server" entries. dapgo.path is set in the User settings, where users set it: the extension
host's PATH (the login shell's) has no dapgo. vscode_ui/drive.js (npm playwright-core, no
browser downloaded) sets a breakpoint with F9, starts the entry, waits for the stopped
frame, reads Locals, evaluates in the Debug Console and continues to the exit. The "Launch
package" session also adds metric points with "Debug: Add Logpoint..." (`{#latency by
team}`, `{#count by team}` typed into the breakpoint widget) and types `dapgo metrics` and
`dapgo metrics -hist` into the Debug Console at the stop: exact counts per pprof label
value, each 20 ms sleep in its log2 bucket. Screenshots of every step and of a failure:
build/editor-artefacts/vscode/<entry>/ (gitignored).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fixtures
import pytest
from dapclient import DAPGO
from metrictables import check_teams

from .realeditors import (
    ARTEFACTS,
    CHROMIUM,
    CODE_SERVER,
    NODE_DIR,
    ROOT,
    UI_DIR,
    VSIX,
    free_port,
    listening,
    missing_install,
    vscode_missing,
)

FIXTURE = "editors"
# the configuration whose session also sets metric points and reads `dapgo metrics` back
METRICS_CONFIG = "Launch package"
EXIT_CODE = 7
EXTENSION_SOURCES = [ROOT / "editors" / "vscode" / "package.json",
                     *sorted((ROOT / "editors" / "vscode" / "src").glob("*.ts"))]


def _wait_listening(port: int, proc: subprocess.Popen[bytes], what: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not listening(port):
        assert proc.poll() is None, f"{what} exited with {proc.returncode}"
        assert time.monotonic() < deadline, f"{what} did not listen on {port} in {seconds} s"
        time.sleep(0.2)


def _node_env() -> dict[str, str]:
    """Node 24 first on PATH, and a PATH without the project's venv: as in a code-server
    window, whose extension host has the login shell's PATH, dapgo is not on it."""
    venv_bin = str(Path(DAPGO).parent)
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != venv_bin]
    env = {**os.environ, "PATH": os.pathsep.join([str(NODE_DIR / "bin"), *path])}
    env.pop("VIRTUAL_ENV", None)
    return env


@pytest.fixture(scope="module")
def code_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """code-server with the built .vsix installed, serving a workspace with the fixture."""
    missing = vscode_missing()
    if missing:
        missing_install("the real VS Code is not installed: " + "; ".join(missing))
    if not VSIX.exists() or any(VSIX.stat().st_mtime < f.stat().st_mtime
                                for f in EXTENSION_SOURCES):
        missing_install(f"{VSIX} is missing or older than the extension's sources: run `make vsix`")
    tmp = tmp_path_factory.mktemp("code-server")
    data, exts, ws = tmp / "data", tmp / "extensions", tmp / "workspace"
    env = _node_env()
    cs = [str(CODE_SERVER), "--config", str(tmp / "config.yaml"), "--user-data-dir", str(data),
          "--extensions-dir", str(exts)]
    installed = subprocess.run([*cs, "--install-extension", str(VSIX)], env=env,
                               capture_output=True, text=True, timeout=180)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    # dapgo.path where a user sets it: the User settings
    (data / "User").mkdir(parents=True, exist_ok=True)
    (data / "User" / "settings.json").write_text(json.dumps({
        "dapgo.path": DAPGO,
        "workbench.startupEditor": "none",
        "security.workspace.trust.enabled": False,
        "debug.openDebug": "openOnDebugBreak",
        "debug.internalConsoleOptions": "openOnSessionStart",
        "extensions.ignoreRecommendations": True,
        "telemetry.telemetryLevel": "off",
        "chat.disableAIFeatures": True,
        "extensions.autoCheckUpdates": False,
        "extensions.autoUpdate": False,
        "update.mode": "none",
        "workbench.secondarySideBar.defaultVisibility": "hidden",
    }, indent=1))
    shutil.copytree(fixtures.FIXTURES / FIXTURE, ws)
    port = free_port()
    server_port = free_port()
    (ws / ".vscode").mkdir()
    (ws / ".vscode" / "launch.json").write_text(json.dumps({"version": "0.2.0", "configurations": [
        {"name": "Launch package", "type": "dapgo", "request": "launch", "mode": "debug",
         "program": "${workspaceFolder}"},
        {"name": "Launch file", "type": "dapgo", "request": "launch", "mode": "debug",
         "program": "${file}"},
        # the attached binary was built from the fixture's own folder, not this copy: the
        # editor's paths are mapped to the binary's (dapgo never matches by base name)
        {"name": "Attach to process", "type": "dapgo", "request": "attach", "mode": "local",
         "processId": "${command:pickProcess}",
         "substitutePath": [{"from": "${workspaceFolder}",
                             "to": str(fixtures.FIXTURES / FIXTURE)}]},
        {"name": "Connect to server", "type": "dapgo", "request": "launch", "mode": "debug",
         "program": "${workspaceFolder}", "host": "127.0.0.1", "port": server_port},
    ]}, indent=1))
    log = (tmp / "code-server.log").open("wb")
    proc = subprocess.Popen([*cs, "--auth", "none", "--bind-addr", f"127.0.0.1:{port}",
                             "--disable-telemetry", "--disable-update-check",
                             "--disable-workspace-trust", "--disable-getting-started-override",
                             str(ws)],
                            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        _wait_listening(port, proc, "code-server", 60)
        yield {"url": f"http://127.0.0.1:{port}/?folder={ws}", "workspace": ws,
               "server_port": server_port, "env": env, "log": tmp / "code-server.log"}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def drive(cs: dict[str, Any], config: str, **extra: Any) -> dict[str, Any]:
    """Run vscode_ui/drive.js on one launch.json entry; returns what the page showed."""
    _, line = fixtures.line_of(FIXTURE, "work_body")
    shots = ARTEFACTS / "vscode" / config.lower().replace(" ", "-")
    shutil.rmtree(shots, ignore_errors=True)
    args = {"url": cs["url"], "config": config, "file": "main.go", "line": line,
            "local": "scaled", "evaluate": "scaled * 2", "shots": str(shots),
            "chromium": str(CHROMIUM),
            "stopTimeout": int(os.environ.get("DAPGO_STOP_TIMEOUT_MS", "120000")), **extra}
    node = str(NODE_DIR / "bin" / "node")
    proc = subprocess.run([node, str(UI_DIR / "drive.js"), json.dumps(args)],
                          env=cs["env"], capture_output=True, text=True, timeout=280,
                          stdin=subprocess.DEVNULL)
    lines = proc.stdout.strip().splitlines()
    assert lines, f"drive.js printed nothing: rc={proc.returncode} {proc.stderr}"
    seen: dict[str, Any] = json.loads(lines[-1])
    (shots / "seen.json").write_text(json.dumps(seen, indent=1))  # beside the screenshots
    if "error" in seen:
        tail = cs["log"].read_text(errors="replace")[-2000:]
        pytest.fail(f"{config}: {seen['error']}\nsaw: {json.dumps(seen, indent=1)}\n"
                    f"screenshots: {shots}\ncode-server log (tail): {tail}")
    return seen


def check(seen: dict[str, Any], *, launched: bool) -> None:
    """The stopped frame, the local, the evaluation and the end of the session."""
    _, line = fixtures.line_of(FIXTURE, "work_body")
    # the call stack's top frame, e.g. "main.work main.go 16:1"
    assert seen["frame"].startswith(f"main.work main.go {line}:"), seen["frame"]
    scaled = int(seen["local"]["value"])
    assert (scaled - 2) % 10 == 0, seen["local"]
    assert seen["evaluate"] == str(scaled * 2), seen
    if launched:
        assert scaled == 2, seen["local"]  # the first call stops
        assert "editors: total 39" in seen["console"], seen["console"]


def _pid_gone(console: str) -> None:
    pid = int(console.split("editors: pid", 1)[1].split()[0])
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists():
        stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}/stat").exists() else ""
        if ") Z " in stat:
            break
        assert time.monotonic() < deadline, f"the debuggee {pid} still runs"
        time.sleep(0.1)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("config", ["Launch package", "Launch file"])
def test_real_vscode_launch(code_server: dict[str, Any], config: str) -> None:
    fixtures.build(FIXTURE)  # warm the Go build cache
    if config != METRICS_CONFIG:
        seen = drive(code_server, config)
    else:  # the same session, with metric points beside the breakpoint
        serve = fixtures.line_of(FIXTURE, "serve_body")[1]
        call = fixtures.line_of(FIXTURE, "serve_call")[1]
        seen = drive(code_server, config,
                     logpoints=[{"line": serve, "message": "{#latency by team}"},
                                {"line": call, "message": "{#count by team}"}],
                     commands=["dapgo metrics", "dapgo metrics -hist"])
        # what the breakpoint widget held when Enter was pressed
        assert seen["logpointInputs"] == ["{#latency by team}", "{#count by team}"], seen
        check_teams(seen["commands"]["dapgo metrics"], seen["commands"]["dapgo metrics -hist"],
                    latency=f"main.go:{serve} latency", count=f"main.go:{call} count")
    check(seen, launched=True)
    _pid_gone(seen.get("consoleBefore", "") + seen["console"])


@pytest.mark.timeout(300)
def test_real_vscode_attach(code_server: dict[str, Any], tmp_path: Path) -> None:
    stop = tmp_path / "stop"
    prog = subprocess.Popen([str(fixtures.build(FIXTURE)), str(stop)], stdout=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    try:
        assert prog.stdout is not None
        assert prog.stdout.readline().startswith(b"editors: pid")
        seen = drive(code_server, "Attach to process", pid=prog.pid, stopFile=str(stop))
        assert prog.wait(timeout=30) == EXIT_CODE  # ran on to its own exit after detach
    finally:
        if prog.poll() is None:
            prog.kill()
            prog.wait()
    check(seen, launched=False)


@pytest.mark.timeout(300)
def test_real_vscode_connect_to_server(code_server: dict[str, Any]) -> None:
    port = code_server["server_port"]
    server = subprocess.Popen([DAPGO, "--listen", f"127.0.0.1:{port}"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_listening(port, server, "dapgo --listen", 20)
        seen = drive(code_server, "Connect to server")
        check(seen, launched=True)
        _pid_gone(seen["console"])
        assert server.poll() is None  # the server the user started serves on
    finally:
        server.send_signal(signal.SIGTERM)
        rc = server.wait(timeout=20)
    assert rc == 0, server.stderr.read() if server.stderr else ""
