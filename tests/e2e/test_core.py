"""End to end, post-mortem: kernel core files of Go programs that died (a panic, a fatal
error) opened with launch mode "core", and cores written by `dapgo dump` of a live session,
on Go 1.21 and 1.27.
"""

from __future__ import annotations

import re
import signal
import struct
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fixtures
import pytest
from corefiles import kernel_core, tgkill
from dapclient import DAPClient, DAPError
from elftools.elf.elffile import ELFFile

from .helpers import frame_variables, launch, mark, session, wait_stopped

Message = dict[str, Any]
GO_VERSIONS = [None, "1.21.13"]  # None: the default toolchain, 1.27.3


def go_id(v: str | None) -> str:
    return v or "1.27.3"


@contextmanager
def core_session(program: Path, core: Path, **attrs: Any) -> Iterator[tuple[DAPClient, Message]]:
    """A session on a core file, past configurationDone: (client, the stopped event)."""
    with session("stdio") as c:
        launch(c, {"mode": "core", "program": str(program), "coreFilePath": str(core),
                   **attrs})
        at = mark(c)
        c.request("configurationDone")
        yield c, wait_stopped(c, after=at)
        c.request("disconnect")


def first_thread_pc_sp(core: Path) -> tuple[int, int]:
    """rip and rsp of the core's first thread, read with pyelftools and struct alone."""
    with open(core, "rb") as f:
        for seg in ELFFile(f).iter_segments():
            if seg["p_type"] == "PT_NOTE":
                for note in seg.iter_notes():
                    if note["n_type"] == "NT_PRSTATUS":
                        regs = struct.unpack_from("<27Q", bytes(note["n_descdata"]), 112)
                        return regs[16], regs[19]  # user_regs_struct: rip, rsp
    raise AssertionError("no NT_PRSTATUS")


def frames(c: DAPClient, thread_id: int) -> list[Message]:
    body = c.request("stackTrace", {"threadId": thread_id})["body"]
    return list(body["stackFrames"])


def frame_named(c: DAPClient, thread_id: int, name: str) -> Message:
    return next(f for f in frames(c, thread_id) if f["name"] == name)


