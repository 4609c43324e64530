"""Fuzzing a live stopped session (issue 18): mutated DAP requests, and frames whose bodies
do not decode, sent over stdio and TCP to a session stopped in a real Go program. Every
request is answered (undecodable frames with request_seq 0), never with an internal error;
the adapter's memory stays bounded; the session (and a fresh one) still answers afterwards.

Bounded and seeded: hypothesis draws from a fixed seed, a fixed number of batches.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import fixtures
import pytest
from dapclient import DAPClient, ListeningServer
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from .helpers import TRANSPORTS, top_frame
from .test_hostile_requests import launch_to_hold, rss

Message = dict[str, Any]
BATCHES = 12
BATCH = 30
RSS_GROWTH_LIMIT = 300 << 20

# requests that leave the program stopped where it is (no continue, step, disconnect)
COMMANDS = ["threads", "stackTrace", "scopes", "variables", "evaluate", "setBreakpoints",
            "setFunctionBreakpoints", "setExceptionBreakpoints", "dataBreakpointInfo",
            "setDataBreakpoints", "exceptionInfo", "setVariable", "pause", "initialize",
            "launch", "attach", "source", "loadedSources", "noSuchCommand", ""]

HUGE = [0, -1, 1, 2**31, 2**63, 2**64, -(2**63), 10**100, 10**4000, 10**5000, 1_000_000_000]
scalars = (st.none() | st.booleans() | st.sampled_from(HUGE) | st.integers()
           | st.floats(allow_nan=False, allow_infinity=False)
           | st.text(max_size=40) | st.sampled_from(["", "\0", "n", "huge", "long", "(((",
                                                    "1 << 99999", "a" * 5000, "main.total"]))
json_values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=4)
                           | st.dictionaries(st.text(max_size=12), kids, max_size=4),
                           max_leaves=12)


class Fuzzer:
    def __init__(self, c: DAPClient, refs: Message) -> None:
        self.c = c
        self.refs = refs  # real thread, frame and variable references to mutate from
        self.seq = 100_000
        self.sent: list[int] = []
        self.broken = 0  # frames that cannot decode: each answered with request_seq 0

    def valid_args(self, command: str) -> Message:
        r = self.refs
        return {
            "stackTrace": {"threadId": r["thread"], "startFrame": 0, "levels": 20},
            "scopes": {"frameId": r["frame"]},
            "variables": {"variablesReference": r["huge"], "filter": "indexed", "start": 0,
                          "count": 10},
            "evaluate": {"expression": "n + 1", "frameId": r["frame"], "context": "repl"},
            "setBreakpoints": {"source": {"path": r["path"]},
                               "breakpoints": [{"line": r["line"], "condition": "i > 1"}]},
            "setFunctionBreakpoints": {"breakpoints": [{"name": "main.cond"}]},
            "setExceptionBreakpoints": {"filters": ["panic"]},
            "dataBreakpointInfo": {"name": "total", "variablesReference": r["args"]},
            "setDataBreakpoints": {"breakpoints": []},
            "exceptionInfo": {"threadId": r["thread"]},
            "setVariable": {"variablesReference": r["args"], "name": "n", "value": "3"},
            "pause": {"threadId": r["thread"]},
            "initialize": {"adapterID": "go"},
        }.get(command, {})

    def frame(self, msg: Message) -> bytes:
        body = json.dumps(msg).encode()
        return b"Content-Length: %d\r\n\r\n" % len(body) + body

    def request(self, data: st.DataObject) -> None:
        command = data.draw(st.sampled_from(COMMANDS))
        args = self.valid_args(command)
        for key in list(args):
            how = data.draw(st.integers(0, 5))
            if how == 0:
                del args[key]
            elif how == 1:
                args[key] = data.draw(json_values)
        if data.draw(st.booleans()):
            args[data.draw(st.text(max_size=8))] = data.draw(json_values)
        self.seq += 1
        msg: Message = {"seq": self.seq, "type": "request", "command": command}
        shape = data.draw(st.integers(0, 9))
        if shape == 0:
            msg["arguments"] = data.draw(json_values)  # not even an object, perhaps
        elif shape != 1:
            msg["arguments"] = args
        if data.draw(st.integers(0, 9)) == 0:
            msg["command"] = data.draw(json_values)  # not a string, perhaps
        frame = self.frame(msg)
        if data.draw(st.integers(0, 7)) == 0:  # a body that cannot decode
            body = frame.split(b"\r\n\r\n", 1)[1]
            if data.draw(st.booleans()):
                body = body[:data.draw(st.integers(1, len(body) - 1))]  # cut: not JSON
            else:
                at = data.draw(st.integers(0, len(body)))
                body = body[:at] + b"\xff" + body[at:]  # not UTF-8
            self.c.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            self.broken += 1
            return
        self.c.send_raw(frame)
        self.sent.append(self.seq)


def stopped_session(c: DAPClient, tmp: Path) -> Message:
    stop = launch_to_hold(c, tmp)
    frame = top_frame(c, stop["threadId"])
    scopes = c.request("scopes", {"frameId": frame["id"]})["body"]["scopes"]
    args_ref = scopes[0]["variablesReference"]
    kids = c.request("variables", {"variablesReference": args_ref})["body"]["variables"]
    huge = next(v for v in kids if v["name"] == "huge")
    step_path, step_line = fixtures.line_of("hostile", "step_body")
    return {"thread": stop["threadId"], "frame": frame["id"], "args": args_ref,
            "huge": huge["variablesReference"], "path": step_path, "line": step_line}


def fuzz(c: DAPClient, pid: int, tmp: Path) -> None:
    old_limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)  # the fuzzer itself writes 5,000-digit numbers
    try:
        refs = stopped_session(c, tmp)
        before = rss(pid)
        fuzzer = Fuzzer(c, refs)

        @seed(18)
        @settings(max_examples=BATCHES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck),
                  phases=[Phase.generate])  # one live session: no replaying to shrink
        @given(st.data())
        def batch(data: st.DataObject) -> None:
            for _ in range(BATCH):
                fuzzer.request(data)

        batch()
        for s in fuzzer.sent:  # every request answered, none with an internal error
            r = c.response(s, timeout=60)
            assert "internal error" not in r.get("message", ""), r
        deadline = time.monotonic() + 30
        while True:
            bad = [m for m in c.messages if m.get("type") == "response"
                   and m.get("request_seq") == 0]
            if len(bad) >= fuzzer.broken or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert len(bad) >= fuzzer.broken, (len(bad), fuzzer.broken)
        assert all(not m["success"] and "internal error" not in m["message"] for m in bad)
        assert not c.violations, c.violations[:3]
        assert len(fuzzer.sent) + fuzzer.broken == BATCHES * BATCH
        assert rss(pid) - before < RSS_GROWTH_LIMIT
        # still answering
        assert c.request("threads")["success"] is True
        seq = c.send("initialize", {"adapterID": "go"})
        assert "internal error" not in c.response(seq).get("message", "")
    finally:
        sys.set_int_max_str_digits(old_limit)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_fuzzed_requests_against_a_stopped_session(transport: str, tmp_path: Path) -> None:
    if transport == "stdio":
        with DAPClient.spawn_stdio() as c:
            assert c.proc is not None
            fuzz(c, c.proc.pid, tmp_path)
            c.request("disconnect", {"terminateDebuggee": True})
        with DAPClient.spawn_stdio() as fresh:  # a fresh adapter starts as ever
            assert fresh.request("initialize", {"adapterID": "go"})["success"] is True
        return
    with ListeningServer() as server:
        with server.connect() as c:
            fuzz(c, server.proc.pid, tmp_path)
            c.request("disconnect", {"terminateDebuggee": True})
        with server.connect() as fresh:  # the same server serves a fresh session
            assert fresh.request("initialize", {"adapterID": "go"})["success"] is True
            fresh.request("disconnect")
        assert server.stop() == 0
