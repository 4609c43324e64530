"""End to end: data breakpoints on x86 debug registers (real hardware traps, no stepping).

The `watch` fixture writes a global three times, a field through a pointer, a 16-byte
struct, a local whose goroutine stack grows under it, and a global from another goroutine.
"""

from __future__ import annotations

import ctypes
import os
import re
import time
from typing import Any

import fixtures
from dapclient import DAPClient
from ptrace.binding import func as pt

from .helpers import (
    exit_code,
    frame_variables,
    initialize,
    launch,
    mark,
    output_text,
    resume,
    session,
    set_line_breakpoints,
    start_busy,
    top_frame,
    wait_stopped,
)

Message = dict[str, Any]
DR7 = 848 + 7 * 8


def start_at(c: DAPClient, marker: str) -> Message:
    launch(c, {"mode": "exec", "program": str(fixtures.build("watch"))})
    set_line_breakpoints(c, "watch", marker)
    at = mark(c)
    c.request("configurationDone")
    stop = wait_stopped(c, "breakpoint", after=at)
    c.request("setBreakpoints", {"source": {"path": fixtures.line_of("watch", marker)[0]},
                                 "breakpoints": []})
    return stop


def info_for_expression(c: DAPClient, name: str, thread_id: int) -> Message:
    frame = top_frame(c, thread_id)
    body: Message = c.request("dataBreakpointInfo", {"name": name, "frameId": frame["id"]})["body"]
    return body


def set_watches(c: DAPClient, *specs: Message) -> list[Message]:
    body = c.request("setDataBreakpoints", {"breakpoints": list(specs)})["body"]
    return list(body["breakpoints"])


def scope_ref(c: DAPClient, thread_id: int, scope_name: str = "Locals") -> int:
    frame = top_frame(c, thread_id)
    for scope in c.request("scopes", {"frameId": frame["id"]})["body"]["scopes"]:
        if scope["name"] == scope_name:
            return int(scope["variablesReference"])
    raise AssertionError(f"no scope {scope_name}")


def wrote_at(frame: Message, marker: str) -> bool:
    """A watchpoint stops at the instruction after the write: on the marked line, or on the
    next line when the write was the line's last instruction."""
    line = fixtures.line_of("watch", marker)[1]
    return frame["line"] in (line, line + 1)


def test_capability_is_advertised() -> None:
    with session("stdio") as c:
        assert initialize(c)["body"]["supportsDataBreakpoints"] is True


def test_write_watch_on_a_global_stops_once_per_write() -> None:
    with session("stdio") as c:
        stop = start_at(c, "start")
        info = info_for_expression(c, "main.hits", stop["threadId"])
        assert info["dataId"] and info["accessTypes"] == ["write", "readWrite"]
        assert "int64" in info["description"]
        (wp,) = set_watches(c, {"dataId": info["dataId"], "accessType": "write"})
        assert wp["verified"] is True
        for n in (1, 2, 3):
            stop = resume(c, thread_id=stop["threadId"], reason="data breakpoint")
            assert stop["hitBreakpointIds"] == [wp["id"]]
            frame = top_frame(c, stop["threadId"])
            assert frame["name"] == "main.bump" and wrote_at(frame, "bump")
            value = c.request("evaluate", {"expression": "main.hits", "frameId": frame["id"]})
            assert value["body"]["result"] == str(n)  # the new value, after each write
        # no fourth write: the next stop is the program's end
        c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c) == 0


def test_read_write_watch_traps_reads_too() -> None:
    with session("stdio") as c:
        stop = start_at(c, "pair_b")  # pair.A already written; the end line reads it
        info = info_for_expression(c, "main.pair", stop["threadId"])
        assert info["dataId"], info
        (wp,) = set_watches(c, {"dataId": info["dataId"], "accessType": "readWrite"})
        assert wp["verified"] is True
        stop = resume(c, thread_id=stop["threadId"], reason="data breakpoint")
        assert wrote_at(top_frame(c, stop["threadId"]), "pair_b")
        stop = resume(c, thread_id=stop["threadId"], reason="data breakpoint")
        # the next access is the read in the sum at the end of main
        assert wrote_at(top_frame(c, stop["threadId"]), "end")
        c.request("disconnect", {"terminateDebuggee": True})


