"""Hostile requests against a live session (issue 18, points 1-4): every one answered with
what was loaded or a clear error, promptly, the adapter's memory bounded, the session alive.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fixtures
import pytest
from dapclient import DAPClient, ListeningServer

from .helpers import TRANSPORTS, frame_variables, initialize, mark, top_frame, wait_stopped

Message = dict[str, Any]
MAX_PAGE = 1000  # dapgo.engine.limits.MAX_PAGE
MAX_STRING_LEN = 64 << 10  # dapgo.engine.limits.MAX_STRING_LEN
RSS_GROWTH_LIMIT = 300 << 20  # bytes the adapter may grow by while answering all of them


def rss(pid: int, field: str = "VmRSS") -> int:
    """A process's resident set (or its peak, VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise LookupError(field)


@contextmanager
def adapter(transport: str) -> Iterator[tuple[DAPClient, int]]:
    """A client and the pid of the dapgo process serving it."""
    if transport == "stdio":
        with DAPClient.spawn_stdio() as c:
            assert c.proc is not None
            yield c, c.proc.pid
        return
    with ListeningServer() as server, server.connect() as c:
        yield c, server.proc.pid


def stop_in_hold(c: DAPClient, tmp: Path, **launch_extra: Any) -> dict[str, Message]:
    """Launch the hostile fixture, stop in hold(): its arguments by name."""
    stop = launch_to_hold(c, tmp, **launch_extra)
    return frame_variables(c, top_frame(c, stop["threadId"])["id"])


def launch_to_hold(c: DAPClient, tmp: Path, **launch_extra: Any) -> Message:
    """Launch the hostile fixture and stop in hold(): the stopped event's body."""
    initialize(c)
    c.request("launch", {"mode": "exec", "program": str(fixtures.build("hostile")),
                         "args": ["3", "1", str(tmp / "out")], **launch_extra}, timeout=60)
    c.wait_event("initialized")
    path, line = fixtures.line_of("hostile", "hold_body")
    c.request("setBreakpoints", {"source": {"path": path}, "breakpoints": [{"line": line}]})
    at = mark(c)
    c.request("configurationDone")
    return wait_stopped(c, "breakpoint", after=at)


