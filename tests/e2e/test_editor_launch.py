"""End to end, over stdio and TCP, what an editor user clicks around a launch: build flags
quoted once as a shell would, Run Without Debugging (noDebug), a program reading stdin
from the user's terminal (runInTerminal), progress during a build, the Go toolchain named,
restart.

Real dapgo processes, real `go build`, the real tests/fixtures/editor program.
"""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import time

import fixtures
import pytest
from dapclient import DAPGO, DAPClient

from .helpers import (
    TRANSPORTS,
    Message,
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
    top_frame,
    wait_stopped,
)

EDITOR = str(fixtures.FIXTURES / "editor")


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("flags", [
    "-ldflags='-X main.Version=1.2 -X \"main.Version=1.2 beta\"'",
    ["-ldflags=-X main.Version=1.2 -X 'main.Version=1.2 beta'"],
])
def test_build_flags_are_quoted_once_as_a_shell_would(transport: str,
                                                      flags: str | list[str]) -> None:
    with session(transport) as c:
        launch(c, {"mode": "debug", "program": EDITOR, "buildFlags": flags, "args": ["x", "4"]})
        c.request("configurationDone")
        assert exit_code(c) == 4
        assert "editor: version 1.2 beta\n" in output_text(c, "stdout")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_no_debug_builds_runs_forwards_output_and_exit_code(transport: str) -> None:
    with session(transport) as c:
        launch_no_debug(c, {"mode": "debug", "program": EDITOR, "noDebug": True,
                            "args": ["plain", "5"]})
        process = c.wait_event("process")["body"]
        assert process["startMethod"] == "launch" and process["systemProcessId"] > 0
        assert process["name"].endswith("__debug_bin")
        assert exit_code(c) == 5
        out = output_text(c, "stdout")
        assert "editor: version dev\n" in out and "editor: secret 1042\n" in out
        assert not c.events("initialized")  # nothing to configure: Delve sends none either
    with session(transport) as c:
        launch_no_debug(c, {"mode": "exec", "program": str(fixtures.build("busy")),
                            "noDebug": True})
        pid = c.wait_event("process")["body"]["systemProcessId"]
        c.wait_for(lambda m: "busy: pid" in m.get("body", {}).get("output", ""))
        assert proc_status(pid)["TracerPid"] == "0"
        c.request("terminate")
        assert exit_code(c) == 128 + signal.SIGKILL


def launch_no_debug(c: DAPClient, args: Message) -> None:
    initialize(c)
    c.request("launch", args, timeout=120)


