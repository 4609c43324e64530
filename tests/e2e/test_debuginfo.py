"""End to end: a stripped Go binary (`objcopy --only-keep-debug` / `--strip-debug`) debugged
with its separate debug file, found by GNU build id under a debug directory, by
.gnu_debuglink, and downloaded from a real debuginfod server (elfutils' `debuginfod`, run
on 127.0.0.1 by the test, serving a directory of .debug files); and a kernel core of the
stripped binary opened the same way.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import fixtures
import procs
import pytest
from corefiles import kernel_core
from dapclient import DAPClient, DAPError

from .helpers import frame_variables, initialize, mark, wait_stopped

Message = dict[str, Any]
GO_VERSIONS = [None, "1.21.13"]
DEBUGINFOD = shutil.which("debuginfod")


@attrs.frozen
class Stripped:
    full: Path  # as built, with DWARF
    debug: Path  # objcopy --only-keep-debug
    stripped: Path  # objcopy --strip-debug
    linked: Path  # the same with --add-gnu-debuglink=<debug>, in its own directory
    build_id: str


def build_stripped(out: Path, go: str | None, salt: str) -> Stripped:
    """The crash fixture built with a GNU build id (-B), then split as distributions do."""
    out.mkdir(parents=True, exist_ok=True)
    build_id = hashlib.sha1(f"{salt} {go} {time.time_ns()}".encode()).hexdigest()
    full = out / "crash"
    subprocess.run([fixtures.go_binary(go), "build", *fixtures.DEBUG_FLAGS,
                    f"-ldflags=-B 0x{build_id}", "-o", str(full), "."],
                   cwd=fixtures.FIXTURES / "crash", check=True,
                   env={**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"})
    debug = out / "crash.debug"
    subprocess.run(["objcopy", "--only-keep-debug", str(full), str(debug)], check=True)
    stripped = out / "crash.stripped"
    subprocess.run(["objcopy", "--strip-debug", str(full), str(stripped)], check=True)
    (out / "linked").mkdir()
    linked = out / "linked" / "crash"
    shutil.copy(debug, out / "linked" / "crash.debug")
    subprocess.run(["objcopy", "--strip-debug", "--add-gnu-debuglink=crash.debug", str(full),
                    str(linked)], cwd=out / "linked", check=True)
    return Stripped(full, debug, stripped, linked, build_id)


def has_dwarf(path: Path) -> bool:
    out = subprocess.run(["readelf", "-S", "-W", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return ".debug_info" in out


def stop_at_checkpoint(c: DAPClient, launch_args: Message) -> dict[str, str]:
    """Launch, stop at @checkpoint, return main.process's values; the program is killed."""
    c.request("launch", launch_args, timeout=120)
    c.wait_event("initialized")
    path, line = fixtures.line_of("crash", "checkpoint")
    bps = c.request("setBreakpoints", {"source": {"path": path},
                                       "breakpoints": [{"line": line}]})["body"]
    assert bps["breakpoints"][0]["verified"], bps
    at = mark(c)
    c.request("configurationDone")
    stop = wait_stopped(c, "breakpoint", after=at)
    frames = c.request("stackTrace", {"threadId": stop["threadId"]})["body"]["stackFrames"]
    assert [(f["name"], f["line"]) for f in frames[:2]] == [
        ("main.checkpoint", line), ("main.process", fixtures.line_of("crash", "panic")[1] - 5)]
    values = {k: v["value"] for k, v in frame_variables(c, frames[1]["id"]).items()}
    c.request("disconnect")
    return values


EXPECTED = {"label": '"order-7"', "total": "30", "how": '""'}


def no_system_debug(tmp_path: Path) -> dict[str, str]:
    """An environment where nothing is found unless the test puts it there."""
    empty = tmp_path / "no-debug-here"
    empty.mkdir(exist_ok=True)
    env = {**os.environ, "DAPGO_DEBUG_INFO_DIRS": str(empty),
           "DEBUGINFOD_CACHE_PATH": str(tmp_path / "debuginfod-cache")}
    env.pop("DEBUGINFOD_URLS", None)
    return env