def test_sixteen_bytes_use_two_registers_and_five_watches_are_refused() -> None:
    with session("stdio") as c:
        stop = start_at(c, "field_write")
        pair = info_for_expression(c, "main.pair", stop["threadId"])
        assert "16 bytes" in pair["description"]
        (wp,) = set_watches(c, {"dataId": pair["dataId"], "accessType": "write"})
        assert wp["verified"]
        # pair.A and pair.B each trap: two registers cover the 16 bytes
        stop = resume(c, thread_id=stop["threadId"], reason="data breakpoint")
        assert wrote_at(top_frame(c, stop["threadId"]), "pair_a")
        stop = resume(c, thread_id=stop["threadId"], reason="data breakpoint")
        assert wrote_at(top_frame(c, stop["threadId"]), "pair_b")
        # 16 + 8 + 8 + 8 bytes: five registers wanted, four exist
        ids = [info_for_expression(c, n, stop["threadId"])["dataId"]
               for n in ("main.hits", "main.shared", "main.sink")]
        statuses = set_watches(c, *({"dataId": d} for d in [pair["dataId"], *ids]))
        assert [s["verified"] for s in statuses] == [True, True, True, False]
        assert "debug registers" in statuses[3]["message"]
        assert "4" in statuses[3]["message"]
        c.request("disconnect", {"terminateDebuggee": True})


def test_watch_a_field_through_a_pointer() -> None:
    with session("stdio") as c:
        stop = start_at(c, "field_write")
        locals_ref = scope_ref(c, stop["threadId"])
        c_var = {v["name"]: v for v in c.request(
            "variables", {"variablesReference": locals_ref})["body"]["variables"]}["c"]
        assert c_var["variablesReference"]
        pointee = c.request("variables", {"variablesReference": c_var["variablesReference"]}
                            )["body"]["variables"]
        ref = c_var["variablesReference"]
        if len(pointee) == 1 and pointee[0]["variablesReference"]:  # *Counter shown as a child
            ref = pointee[0]["variablesReference"]
        info = c.request("dataBreakpointInfo", {"variablesReference": ref, "name": "count"}
                         )["body"]
        assert info["dataId"], info
        set_watches(c, {"dataId": info["dataId"]})
        stop = resume(c, thread_id=stop["threadId"], reason="data breakpoint")
        assert wrote_at(top_frame(c, stop["threadId"]), "field_write")
        c.request("disconnect", {"terminateDebuggee": True})


def test_local_followed_across_stack_growth_then_scope_end() -> None:
    with session("stdio") as c:
        stop = start_at(c, "local_set")
        info = c.request("dataBreakpointInfo", {"variablesReference": scope_ref(
            c, stop["threadId"]), "name": "x"})["body"]
        assert "stack of goroutine" in info["description"]
        (wp,) = set_watches(c, {"dataId": info["dataId"]})
        stop = resume(c, thread_id=stop["threadId"], reason="data breakpoint")  # x = 1
        assert top_frame(c, stop["threadId"])["name"] == "main.local"
        # deep recursion moved the stack before this write through a pointer
        stop = resume(c, thread_id=stop["threadId"], reason="data breakpoint")
        st = c.request("stackTrace", {"threadId": stop["threadId"], "levels": 1})["body"]
        assert st["stackFrames"][0]["name"] == "main.grow"
        assert wrote_at(st["stackFrames"][0], "grow_write")
        assert st["totalFrames"] > 2000
        stop = resume(c, thread_id=stop["threadId"], reason="data breakpoint")  # x = 3
        frame = top_frame(c, stop["threadId"])
        assert wrote_at(frame, "local_after")
        assert frame_variables(c, frame["id"])["x"]["value"] == "3"
        at = mark(c)
        c.request("continue", {"threadId": stop["threadId"]})
        changed = c.wait_event("breakpoint", lambda b: b["breakpoint"]["id"] == wp["id"],
                               after=at)
        assert changed["body"]["breakpoint"]["verified"] is False
        assert exit_code(c) == 0
        assert "data breakpoint on x removed" in output_text(c, "console")


def test_watch_from_one_goroutine_traps_a_write_from_another() -> None:
    with session("stdio") as c:
        stop = start_at(c, "start")
        main_goroutine = stop["threadId"]
        info = info_for_expression(c, "main.shared", main_goroutine)
        set_watches(c, {"dataId": info["dataId"]})
        stop = resume(c, thread_id=main_goroutine, reason="data breakpoint")
        assert stop["threadId"] != main_goroutine
        frame = top_frame(c, stop["threadId"])
        assert wrote_at(frame, "other_goroutine")
        c.request("disconnect", {"terminateDebuggee": True})


def _dr7_of_every_thread(pid: int) -> dict[int, int]:
    """Attach with ptrace from the test itself and read DR7 of each thread."""
    out = {}
    tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    for tid in tids:
        pt.ptrace_attach(tid)
        os.waitpid(tid, 0x40000000)
    try:
        for tid in tids:
            out[tid] = int(ctypes.c_ulong(pt.ptrace_peekuser(tid, DR7)).value)
    finally:
        for tid in tids:
            pt.ptrace_detach(tid)
    return out