def thread_names(c: DAPClient) -> dict[int, str]:
    return {t["id"]: t["name"] for t in c.request("threads")["body"]["threads"]}


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_kernel_core_of_a_panic(go: str | None, tmp_path: Path) -> None:
    binary = fixtures.build("crash", go=go)
    core, stderr = kernel_core([str(binary)], tmp_path)
    assert "panic: bad order 7: order-7" in stderr
    with core_session(binary, core, showPprofLabels=["team"]) as (c, stop):
        # the stop: the goroutine that panicked, with the panic's message and the signal
        assert stop["reason"] == "exception"
        assert stop["description"] == "panic: bad order 7: order-7 (SIGABRT)", stop
        gid = stop["threadId"]
        names = thread_names(c)
        assert names[gid].startswith(f"* [Go {gid}]"), names
        info = c.request("exceptionInfo", {"threadId": gid})["body"]
        assert info["exceptionId"] == "panic"
        assert info["description"] == "bad order 7: order-7"
        assert "main.process()" in info["details"]["stackTrace"]
        # its stack, through the signal handler's frames, down to main.main
        names_lines = [(f["name"], f["line"]) for f in frames(c, gid)]
        panic_line = fixtures.line_of("crash", "panic")[1]
        assert ("main.process", panic_line) in names_lines, names_lines
        assert [n for n, _ in names_lines][-3:] == ["main.main", "runtime.main",
                                                    "runtime.goexit"]
        assert names_lines.index(("main.process", panic_line)) > \
            [n for n, _ in names_lines].index("runtime.fatalpanic")
        # locals and evaluate on it
        process = frame_named(c, gid, "main.process")
        values = frame_variables(c, process["id"])
        assert values["label"]["value"] == '"order-7"'
        assert values["total"]["value"] == "30"
        got = c.request("evaluate", {"expression": "o.Items[2] + o.Name", "context": "repl",
                                     "frameId": process["id"]})["body"]
        assert got["result"] == '"cwidgets"'
        got = c.request("evaluate", {"expression": 'main.orders["beta"]',
                                     "context": "watch"})["body"]
        assert got["result"] == "2"
        # other goroutines, their pprof labels, filters
        red = [n for n in names.values() if " red]" in n]  # Delve shows a key's value
        assert len(red) == 1 and "main.waitHere" in red[0], list(names.values())
        answer = c.request("evaluate", {"expression": "dapgo goroutines -with label team=blue",
                                        "context": "repl"})["body"]["result"]
        assert "team=blue" in answer
        blue = thread_names(c)
        assert sorted(n.split("]")[0] for n in blue.values() if gid != int(
            re.findall(r"Go (\d+)", n)[0])) == sorted(
            n.split("]")[0] for n in names.values() if " blue]" in n), blue
        waiter = next(t for t, n in names.items() if " red]" in n)
        wait_frame = frame_named(c, waiter, "main.waitHere")
        assert wait_frame["line"] == fixtures.line_of("crash", "worker_wait")[1]
        assert frame_variables(c, wait_frame["id"])["n"]["value"] == "2"
        # registers of the thread that died
        scopes = c.request("scopes", {"frameId": frames(c, gid)[0]["id"]})["body"]["scopes"]
        regs = next(s for s in scopes if s.get("presentationHint") == "registers")
        reg_vals = {v["name"]: v["value"] for v in c.request(
            "variables", {"variablesReference": regs["variablesReference"]})["body"][
                "variables"]}
        assert (int(reg_vals["rip"], 16), int(reg_vals["rsp"], 16)) == first_thread_pc_sp(core)
        # nothing runs or changes: a clear error for each request that would
        with pytest.raises(DAPError, match="core file"):
            c.request("setVariable", {"variablesReference": values["o"]["variablesReference"],
                                      "name": "ID", "value": "8"})
        for command, args in [("continue", {"threadId": gid}), ("next", {"threadId": gid}),
                              ("stepIn", {"threadId": gid}), ("stepOut", {"threadId": gid})]:
            with pytest.raises(DAPError, match="core file"):
                c.request(command, args)
        # ... and the refused requests keep the variables already shown expandable
        o = c.request("variables", {"variablesReference": values["o"]["variablesReference"]})
        assert any(v["name"] == "ID" for v in o["body"]["variables"]), o
        info = c.request("dataBreakpointInfo", {"name": "total", "variablesReference": 0,
                                                "frameId": frame_named(
                                                    c, gid, "main.process")["id"]})["body"]
        assert info["dataId"] is None and "core file" in info["description"]
        bps = c.request("setBreakpoints", {"source": {"path": fixtures.line_of(
            "crash", "panic")[0]}, "breakpoints": [{"line": panic_line}]})["body"]
        assert not bps["breakpoints"][0]["verified"]
        assert "core file" in bps["breakpoints"][0]["message"]
        # still serving
        assert thread_names(c)


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_kernel_core_with_a_goroutine_that_was_running(go: str | None,
                                                       tmp_path: Path) -> None:
    """A goroutine spinning on another thread when main panicked: its stack is where it
    was: read from its saved registers when the runtime preempted it as it froze the world
    to crash, else from its thread's registers (where Go 1.21's own traceback says "running
    on other thread; stack unavailable")."""
    binary = fixtures.build("crash", go=go)
    core, stderr = kernel_core([str(binary), "spin"], tmp_path)
    assert "main.spin(" in stderr or "goroutine running on other thread" in stderr
    with core_session(binary, core) as (c, stop):
        assert stop["description"].startswith("panic: bad order 7")
        spinner = next(t for t, n in thread_names(c).items() if "main.spin" in n)
        spin = frame_named(c, spinner, "main.spin")
        assert spin["line"] in (fixtures.line_of("crash", "spin_loop")[1],
                                fixtures.line_of("crash", "spin_check")[1])
        assert frame_variables(c, spin["id"])["limit"]["value"] == str(1 << 62)


