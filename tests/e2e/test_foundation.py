"""End to end, over stdio and TCP: launch (exec, debug, test), attach and detach, line and
function breakpoints, stop on entry, pause, exit codes, output, and bad input.

Real dapgo processes, real Go programs (tests/fixtures, lines found by `// @markers`), real
ptrace. Nothing is mocked.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import fixtures
import pytest
from dapclient import DAPClient, DAPError
from procs import children

from .helpers import (
    TRANSPORTS,
    exit_code,
    frame_variables,
    initialize,
    launch,
    mark,
    output_text,
    proc_status,
    resume,
    session,
    set_line_breakpoints,
    start_busy,
    top_frame,
    wait_stopped,
)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_launch_exec_breakpoints_stack_variables_output_exit_code(transport: str) -> None:
    with session(transport) as c:
        launch(c, {"mode": "exec", "program": str(fixtures.build("basic")), "args": ["3"]})
        bps = set_line_breakpoints(c, "basic", "add_body", "main_end")
        assert [b["verified"] for b in bps] == [True, True]
        fbps = c.request("setFunctionBreakpoints", {"breakpoints": [
            {"name": "main.(*Point).Move"}, {"name": "main.doesNotExist"}]})["body"]
        assert fbps["breakpoints"][0]["verified"] is True
        assert fbps["breakpoints"][1]["verified"] is False
        assert "doesNotExist" in fbps["breakpoints"][1]["message"]
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "breakpoint", after=at)
        assert stop["hitBreakpointIds"] == [bps[0]["id"]]
        assert stop["allThreadsStopped"] is True
        thread_id = stop["threadId"]
        threads = c.request("threads")["body"]["threads"]
        assert any(t["id"] == thread_id and "main.add" in t["name"] for t in threads)

        st = c.request("stackTrace", {"threadId": thread_id})["body"]
        names = [f["name"] for f in st["stackFrames"]]
        assert names[:2] == ["main.add", "main.main"]
        assert st["totalFrames"] == len(st["stackFrames"])
        assert st["stackFrames"][0]["line"] == fixtures.line_of("basic", "add_body")[1]
        assert st["stackFrames"][1]["line"] == fixtures.line_of("basic", "loop_call")[1]
        assert st["stackFrames"][0]["source"]["path"] == fixtures.line_of("basic", "add_body")[0]
        paged = c.request("stackTrace", {"threadId": thread_id, "startFrame": 1,
                                         "levels": 1})["body"]
        assert [f["name"] for f in paged["stackFrames"]] == ["main.main"]
        assert paged["totalFrames"] == st["totalFrames"]

        variables = frame_variables(c, st["stackFrames"][0]["id"])
        assert variables["a"]["value"] == "0" and variables["a"]["type"] == "int"
        assert variables["b"]["value"] == "0"

        # the loop calls add three times: b is the loop index
        for i in (1, 2):
            stop = resume(c, thread_id=thread_id, reason="breakpoint")
            frame = top_frame(c, stop["threadId"])
            assert frame_variables(c, frame["id"])["b"]["value"] == str(i)

        stop = resume(c, thread_id=thread_id, reason="function breakpoint")
        assert top_frame(c, stop["threadId"])["name"] == "main.(*Point).Move"
        stop = resume(c, thread_id=thread_id, reason="breakpoint")
        frame = top_frame(c, stop["threadId"])
        assert frame["line"] == fixtures.line_of("basic", "main_end")[1]
        local = frame_variables(c, frame["id"])
        assert local["total"]["value"] == "3"
        assert local["msg"]["value"] == '"pt:6,2"'

        c.request("continue", {"threadId": thread_id})
        assert exit_code(c) == 3
        assert "basic: start\n" in output_text(c, "stdout")
        assert "basic: total 3 depth 4 hits 3\n" in output_text(c, "stdout")
        assert "basic: to stderr\n" in output_text(c, "stderr")
        assert not c.violations


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_launch_debug_mode_builds_and_exits_zero(transport: str) -> None:
    with session(transport) as c:
        launch(c, {"mode": "debug", "program": str(fixtures.FIXTURES / "exitcode"),
                   "args": ["0"]})
        set_line_breakpoints(c, "exitcode", "print_out")
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "breakpoint", after=at)
        assert top_frame(c, stop["threadId"])["name"] == "main.main"
        c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c) == 0
        assert "exitcode: out\n" in output_text(c, "stdout")
        assert "exitcode: err\n" in output_text(c, "stderr")


def test_launch_debug_mode_file_with_env_cwd_and_build_flags(tmp_path: os.PathLike[str]) -> None:
    with session("stdio") as c:
        launch(c, {"mode": "debug", "program": str(fixtures.FIXTURES / "exitcode" / "main.go"),
                   "args": ["7"], "cwd": str(tmp_path), "env": {"DAPGO_TEST": "1"},
                   "buildFlags": "-tags=dapgotest"})
        c.request("configurationDone")
        assert exit_code(c) == 7


def test_launch_test_mode_stops_in_the_package_under_test() -> None:
    with session("stdio") as c:
        launch(c, {"mode": "test", "program": str(fixtures.FIXTURES / "testpkg"),
                   "args": ["-test.v"]})
        set_line_breakpoints(c, "testpkg", "double_body")
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "breakpoint", after=at)
        st = c.request("stackTrace", {"threadId": stop["threadId"]})["body"]
        names = [f["name"] for f in st["stackFrames"]]
        assert names[0] == "example.com/testpkg.Double"
        assert names[1] == "example.com/testpkg.TestDouble"
        c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c) == 0
        assert "PASS" in output_text(c, "stdout")


def test_launch_build_failure_is_an_error(tmp_path: os.PathLike[str]) -> None:
    src = os.path.join(tmp_path, "main.go")
    with open(src, "w") as f:
        f.write("package main\n\nfunc main() { undefinedThing() }\n")
    with session("stdio") as c:
        initialize(c)
        resp = c.response(c.send("launch", {"mode": "debug", "program": src}), timeout=120)
        assert resp["success"] is False
        assert "undefinedThing" in resp["body"]["error"]["format"]
        initialize_again = c.response(c.send("threads"))
        assert initialize_again["success"] is True  # the session still serves


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_stop_on_entry(transport: str) -> None:
    with session(transport) as c:
        launch(c, {"mode": "exec", "program": str(fixtures.build("exitcode")), "args": ["5"],
                   "stopOnEntry": True})
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "entry", after=at)
        threads = c.request("threads")["body"]["threads"]
        assert stop["threadId"] in [t["id"] for t in threads]
        frame = top_frame(c, stop["threadId"])
        assert frame["name"].startswith("_rt0_amd64")
        c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c) == 5


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_pause_a_busy_program_and_set_breakpoints_while_running(transport: str) -> None:
    with session(transport) as c:
        launch(c, {"mode": "exec", "program": str(fixtures.build("busy"))})
        c.request("configurationDone")
        time.sleep(0.3)
        at = mark(c)
        c.request("pause", {"threadId": 1})
        stop = wait_stopped(c, "pause", after=at)
        assert c.request("threads")["body"]["threads"]
        assert c.request("stackTrace", {"threadId": stop["threadId"]})["body"]["stackFrames"]
        at = mark(c)
        c.request("continue", {"threadId": stop["threadId"]})
        time.sleep(0.2)
        # while it runs: the program is halted, the breakpoint set, and it runs on
        bps = set_line_breakpoints(c, "busy", "tick_body")
        assert bps[0]["verified"] is True
        stop = wait_stopped(c, "breakpoint", after=at)
        assert top_frame(c, stop["threadId"])["name"] == "main.tick"
        assert [e for e in c.events("stopped") if e["body"]["reason"] == "breakpoint"]
        c.request("disconnect", {"terminateDebuggee": True})


def test_unresolvable_lines_are_unverified_not_errors() -> None:
    with session("stdio") as c:
        launch(c, {"mode": "exec", "program": str(fixtures.build("basic")), "args": ["0"]})
        path, line = fixtures.line_of("basic", "add_body")
        body = c.request("setBreakpoints", {"source": {"path": path}, "breakpoints": [
            {"line": 1}, {"line": line}, {"line": 100000}]})["body"]
        verified = [b["verified"] for b in body["breakpoints"]]
        assert verified == [False, True, False]
        assert all(b.get("message") for b in body["breakpoints"] if not b["verified"])
        other = c.request("setBreakpoints", {"source": {"path": "/nowhere/x.go"},
                                             "breakpoints": [{"line": 3}]})["body"]
        assert other["breakpoints"][0]["verified"] is False
        assert "not found" in other["breakpoints"][0]["message"]
        c.request("disconnect", {})


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_attach_break_and_detach_leaves_the_program_running_untraced(transport: str) -> None:
    busy = start_busy()
    try:
        with session(transport) as c:
            initialize(c)
            c.request("attach", {"mode": "local", "processId": busy.pid}, timeout=60)
            c.wait_event("initialized")
            assert proc_status(busy.pid)["TracerPid"] != "0"
            set_line_breakpoints(c, "busy", "tick_body")
            at = mark(c)
            c.request("configurationDone")
            stop = wait_stopped(c, "breakpoint", after=at)
            assert top_frame(c, stop["threadId"])["name"] == "main.tick"
            c.request("disconnect", {})  # attached: detach, keep running
            c.wait_closed()
        time.sleep(0.3)
        assert busy.poll() is None
        for tid in os.listdir(f"/proc/{busy.pid}/task"):
            status = proc_status(int(tid)) if tid == str(busy.pid) else dict(
                line.split(":\t", 1) for line in
                open(f"/proc/{busy.pid}/task/{tid}/status").read().splitlines() if ":\t" in line)
            assert status["TracerPid"].strip() == "0"
            assert not status["State"].strip().startswith(("T", "t")), status["State"]
        # it really runs on: its CPU time grows
        def cpu() -> int:
            fields = open(f"/proc/{busy.pid}/stat").read().rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])
        before = cpu()
        time.sleep(0.5)
        assert cpu() > before
    finally:
        busy.kill()
        busy.wait()


def test_attach_errors_leave_nothing_traced() -> None:
    busy = start_busy()
    try:
        with session("stdio") as first, session("stdio") as second:
            initialize(first)
            first.request("attach", {"processId": busy.pid}, timeout=60)
            initialize(second)
            # already traced by the first session: not ours to take
            resp = second.response(second.send("attach", {"processId": busy.pid}))
            assert resp["success"] is False
            assert str(busy.pid) in resp["body"]["error"]["format"]
            # a PID that does not exist
            resp = second.response(second.send("attach", {"processId": 2**22 + 7}))
            assert resp["success"] is False
            assert "no process" in resp["body"]["error"]["format"]
            # a PID that is not a Go program
            sleeper = subprocess.Popen(["sleep", "30"])
            try:
                resp = second.response(second.send("attach", {"processId": sleeper.pid}))
                assert resp["success"] is False
                assert proc_status(sleeper.pid)["TracerPid"] == "0"
            finally:
                sleeper.kill()
                sleeper.wait()
            assert second.request("threads")["success"]  # still serving
            first.request("disconnect", {})
        time.sleep(0.2)
        assert proc_status(busy.pid)["TracerPid"] == "0"
        assert busy.poll() is None
    finally:
        busy.kill()
        busy.wait()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_bad_programs_get_error_responses(transport: str, tmp_path: os.PathLike[str]) -> None:
    text_file = os.path.join(tmp_path, "notes.txt")
    with open(text_file, "w") as f:
        f.write("not an ELF file\n")
    os.chmod(text_file, 0o755)
    no_dwarf = os.path.join(tmp_path, "nodwarf")
    subprocess.run([fixtures.go_binary(), "build", "-ldflags=-w", "-o", no_dwarf, "."],
                   cwd=fixtures.FIXTURES / "exitcode", check=True)
    with session(transport) as c:
        initialize(c)
        for program, words in ((text_file, "not an ELF"), (no_dwarf, "no DWARF"),
                               ("/does/not/exist", "not found")):
            resp = c.response(c.send("launch", {"mode": "exec", "program": program}))
            assert resp["success"] is False, resp
            assert words in resp["body"]["error"]["format"], resp
        # missing and mistyped arguments
        for args in ({"mode": "exec"}, {"mode": "exec", "program": 3},
                     {"mode": "warp", "program": "x"}, {"program": "x", "args": "notalist"}):
            resp = c.response(c.send("launch", args))
            assert resp["success"] is False, (args, resp)
        assert c.request("threads")["success"]
        assert not c.violations


def test_adapter_killed_takes_the_launched_program_with_it() -> None:
    c = DAPClient.spawn_stdio()
    try:
        launch(c, {"mode": "exec", "program": str(fixtures.build("busy"))})
        c.request("configurationDone")
        time.sleep(0.2)
        pid = _child_pid(c)
        c.proc.send_signal(signal.SIGKILL)  # type: ignore[attr-defined]
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{pid}") and proc_status(pid)["State"][0] != "Z":
            assert time.monotonic() < deadline, "the debuggee outlived a killed adapter"
            time.sleep(0.05)
    finally:
        c.close()


def _child_pid(c: DAPClient) -> int:
    kids = children(c.proc.pid)  # type: ignore[attr-defined]
    assert len(kids) == 1, kids
    return kids[0]


def test_error_when_stopped_only_requests_arrive_while_running() -> None:
    with session("stdio") as c:
        launch(c, {"mode": "exec", "program": str(fixtures.build("busy"))})
        c.request("configurationDone")
        resp = c.response(c.send("stackTrace", {"threadId": 1}))
        assert resp["success"] is False
        with pytest.raises(DAPError):
            c.request("scopes", {"frameId": 12345})
        assert c.request("threads")["success"]
        c.request("disconnect", {"terminateDebuggee": True})


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_logpoints_print_and_never_stop(transport: str) -> None:
    with session(transport) as c:
        launch(c, {"mode": "exec", "program": str(fixtures.build("basic")), "args": ["0"]})
        path, line = fixtures.line_of("basic", "add_body")
        bps = c.request("setBreakpoints", {"source": {"path": path}, "breakpoints": [
            {"line": line, "logMessage": "add a={a} b={b} {{literal}} bad={nosuch}"},
            {"line": fixtures.line_of("basic", "main_end")[1], "logMessage": "unclosed {a"},
        ]})["body"]["breakpoints"]
        assert bps[0]["verified"] is True
        assert bps[1]["verified"] is False and "never closed" in bps[1]["message"]
        c.request("configurationDone")
        assert exit_code(c) == 0
        assert not c.events("stopped")
        logs = [e["body"] for e in c.events("output") if e["body"].get("category") == "console"
                and "add a=" in e["body"]["output"]]
        assert [b["output"].split(" bad=")[0] for b in logs] == [
            f"[Go 1] add a={a} b={b} {{literal}}" for a, b in ((0, 0), (0, 1), (1, 2))]
        assert all("<error:" in b["output"] for b in logs)
        assert logs[0]["source"]["path"] == path and logs[0]["line"] == line


def test_launched_program_kept_running_with_terminate_debuggee_false() -> None:
    with session("tcp") as c:
        launch(c, {"mode": "exec", "program": str(fixtures.build("busy"))})
        c.request("configurationDone")
        time.sleep(0.2)
        pid = _child_pid_of_listener(c)
        c.request("disconnect", {"terminateDebuggee": False})
        c.wait_closed()
        time.sleep(0.5)
        try:
            status = proc_status(pid)
            assert status["State"][0] in "RS", status["State"]  # running, not stopped/zombie
            assert status["TracerPid"] == "0"
        finally:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5  # and it is reaped once it ends: no zombie
        while os.path.exists(f"/proc/{pid}"):
            assert time.monotonic() < deadline, proc_status(pid)["State"]
            time.sleep(0.05)


def _child_pid_of_listener(c: DAPClient) -> int:
    """The program a `dapgo --listen` session launched (the only Go child of the server)."""
    out = subprocess.run(["pgrep", "-f", str(fixtures.build("busy"))], capture_output=True,
                         text=True).stdout.split()
    assert len(out) == 1, out
    return int(out[0])


def test_two_sessions_in_one_server_debug_side_by_side() -> None:
    """Each session traces from its own thread; neither sees the other's events."""
    from dapclient import ListeningServer

    path, line = fixtures.line_of("basic", "add_body")
    with ListeningServer() as server, server.connect() as a, server.connect() as b:
        for c, code in ((a, "3"), (b, "4")):
            launch(c, {"mode": "exec", "program": str(fixtures.build("basic")), "args": [code]})
            c.request("setBreakpoints", {"source": {"path": path},
                                         "breakpoints": [{"line": line}]})
        marks = {id(c): mark(c) for c in (a, b)}
        a.request("configurationDone")
        b.request("configurationDone")
        for _ in range(3):  # three hits each, interleaved
            for c in (a, b):
                stop = wait_stopped(c, "breakpoint", after=marks[id(c)])
                assert top_frame(c, stop["threadId"])["name"] == "main.add"
                marks[id(c)] = mark(c)
                c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(a) == 3
        assert exit_code(b) == 4