def test_detach_clears_debug_registers_on_every_thread() -> None:
    busy = start_busy()
    try:
        with session("stdio") as c:
            initialize(c)
            c.request("attach", {"processId": busy.pid}, timeout=60)
            c.wait_event("initialized")
            set_line_breakpoints(c, "busy", "tick_body")
            at = mark(c)
            c.request("configurationDone")
            stop = wait_stopped(c, "breakpoint", after=at)
            c.request("setBreakpoints", {"source": {"path": fixtures.line_of(
                "busy", "tick_body")[0]}, "breakpoints": []})
            info = info_for_expression(c, "main.counter", stop["threadId"])
            set_watches(c, {"dataId": info["dataId"]})
            resume(c, thread_id=stop["threadId"], reason="data breakpoint")
            c.request("disconnect", {})
            c.wait_closed()
        time.sleep(0.5)  # the program writes counter all the time: a trap left would kill it
        assert busy.poll() is None
        assert set(_dr7_of_every_thread(busy.pid).values()) == {0}
        time.sleep(0.3)
        assert busy.poll() is None
    finally:
        busy.kill()
        busy.wait()


def test_watch_expressions_and_a_pointer_variable() -> None:
    with session("stdio") as c:
        stop = start_at(c, "field_write")
        frame_id = top_frame(c, stop["threadId"])["id"]

        def info(expr: str) -> Message:
            body: Message = c.request("dataBreakpointInfo", {"name": expr, "frameId": frame_id}
                                      )["body"]
            return body

        count = info("c.count")  # a field through a pointer, as an expression
        assert count["dataId"] and "8 bytes" in count["description"], count
        b = info("main.pair.B")
        assert b["dataId"] and "8 bytes" in b["description"], b
        ptr = info("c")  # the pointer variable itself (DWARF gives pointers no size)
        assert ptr["dataId"] and "8 bytes" in ptr["description"], ptr
        bad = info("c.count + 1")
        assert bad["dataId"] is None and "not a value in memory" in bad["description"]
        missing = info("nosuch")
        assert missing["dataId"] is None and "nosuch" in missing["description"]
        set_watches(c, {"dataId": count["dataId"]}, {"dataId": b["dataId"]})
        stop = resume(c, thread_id=stop["threadId"], reason="data breakpoint")
        assert wrote_at(top_frame(c, stop["threadId"]), "field_write")
        frame = top_frame(c, stop["threadId"])
        value = c.request("evaluate", {"expression": "c.count", "frameId": frame["id"]})
        assert value["body"]["result"] == "5"  # the new value is readable at the stop
        stop = resume(c, thread_id=stop["threadId"], reason="data breakpoint")
        assert wrote_at(top_frame(c, stop["threadId"]), "pair_b")
        c.request("disconnect", {"terminateDebuggee": True})


def test_watch_set_at_entry_traps_on_threads_created_later() -> None:
    """Set before the runtime starts (one thread); the write comes from a goroutine running
    on whichever thread the runtime made since: the registers were put on each new one."""
    with session("stdio") as c:
        launch(c, {"mode": "exec", "program": str(fixtures.build("watch")),
                   "stopOnEntry": True})
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "entry", after=at)
        assert len(c.request("threads")["body"]["threads"]) == 1
        first_thread = stop["threadId"] - (1 << 30)  # before the runtime: an OS thread id
        info = info_for_expression(c, "main.shared", stop["threadId"])
        assert info["dataId"], info
        set_watches(c, {"dataId": info["dataId"]})
        stop = resume(c, thread_id=stop["threadId"], reason="data breakpoint")
        assert wrote_at(top_frame(c, stop["threadId"]), "other_goroutine")
        names = {t["id"]: t["name"] for t in c.request("threads")["body"]["threads"]}
        writer = re.search(r"\(Thread (\d+)\)", names[stop["threadId"]])
        assert writer is not None and int(writer.group(1)) != first_thread, names
        c.request("disconnect", {"terminateDebuggee": True})


def test_a_write_during_next_is_reported_as_the_data_breakpoint() -> None:
    """next single-steps the line that writes the watched field: the step's SIGTRAP is the
    watchpoint's too, and the data breakpoint is what the user sees."""
    with session("stdio") as c:
        stop = start_at(c, "field_write")
        frame_id = top_frame(c, stop["threadId"])["id"]
        count = c.request("dataBreakpointInfo", {"name": "c.count", "frameId": frame_id}
                          )["body"]
        (wp,) = set_watches(c, {"dataId": count["dataId"]})
        stop = resume(c, "next", stop["threadId"], reason="data breakpoint")
        assert stop["hitBreakpointIds"] == [wp["id"]]
        frame = top_frame(c, stop["threadId"])
        value = c.request("evaluate", {"expression": "c.count", "frameId": frame["id"]})
        assert value["body"]["result"] == "5"
        c.request("disconnect", {"terminateDebuggee": True})