def test_kernel_core_of_a_fatal_error(tmp_path: Path) -> None:
    binary = fixtures.build("crash")
    core, stderr = kernel_core([str(binary), "fatal"], tmp_path)
    assert "fatal error: sync: unlock of unlocked mutex" in stderr
    with core_session(binary, core) as (c, stop):
        assert stop["description"] == \
            "fatal error: sync: unlock of unlocked mutex (SIGABRT)", stop
        info = c.request("exceptionInfo", {"threadId": stop["threadId"]})["body"]
        assert info["exceptionId"] == "fatal error"
        lines = [(f["name"], f["line"]) for f in frames(c, stop["threadId"])]
        assert ("main.process", fixtures.line_of("crash", "fatal")[1]) in lines


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_kernel_core_of_a_program_killed_by_sigquit(go: str | None, tmp_path: Path) -> None:
    """Killed from outside: the signal that arrived is named, the runtime's SIGABRT after
    it too, and a goroutine the threads view lists is selected."""
    binary = fixtures.build("crash", go=go)
    core, stderr = kernel_core([str(binary), "hang"], tmp_path, send=signal.SIGQUIT)
    assert "SIGQUIT: quit" in stderr
    with core_session(binary, core) as (c, stop):
        assert stop["reason"] == "exception"
        assert stop["description"] == \
            "the program was killed by SIGQUIT, then SIGABRT from the Go runtime", stop
        names = thread_names(c)
        assert stop["threadId"] in names and names[stop["threadId"]].startswith("* "), names
        info = c.request("exceptionInfo", {"threadId": stop["threadId"]})["body"]
        assert info["exceptionId"] == "SIGQUIT"
        main = frame_named(c, 1, "main.main")
        # the signal is sent once "ready" is read: main may still be returning from that
        # write(2), or already asleep
        assert main["line"] in (fixtures.line_of("crash", "ready")[1],
                                fixtures.line_of("crash", "hang")[1]), main
        assert frame_variables(c, main["id"])["how"]["value"] == '"hang"'