def error_of(c: DAPClient, command: str, arguments: Message, timeout: float = 10) -> str:
    seq = c.send(command, arguments)
    r = c.response(seq, timeout=timeout)
    assert r["success"] is False, r
    message: str = r["message"]
    assert "internal error" not in message, message
    return message


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_pages_and_limits_are_capped_and_answered_with_what_was_loaded(
        transport: str, tmp_path: Path) -> None:
    """A billion-element slice asked for in one page, limits of 2**62 at launch: the answers
    hold what was loaded (a page of MAX_PAGE, a string of MAX_STRING_LEN bytes), promptly,
    and the adapter does not grow."""
    with adapter(transport) as (c, pid):
        args = stop_in_hold(c, tmp_path, maxArrayValues=2**62, maxStringLen=2**62,
                            maxGoroutines=2**62)
        before = rss(pid)
        huge = args["huge"]
        assert huge["indexedVariables"] == 1_000_000_000
        started = time.monotonic()
        page = c.request("variables", {"variablesReference": huge["variablesReference"],
                                       "filter": "indexed", "start": 0,
                                       "count": 1_000_000_000}, timeout=30)["body"]
        assert len(page["variables"]) == MAX_PAGE
        assert page["variables"][-1]["name"] == f"[{MAX_PAGE - 1}]"
        last = c.request("variables", {"variablesReference": huge["variablesReference"],
                                       "filter": "indexed", "start": 999_999_990,
                                       "count": 1_000_000_000}, timeout=30)["body"]
        assert [v["name"] for v in last["variables"]] == [
            f"[{i}]" for i in range(999_999_990, 1_000_000_000)]
        default = c.request("variables", {"variablesReference": huge["variablesReference"]},
                            timeout=30)["body"]  # maxArrayValues 2**62: clamped
        assert len(default["variables"]) == MAX_PAGE
        assert time.monotonic() - started < 20
        long = args["long"]["value"]  # maxStringLen 2**62: clamped
        assert long.endswith(f'..."+{(3 << 20) - MAX_STRING_LEN} more') or \
            long.endswith(f"...+{(3 << 20) - MAX_STRING_LEN} more"), long[-40:]
        assert len(long) < MAX_STRING_LEN + 100
        assert c.request("threads")["body"]["threads"]
        assert rss(pid) - before < RSS_GROWTH_LIMIT
        c.request("disconnect", {"terminateDebuggee": True})


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_expressions_too_long_deep_or_large_are_clear_errors(transport: str,
                                                              tmp_path: Path) -> None:
    with adapter(transport) as (c, pid):
        stop_in_hold(c, tmp_path)
        before = rss(pid)
        started = time.monotonic()
        msg = error_of(c, "evaluate", {"expression": "n" + ".n" * 500_000, "context": "repl"})
        assert "expression too long" in msg
        assert time.monotonic() - started < 5  # the session answered at once
        deep = [("(" * 2000 + "n" + ")" * 2000, "nested too deeply"),
                ("-" * 2000 + "n", "nested too deeply"),
                ("n" + "+n" * 1500, "nested too deeply"),
                ("*" * 1000 + "huge", "nested too deeply"),
                ("[]" * 1500 + "int(n)", "nested too deeply"),
                ("1 << 17179869184", "constant shift overflow"),
                ("1 << 511 * (1 << 511)", "constant overflow"),
                ("9" * 4000, "constant overflow"),
                ("9" * 5000, "too long"),
                ('"\\xZZ"', "invalid string literal")]
        for expr, what in deep:
            assert what in error_of(c, "evaluate", {"expression": expr, "context": "repl"}), \
                expr[:40]
        # typed shifts by huge counts wrap as Go does, without building the number
        r = c.request("evaluate", {"expression": "n << 17179869184", "context": "repl"})
        assert r["body"]["result"] == "0"
        assert rss(pid) - before < RSS_GROWTH_LIMIT
        # conditions go through the same parser: a clear error, not a crash
        path, line = fixtures.line_of("hostile", "step_body")
        bp = c.request("setBreakpoints", {"source": {"path": path}, "breakpoints": [
            {"line": line, "condition": "(" * 500 + "i" + ")" * 500}]})["body"]
        assert len(bp["breakpoints"]) == 1
        assert c.request("evaluate", {"expression": "n + 1", "context": "repl"})[
            "body"]["result"] == "4"
        c.request("disconnect", {"terminateDebuggee": True})


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_undecodable_bodies_are_error_responses_and_the_session_lives(
        transport: str) -> None:
    """Numbers of more than 4,300 digits (Python's int parsing limit), anywhere in a body."""
    big = "9" * 5000
    with adapter(transport) as (c, _):
        initialize(c)
        bodies = [
            f'{{"seq": 50, "type": "request", "command": "stackTrace", '
            f'"arguments": {{"threadId": {big}}}}}',
            f'{{"seq": {big}, "type": "request", "command": "threads"}}',
            f'{{"seq": 51, "type": "request", "command": "threads", "x": [{big}, -{big}]}}',
        ]
        for body in bodies:
            data = body.encode()
            c.send_raw(b"Content-Length: %d\r\n\r\n%s" % (len(data), data))
        r = c.response(50)
        assert r["success"] is False and "must be an integer" in r["message"], r
        bad = c.wait_for(lambda m: m.get("type") == "response" and m["request_seq"] == 0)
        assert bad["success"] is False and "internal error" not in bad["message"]
        assert c.response(51)["success"] is True
        assert c.request("threads")["success"] is True  # still serving
        c.request("disconnect")


def test_nul_bytes_and_bad_names_in_launch_arguments_are_clear_errors() -> None:
    program = str(fixtures.build("hostile"))
    cases = [({"program": program + "\0x"}, "'program' must not contain a NUL byte"),
             ({"cwd": "/tmp\0"}, "'cwd' must not contain a NUL byte"),
             ({"args": ["a\0b"]}, "'args' must not contain a NUL byte"),
             ({"env": {"A": "b\0"}}, "'env' must not contain a NUL byte"),
             ({"env": {"A=B": "c"}}, "'env' has an invalid variable name"),
             ({"envFile": "/tmp/\0"}, "'envFile' must not contain a NUL byte"),
             ({"output": "o\0"}, "'output' must not contain a NUL byte")]
    for extra, what in cases:
        with DAPClient.spawn_stdio() as c:
            initialize(c)
            args = {"mode": "exec", "program": program, **extra}
            assert what in error_of(c, "launch", args), extra
            c.request("disconnect")
    with DAPClient.spawn_stdio() as c:
        initialize(c)
        assert "between 1 and" in error_of(c, "attach", {"processId": 2**70})
        assert "must be a process id" in error_of(c, "attach", {"processId": "9" * 5000})
        c.request("disconnect")