@pytest.mark.parametrize("go", GO_VERSIONS, ids=lambda v: v or "1.27.3")
def test_local_build_id_directory_and_debuglink(go: str | None, tmp_path: Path) -> None:
    b = build_stripped(tmp_path / "bin", go, "local")
    assert not has_dwarf(b.stripped) and not has_dwarf(b.linked) and has_dwarf(b.debug)
    root = tmp_path / "debugroot"
    by_id = root / ".build-id" / b.build_id[:2] / (b.build_id[2:] + ".debug")
    by_id.parent.mkdir(parents=True)
    shutil.copy(b.debug, by_id)
    env = no_system_debug(tmp_path)
    # by build id, under a directory named in the launch
    with DAPClient.spawn_stdio(env=env) as c:
        initialize(c)
        values = stop_at_checkpoint(c, {"mode": "exec", "program": str(b.stripped),
                                        "debugInfoDirectories": [str(root)]})
        assert {k: values[k] for k in EXPECTED} == EXPECTED
        console = "".join(e["body"]["output"] for e in c.events("output"))
        assert f"read from {by_id}" in console
    # ... or in $DAPGO_DEBUG_INFO_DIRS
    with DAPClient.spawn_stdio(env={**env, "DAPGO_DEBUG_INFO_DIRS": str(root)}) as c:
        initialize(c)
        values = stop_at_checkpoint(c, {"mode": "exec", "program": str(b.stripped)})
        assert {k: values[k] for k in EXPECTED} == EXPECTED
    # by .gnu_debuglink, next to the binary
    with DAPClient.spawn_stdio(env=env) as c:
        initialize(c)
        values = stop_at_checkpoint(c, {"mode": "exec", "program": str(b.linked)})
        assert {k: values[k] for k in EXPECTED} == EXPECTED
    # nowhere: a clear error saying where dapgo looked
    with DAPClient.spawn_stdio(env=env) as c:
        initialize(c)
        with pytest.raises(DAPError, match="no separate debug file was found") as err:
            c.request("launch", {"mode": "exec", "program": str(b.stripped)})
        assert str(tmp_path / "no-debug-here" / ".build-id" / b.build_id[:2]) in str(err.value)
        c.request("disconnect")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def debuginfod(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real debuginfod server on 127.0.0.1 serving the .debug files put in its directory:
    (its URL, the directory)."""
    if DEBUGINFOD is None:
        pytest.fail("elfutils' debuginfod is not installed: run `make setup`")
    served = tmp_path / "served"
    served.mkdir()
    port = free_port()
    log = open(tmp_path / "debuginfod.log", "wb")
    proc = subprocess.Popen([DEBUGINFOD, "-F", "-p", str(port), "-d",
                             str(tmp_path / "debuginfod.sqlite"), "-t", "1", "-g", "0",
                             str(served)], stdout=log, stderr=subprocess.STDOUT)
    try:
        yield f"http://127.0.0.1:{port}", served
    finally:
        procs.stop(proc)
        log.close()


def wait_served(url: str, build_id: str, timeout: float = 30) -> None:
    """Until the server has scanned the file of `build_id`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/buildid/{build_id}/debuginfo", timeout=5):
                return
        except (urllib.error.URLError, ConnectionError):
            assert time.monotonic() < deadline, f"debuginfod never served {build_id}"
            time.sleep(0.2)


@pytest.mark.parametrize("go", GO_VERSIONS, ids=lambda v: v or "1.27.3")
def test_debuginfod_server(go: str | None, tmp_path: Path,
                           debuginfod: tuple[str, Path]) -> None:
    url, served = debuginfod
    b = build_stripped(tmp_path / "bin", go, "debuginfod")
    other = build_stripped(tmp_path / "other", go, "not served")
    shutil.copy(b.debug, served / "crash.debug")
    wait_served(url, b.build_id)
    env = {**no_system_debug(tmp_path), "DEBUGINFOD_URLS": url}
    cache = Path(env["DEBUGINFOD_CACHE_PATH"])
    with DAPClient.spawn_stdio(env=env) as c:
        c.request("initialize", {"adapterID": "go", "supportsProgressReporting": True})
        values = stop_at_checkpoint(c, {"mode": "exec", "program": str(b.stripped)})
        assert {k: values[k] for k in EXPECTED} == EXPECTED
        start = c.events("progressStart")
        assert len(start) == 1 and b.build_id in start[0]["body"]["message"], start
        # while the launch request is being handled, not after its response
        launched = next(i for i, m in enumerate(c.messages) if m.get("command") == "launch")
        assert c.messages.index(start[0]) < launched
        ends = c.events("progressEnd")
        assert [e["body"]["progressId"] for e in ends] == [start[0]["body"]["progressId"]]
    cached = cache / b.build_id / "debuginfo"
    assert cached.read_bytes() == b.debug.read_bytes()
    # a server without it: a clear error naming the server and the build id
    with DAPClient.spawn_stdio(env=env) as c:
        initialize(c)
        with pytest.raises(DAPError, match=f"{url} has no debug info for build id "
                                           f"{other.build_id} \\(HTTP 404\\)"):
            c.request("launch", {"mode": "exec", "program": str(other.stripped)})
        c.request("disconnect")
    # the production story: the stripped binary crashed; its core opens with the debug
    # info downloaded before (the cache by build id; the served file is gone)
    (served / "crash.debug").unlink()
    core, _ = kernel_core([str(b.stripped)], tmp_path / "crashed")
    with DAPClient.spawn_stdio(env=env) as c:
        initialize(c)
        c.request("launch", {"mode": "core", "program": str(b.stripped),
                             "coreFilePath": str(core)})
        c.wait_event("initialized")
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "exception", after=at)
        assert stop["description"] == "panic: bad order 7: order-7 (SIGABRT)"
        frames = c.request("stackTrace", {"threadId": stop["threadId"]})["body"]["stackFrames"]
        process = next(f for f in frames if f["name"] == "main.process")
        assert frame_variables(c, process["id"])["label"]["value"] == '"order-7"'
        c.request("disconnect")