@pytest.mark.parametrize(("mode", "word", "function", "marker"), [
    ("spin-hang", b"spinner", "main.spin", None),
    ("read-hang", b"reader", "main.blockedRead", "blocked_read"),
], ids=["running", "in-a-system-call"])
def test_kernel_core_of_a_signal_sent_to_one_goroutines_thread(
        mode: str, word: bytes, function: str, marker: str | None, tmp_path: Path) -> None:
    """SIGQUIT sent to the locked thread of a goroutine that spins, or that is blocked in
    read(2): the runtime crashes in the signal handler on that thread. The goroutine's saved
    registers are stale (or its system call's); its stack goes through the handler's frames
    to where the signal hit it, and the signal is named as what killed the program."""
    binary = fixtures.build("crash")

    def hit_its_thread(proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        said = proc.stdout.readline().split()  # "spinner TID" / "reader TID", from it
        assert said[0] == word and proc.stdout.readline() == b"ready\n"
        tgkill(proc.pid, int(said[1]), signal.SIGQUIT)

    core, stderr = kernel_core([str(binary), mode], tmp_path, send=0, ready=hit_its_thread)
    assert "SIGQUIT: quit" in stderr
    with core_session(binary, core) as (c, stop):
        assert stop["description"] == \
            "the program was killed by SIGQUIT, then SIGABRT from the Go runtime", stop
        got = [(f["name"], f["line"]) for f in frames(c, stop["threadId"])]
        names = [name for name, _ in got]
        assert function in names, names
        assert names.index("runtime.sigtramp") < names.index(function), names
        if marker is not None:
            assert (function, fixtures.line_of("crash", marker)[1]) in got, got


def test_bad_core_files(tmp_path: Path) -> None:
    binary = fixtures.build("crash")
    not_core = tmp_path / "not-a-core"
    not_core.write_bytes(b"hello")
    with session("stdio") as c:
        c.request("initialize", {"adapterID": "go"})
        for args, match in [
            ({"program": str(binary)}, "coreFilePath"),
            ({"program": str(binary), "coreFilePath": str(tmp_path / "nope")}, "not found"),
            ({"program": str(binary), "coreFilePath": str(not_core)}, "not an ELF"),
            ({"program": str(binary), "coreFilePath": str(binary)}, "not a core file"),
        ]:
            with pytest.raises(DAPError, match=match):
                c.request("launch", {"mode": "core", **args})
        c.request("disconnect")
    # a core opened with another build of the program: it opens, with a warning
    other = fixtures.build("crash", go="1.21.13")
    core, _ = kernel_core([str(binary)], tmp_path / "crashed")
    with core_session(other, core) as (c, _stop):
        warning = "".join(e["body"]["output"] for e in c.events("output")
                          if e["body"].get("category") == "important")
        assert "was not written by this build" in warning
    with core_session(binary, core) as (c, _stop):
        assert not [e for e in c.events("output") if "not written" in e["body"]["output"]]


def snapshot(c: DAPClient, gid: int) -> dict[str, Any]:
    """What a user sees of a stopped program: goroutines, the stopped one's stack, values."""
    names = {re.sub(r" \(Thread \d+\)", "", n) for n in thread_names(c).values()}
    stack = [(f["name"], f["line"]) for f in frames(c, gid)]
    process = frame_named(c, gid, "main.process")
    values = {k: v["value"] for k, v in frame_variables(c, process["id"]).items()
              if k not in ("pc", "sp", "cfa")}
    exprs = ["*o", "o.Items", 'main.orders["alpha"]', "len(label) + total"]
    evaluated = [c.request("evaluate", {"expression": e, "frameId": process["id"],
                                        "context": "watch"})["body"]["result"] for e in exprs]
    return {"goroutines": names, "stack": stack, "values": values, "evaluated": evaluated}


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_dump_of_a_live_program_opens_with_the_same_values(go: str | None,
                                                          tmp_path: Path) -> None:
    binary = fixtures.build("crash", go=go)
    core = tmp_path / "live.core"
    with session("stdio") as c:
        launch(c, {"mode": "exec", "program": str(binary), "showPprofLabels": ["*"]})
        path, line = fixtures.line_of("crash", "checkpoint")
        c.request("setBreakpoints", {"source": {"path": path}, "breakpoints": [{"line": line}]})
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "breakpoint", after=at)
        live = snapshot(c, stop["threadId"])
        with pytest.raises(DAPError, match="usage"):
            c.request("evaluate", {"expression": "dapgo dump", "context": "repl"})
        text = c.request("evaluate", {"expression": f"dapgo dump {core}",
                                      "context": "repl"})["body"]["result"]
        assert f"wrote core file {core}" in text
        # the program was not harmed: it is still stopped there, and runs on when continued
        assert snapshot(c, stop["threadId"]) == live
        c.request("setBreakpoints", {"source": {"path": path}, "breakpoints": []})
        at = mark(c)
        c.request("continue", {"threadId": stop["threadId"]})
        died = wait_stopped(c, "exception", after=at)
        assert "bad order 7" in c.request("exceptionInfo", {"threadId": died["threadId"]})[
            "body"]["description"]
        c.request("disconnect", {"terminateDebuggee": True})
    assert core.stat().st_blocks * 512 < 64 << 20  # untouched heap arenas are holes
    with core_session(binary, core, showPprofLabels=["*"]) as (c, opened):
        assert opened["reason"] == "pause"
        assert opened["threadId"] == stop["threadId"]
        assert not [e for e in c.events("output") if "not written" in e["body"]["output"]]
        assert snapshot(c, opened["threadId"]) == live
        with pytest.raises(DAPError, match="already a core file"):
            c.request("evaluate", {"expression": f"dapgo dump {tmp_path / 'again'}",
                                   "context": "repl"})