def test_disconnect_during_a_build_cancels_it(tmp_path: os.PathLike[str]) -> None:
    """An empty GOCACHE makes the build take seconds; disconnect kills it and its compilers,
    and the temporary build directory goes with it."""
    build_tmp = os.path.join(tmp_path, "tmp")
    os.mkdir(build_tmp)
    env = {**os.environ, "GOCACHE": os.path.join(tmp_path, "gocache"), "TMPDIR": build_tmp}
    with DAPClient.spawn_stdio(env=env) as c:
        initialize(c)
        c.send("launch", {"mode": "debug", "program": str(fixtures.FIXTURES / "busy")})
        time.sleep(1.0)
        builds = subprocess.run(["pgrep", "-f", f"GOCACHE|{tmp_path}"], capture_output=True,
                                text=True).stdout
        c.request("disconnect", {"terminateDebuggee": True})
        c.wait_closed()
    deadline = time.monotonic() + 10
    while True:
        left = [p for p in os.listdir(build_tmp) if p.startswith("dapgo-build-")]
        running = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True,
                                 text=True).stdout.split()
        if not left and not running:
            break
        assert time.monotonic() < deadline, (left, running, builds)
        time.sleep(0.1)


def test_vscode_go_default_mode_auto() -> None:
    with session("stdio") as c:
        launch(c, {"mode": "auto", "program": str(fixtures.FIXTURES / "testpkg" / "calc_test.go")})
        c.request("configurationDone")
        assert exit_code(c) == 0
        assert "PASS" in output_text(c, "stdout")
    with session("stdio") as c:
        launch(c, {"mode": "auto", "program": str(fixtures.FIXTURES / "exitcode"), "args": ["6"]})
        c.request("configurationDone")
        assert exit_code(c) == 6