class Terminal:
    """What an editor does for runInTerminal: runs the command on a new pseudo-terminal
    (as nvim-dap's terminal and VS Code's integrated one do) and answers with its pid."""

    def __init__(self, c: DAPClient) -> None:
        self.master, slave = pty.openpty()
        request = c.wait_for(lambda m: m.get("type") == "request"
                             and m.get("command") == "runInTerminal", timeout=120)
        args = request["arguments"]
        self.request = args
        env = dict(os.environ)
        for k, v in args.get("env", {}).items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        self.proc = subprocess.Popen(args["args"], cwd=args["cwd"], env=env, stdin=slave,
                                     stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        c.send_message({"seq": 10_000, "type": "response", "request_seq": request["seq"],
                        "command": "runInTerminal", "success": True,
                        "body": {"processId": self.proc.pid}})
        self.screen = b""

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def wait_for(self, text: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while text.encode() not in self.screen:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} not on the terminal: {self.screen!r}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    self.screen += os.read(self.master, 4096)
                except OSError:  # the terminal closed
                    break
        assert text.encode() in self.screen, self.screen

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        os.close(self.master)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_integrated_terminal_program_reads_the_users_keyboard_and_is_traced(
        transport: str) -> None:
    with session(transport) as c:
        c.request("initialize", {"adapterID": "go", "supportsRunInTerminalRequest": True})
        seq = c.send("launch", {"mode": "debug", "program": EDITOR, "args": ["stdin", "3"],
                                "console": "integratedTerminal", "env": {"DAPGO_T": "1"}})
        term = Terminal(c)
        try:
            assert term.request["kind"] == "integrated"
            assert term.request["env"] == {"DAPGO_T": "1"}
            assert c.response(seq, timeout=30)["success"]
            process = c.wait_event("process")["body"]
            c.wait_event("initialized")
            # held before its first instruction: nothing printed before configurationDone
            with pytest.raises(AssertionError):
                term.wait_for("editor:", timeout=0.5)
            bps = set_line_breakpoints(c, "editor", "got_line")
            assert bps[0]["verified"]
            at = mark(c)
            c.request("configurationDone")
            term.wait_for("editor: type lines")
            term.type("hello\n")
            stop = wait_stopped(c, "breakpoint", after=at)
            text = frame_variables(c, top_frame(c, stop["threadId"])["id"])["text"]
            assert text["value"] == '"hello"'
            assert proc_status(process["systemProcessId"])["TracerPid"] != "0"
            c.request("setBreakpoints", {"source": {"path": bps[0]["source"]["path"]},
                                         "breakpoints": []})
            c.request("continue", {"threadId": stop["threadId"]})
            term.wait_for("editor: got HELLO 6")
            term.type("quit\n")
            term.wait_for("editor: secret 1042")
            assert exit_code(c) == 3
            assert output_text(c, "stdout") == ""  # it all went to the terminal
        finally:
            term.close()


def test_terminal_console_without_client_support_uses_the_debug_console() -> None:
    with session("stdio") as c:
        launch(c, {"mode": "debug", "program": EDITOR, "console": "integratedTerminal",
                   "args": ["stdin", "2"]})
        c.request("configurationDone")
        assert exit_code(c) == 2
        assert "runInTerminal" in output_text(c, "console")
        assert "editor: type lines\n" in output_text(c, "stdout")  # stdin empty: ends


def test_terminal_refused_by_the_client_fails_the_launch_clearly() -> None:
    with session("stdio") as c:
        c.request("initialize", {"adapterID": "go", "supportsRunInTerminalRequest": True})
        seq = c.send("launch", {"mode": "debug", "program": EDITOR,
                                "console": "externalTerminal"})
        request = c.wait_for(lambda m: m.get("command") == "runInTerminal", timeout=120)
        assert request["arguments"]["kind"] == "external"
        c.send_message({"seq": 10_000, "type": "response", "request_seq": request["seq"],
                        "command": "runInTerminal", "success": False,
                        "message": "no terminal here"})
        resp = c.response(seq, timeout=30)
        assert resp["success"] is False and "no terminal here" in resp["message"]
        c.request("threads")  # still serving


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_progress_during_a_cold_build_and_the_go_version_named(
        transport: str, tmp_path: os.PathLike[str]) -> None:
    """A fresh GOCACHE: go compiles the runtime and every package again; the client sees
    the build's progress, and which Go builds it."""
    with session(transport) as c:
        c.request("initialize", {"adapterID": "go", "supportsProgressReporting": True})
        c.request("launch", {"mode": "debug", "program": EDITOR,
                             "env": {"GOCACHE": str(tmp_path)}}, timeout=600)
        c.wait_event("initialized")
        start = c.wait_event("progressStart")["body"]
        updates = [e["body"] for e in c.events("progressUpdate")]
        end = c.wait_event("progressEnd")["body"]
        assert start["title"] == "Building editor"
        version = subprocess.run([fixtures.go_binary(), "env", "GOVERSION"],
                                 capture_output=True, text=True).stdout.strip()
        assert start["message"] == f"{version}: starting go build"
        assert updates and all(u["progressId"] == start["progressId"] for u in updates)
        assert any("runtime" in u["message"] for u in updates) or len(updates) > 3, updates
        assert end["progressId"] == start["progressId"] and end["message"].startswith("built")
        order = [m.get("event") or m["type"] for m in c.messages]
        assert order.index("progressEnd") < order.index("response", 1)  # before launch's
        assert f"dapgo: building {EDITOR} with {version} (" in output_text(c, "console")
        c.request("configurationDone")
        assert exit_code(c) == 0


def test_no_progress_events_for_a_client_that_did_not_ask_and_build_output_on_failure(
        tmp_path: os.PathLike[str]) -> None:
    src = os.path.join(tmp_path, "broken")
    os.mkdir(src)
    with open(os.path.join(src, "go.mod"), "w") as f:
        f.write("module example.com/broken\n\ngo 1.21\n")
    with open(os.path.join(src, "main.go"), "w") as f:
        f.write("package main\n\nfunc main() {\n\tundefinedThing()\n}\n")
    with session("stdio") as c:
        initialize(c)
        resp = c.response(c.send("launch", {"mode": "debug", "program": src}), timeout=120)
        assert resp["success"] is False and "undefined: undefinedThing" in resp["message"]
        assert "undefined: undefinedThing" in output_text(c, "stderr")
        assert not [e for e in c.events() if e["event"].startswith("progress")]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_doctor_names_the_toolchain_launch_builds_with(
        transport: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """dapgo's environment chooses the toolchain (as an editor's does: PATH, DAPGO_GO,
    the VS Code setting dapgo.env); doctor and launch agree on it."""
    go = fixtures.go_binary("1.21.13")
    monkeypatch.setenv("DAPGO_GO", go)
    doctor = subprocess.run([DAPGO, "doctor"], capture_output=True, text=True, timeout=120)
    assert f"launch builds with go1.21.13 ({go}, from $DAPGO_GO;" in doctor.stdout, doctor.stdout
    with session(transport) as c:
        launch(c, {"mode": "debug", "program": EDITOR, "env": {"GOTOOLCHAIN": "local"}})
        assert f"dapgo: building {EDITOR} with go1.21.13 ({go})\n" in output_text(c, "console")
        c.request("configurationDone")
        assert exit_code(c) == 0


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_restart_rebuilds_and_keeps_breakpoints(transport: str) -> None:
    base = {"mode": "debug", "program": EDITOR, "args": ["plain", "0"]}
    with session(transport) as c:
        caps = initialize(c)["body"]
        assert caps["supportsRestartRequest"] is True
        c.request("launch", base, timeout=120)
        c.wait_event("initialized")
        line_bp = set_line_breakpoints(c, "editor", "box_add")[0]
        fn_bp = c.request("setFunctionBreakpoints", {"breakpoints": [
            {"name": "uniqueSpawnedWorker"}]})["body"]["breakpoints"][0]
        at = mark(c)
        c.request("configurationDone")
        first_pid = c.wait_event("process")["body"]["systemProcessId"]
        stop = wait_stopped(c, "breakpoint", after=at)
        assert stop["hitBreakpointIds"] == [line_bp["id"]]

        # the same arguments, from a stop
        at = mark(c)
        c.request("restart", timeout=120)
        pid = c.wait_event("process", after=at)["body"]["systemProcessId"]
        assert pid != first_pid and not os.path.exists(f"/proc/{first_pid}/status")
        stop = wait_stopped(c, "breakpoint", after=at)
        assert stop["hitBreakpointIds"] == [line_bp["id"]]
        changed = [e["body"]["breakpoint"] for e in c.events("breakpoint")]
        assert {b["id"] for b in changed} >= {line_bp["id"], fn_bp["id"]}
        assert all(b["verified"] for b in changed if b["id"] in (line_bp["id"], fn_bp["id"]))
        stop = resume(c, "continue", stop["threadId"], "function breakpoint")
        assert top_frame(c, stop["threadId"])["name"] == "main.uniqueSpawnedWorker"

        # new arguments, while another goroutine is stopped
        at = mark(c)
        c.request("restart", {"arguments": {**base, "args": ["plain", "6"]}}, timeout=120)
        stop = wait_stopped(c, "breakpoint", after=at)
        assert stop["hitBreakpointIds"] == [line_bp["id"]]
        c.request("setBreakpoints", {"source": {"path": line_bp["source"]["path"]},
                                     "breakpoints": []})
        c.request("setFunctionBreakpoints", {"breakpoints": []})
        c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c) == 6
        assert len(c.events("terminated")) == 1 and len(c.events("exited")) == 1


def test_restart_of_a_program_run_without_debugging() -> None:
    with session("stdio") as c:
        launch_no_debug(c, {"mode": "exec", "program": str(fixtures.build("busy")),
                            "noDebug": True})
        pid = c.wait_event("process")["body"]["systemProcessId"]
        at = mark(c)
        c.request("restart", timeout=60)
        again = c.wait_event("process", after=at)["body"]["systemProcessId"]
        assert again != pid
        time.sleep(0.2)
        assert not os.path.exists(f"/proc/{pid}/status") and not c.events("exited")
        c.request("terminate")
        assert exit_code(c) == 128 + signal.SIGKILL


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_no_debug_in_the_terminal_reads_the_keyboard_and_reports_the_exit_code(
        transport: str) -> None:
    with session(transport) as c:
        c.request("initialize", {"adapterID": "go", "supportsRunInTerminalRequest": True})
        seq = c.send("launch", {"mode": "debug", "program": EDITOR, "args": ["stdin", "9"],
                                "noDebug": True, "console": "integratedTerminal"})
        term = Terminal(c)
        try:
            assert c.response(seq, timeout=30)["success"]
            pid = c.wait_event("process")["body"]["systemProcessId"]
            term.wait_for("editor: type lines")
            assert proc_status(pid)["TracerPid"] == "0"
            term.type("hi\nquit\n")
            term.wait_for("editor: got HI 3")
            assert exit_code(c) == 9
        finally:
            term.close()
    with session(transport) as c:  # terminate kills it, wrapper and program
        c.request("initialize", {"adapterID": "go", "supportsRunInTerminalRequest": True})
        seq = c.send("launch", {"mode": "debug", "program": EDITOR, "args": ["stdin"],
                                "noDebug": True, "console": "integratedTerminal"})
        term = Terminal(c)
        try:
            assert c.response(seq, timeout=30)["success"]
            term.wait_for("editor: type lines")
            c.request("terminate")
            assert exit_code(c) == 128 + signal.SIGKILL
        finally:
            term.close()


def test_restart_while_the_program_runs() -> None:
    with session("stdio") as c:
        launch(c, {"mode": "exec", "program": str(fixtures.build("busy"))})
        bps = set_line_breakpoints(c, "busy", "tick_body")
        at = mark(c)
        c.request("configurationDone")
        pid = c.wait_event("process")["body"]["systemProcessId"]
        stop = wait_stopped(c, "breakpoint", after=at)
        c.request("setBreakpoints", {"source": {"path": bps[0]["source"]["path"]},
                                     "breakpoints": []})
        c.request("continue", {"threadId": stop["threadId"]})
        time.sleep(0.3)  # running
        at = mark(c)
        c.request("restart", timeout=60)
        again = c.wait_event("process", after=at)["body"]["systemProcessId"]
        assert again != pid and not os.path.exists(f"/proc/{pid}/status")
        c.wait_for(lambda m: "busy: pid" in m.get("body", {}).get("output", ""), after=at)
        assert proc_status(again)["TracerPid"] != "0"  # debugged again
        at = mark(c)
        c.request("setBreakpoints", {"source": {"path": bps[0]["source"]["path"]},
                                     "breakpoints": [{"line": bps[0]["line"]}]})
        wait_stopped(c, "breakpoint", after=at)
        c.request("terminate")
        assert exit_code(c) == 128 + signal.SIGKILL
        assert len(c.events("exited")) == 1