def test_launch_attributes_take_effect(tmp_path: os.PathLike[str]) -> None:
    """env (null removes), envFile, cwd, buildFlags and args reach the program as in
    vscode-go (env wins over envFile)."""
    env_file = os.path.join(tmp_path, "dev.env")
    with open(env_file, "w") as f:
        f.write("# comment\nexport DAPGO_A='from file'\nDAPGO_B=\"file b\"\n")
    os.environ["DAPGO_REMOVED"] = "yes"  # inherited by dapgo: removed by env null
    try:
        with session("stdio") as c:
            launch(c, {"mode": "debug", "program": str(fixtures.FIXTURES / "envprint"),
                       "envFile": env_file, "env": {"DAPGO_B": "from env",
                                                    "DAPGO_REMOVED": None},
                       "cwd": str(tmp_path), "buildFlags": "-tags=dapgotag",
                       "args": ["x", "y z"]})
            c.request("configurationDone")
            assert exit_code(c) == 0
            out = output_text(c, "stdout")
    finally:
        del os.environ["DAPGO_REMOVED"]
    assert (f"envprint: A=from file B=from env removed=false cwd={tmp_path} tag=dapgotag "
            "args=[x y z]") in out, out
    with session("stdio") as c:
        initialize(c)
        resp = c.response(c.send("launch", {"mode": "debug", "program": ".",
                                            "envFile": "/no/such.env"}))
        assert resp["success"] is False and "envFile" in resp["body"]["error"]["format"]
