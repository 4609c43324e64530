"""UNIT TESTS of the session and its handlers against a fake engine (see harness.py).

They check dispatch, argument checking, error responses, ordering of responses and events,
handle bookkeeping and shutdown; real engine behaviour is covered end to end elsewhere.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from dapgo.engine.errors import BuildError, DebuggerError
from dapgo.engine.model import (
    BreakpointChanged,
    BreakpointStatus,
    Continued,
    Exited,
    LaunchConfig,
    Output,
)
from dapgo.protocol.errors import ErrorId

from .harness import Harness


def run(scenario: Callable[[Harness], Awaitable[None]]) -> None:
    async def main() -> None:
        h = Harness()
        try:
            await scenario(h)
        finally:
            if not h.task.done():
                await h.finish()

    asyncio.run(main())


def frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def error_id(r: dict[str, Any]) -> int:
    return int(r["body"]["error"]["id"])


def test_initialize_capabilities_exact() -> None:
    async def s(h: Harness) -> None:
        r = await h.ok("initialize", {"adapterID": "go", "linesStartAt1": True})
        assert r["body"] == {
            "supportsConfigurationDoneRequest": True,
            "supportsFunctionBreakpoints": True,
            "supportsConditionalBreakpoints": True,
            "supportsHitConditionalBreakpoints": True,
            "supportsEvaluateForHovers": True,
            "supportsClipboardContext": True,
            "supportsSetVariable": True,
            "supportsLogPoints": True,
            "supportsTerminateRequest": True,
            "supportsRestartRequest": True,
            "supportsSteppingGranularity": True,
            "supportsDataBreakpoints": True,
            "supportTerminateDebuggee": True,
            "supportsDelayedStackTraceLoading": True,
            "supportsExceptionInfoRequest": True,
            "supportsDisassembleRequest": True,
            "supportsInstructionBreakpoints": True,
            "supportsReadMemoryRequest": True,
            "supportsWriteMemoryRequest": True,
            "exceptionBreakpointFilters": [
                {"filter": "panic", "label": "Unrecovered panics", "default": True},
                {"filter": "fatal", "label": "Fatal runtime errors", "default": True},
            ],
        }
        await asyncio.sleep(0.05)
        assert not [m for m in h.received if m.get("event") == "initialized"]
        r = await h.fail("initialize", {"adapterID": "go"})
        assert "already initialized" in r["message"]

    run(s)


def test_launch_maps_arguments_then_initialized_after_response() -> None:
    async def s(h: Harness) -> None:
        await h.ok("initialize", {"adapterID": "go"})
        seq = h.send("launch", {
            "program": "/src/prog", "mode": "test", "args": ["-v", "x y"],
            "env": {"A": "1", "B": None}, "cwd": "/tmp", "buildFlags": "-tags 'a b' -race",
            "output": "/tmp/out", "stopOnEntry": True, "type": "go", "name": "Launch",
            "__sessionId": "abc",
        })
        r = await h.response(seq)
        assert r["success"], r
        init = await h.event("initialized")
        assert h.index(r) < h.index(init)
        assert h.debugger.calls[0] == ("launch", (LaunchConfig(
            program="/src/prog", mode="test", args=("-v", "x y"),
            env=(("A", "1"), ("B", None)), cwd="/tmp", build_flags=("-tags", "a b", "-race"),
            output="/tmp/out"), True))

    run(s)


@pytest.mark.parametrize(("args", "needle"), [
    ({}, "argument 'program' is required"),
    ({"program": 3}, "argument 'program' must be a string"),
    ({"program": "p", "mode": "replay"}, "argument 'mode' is 'replay'"),
    ({"program": "p", "args": "a b"}, "argument 'args' must be a list of strings"),
    ({"program": "p", "env": {"A": 1}}, "argument 'env' must be an object"),
    ({"program": "p", "buildFlags": 5}, "argument 'buildFlags' must be a string or a list"),
    ({"program": "p", "stopOnEntry": "yes"}, "argument 'stopOnEntry' must be true or false"),
    ({"program": "p", "mode": "exec", "buildFlags": "-race"}, "cannot be used with mode"),
])
def test_launch_bad_arguments(args: dict[str, Any], needle: str) -> None:
    async def s(h: Harness) -> None:
        r = await h.fail("launch", args)
        assert needle in r["message"]
        assert r["message"].startswith("launch: ")
        assert error_id(r) == ErrorId.INVALID_ARGUMENTS
        assert r["body"]["error"]["showUser"] is True
        assert not h.debuggers  # nothing was started

    run(s)


def test_launch_nodebug_runs_without_an_initialized_event() -> None:
    async def s(h: Harness) -> None:
        await h.ok("initialize", {"adapterID": "go"})
        await h.ok("launch", {"program": "p", "noDebug": True,
                              "buildFlags": ["-ldflags=-X 'main.V=a b'", "-race"]})
        name, (cfg, _stop) = h.debugger.calls[0]
        assert name == "launch" and cfg.no_debug is True
        assert cfg.build_flags == ("-ldflags=-X 'main.V=a b'", "-race")  # a list: as given
        await asyncio.sleep(0.05)
        assert not [m for m in h.received if m.get("event") == "initialized"]

    run(s)


def test_engine_error_becomes_error_response_and_session_goes_on() -> None:
    async def s(h: Harness) -> None:
        r = await h.fail("launch", {"program": "/missing"})
        assert r["message"] == "program not found: /missing"
        assert r["body"]["error"] == {"id": ErrorId.FAILED_LAUNCH,
                                      "format": "program not found: /missing", "showUser": True}
        assert h.debuggers[0].calls[-1] == ("disconnect", (True,))  # cleaned up
        await asyncio.sleep(0.05)
        assert not [m for m in h.received if m.get("event") == "initialized"]
        await h.ok("launch", {"program": "/src/prog"})  # a new attempt works

    run(s)


def test_unknown_command_and_invalid_messages() -> None:
    async def s(h: Harness) -> None:
        r = await h.fail("frobnicate")
        assert r["command"] == "frobnicate" and error_id(r) == ErrorId.UNSUPPORTED_COMMAND
        h.raw(frame(b"[]"))
        h.raw(frame(b'{"seq":5,"type":"event","x":1}'))
        h.raw(b"Content-Length: x\r\n\r\n")
        h.raw(frame(b'{"type":"request","command":"threads"}'))
        seq = h.send("threads")
        r = await h.response(seq)
        errors = [m for m in h.received if isinstance(m, dict) and not m.get("success", True)]
        assert [e["request_seq"] for e in errors] == [1, 0, 5, 0, 0]
        assert "JSON array" in errors[1]["message"]
        assert "type 'request'" in errors[2]["message"]
        assert "invalid Content-Length" in errors[3]["message"]
        assert "no valid 'seq'" in errors[4]["message"]
        assert all(error_id(e) in (ErrorId.MALFORMED_MESSAGE, ErrorId.INVALID_REQUEST)
                   for e in errors[1:])
        assert r["success"] and r["body"] == {"threads": []}

    run(s)


def test_mistyped_arguments_object() -> None:
    async def s(h: Harness) -> None:
        h.raw(frame(b'{"seq":1,"type":"request","command":"x","arguments":[]}'))
        r = await h.response(1)
        assert "'arguments' of 'x' must be an object" in r["message"]

    run(s)


def test_requests_before_launch() -> None:
    async def s(h: Harness) -> None:
        r = await h.fail("setBreakpoints", {"source": {"path": "/a.go"}, "breakpoints": []})
        assert error_id(r) == ErrorId.NO_DEBUGGEE and "launch" in r["message"]
        await h.ok("setExceptionBreakpoints", {"filters": []})
        r = await h.fail("continue", {"threadId": 1})
        assert error_id(r) == ErrorId.NO_DEBUGGEE
        await h.ok("disconnect")
        await asyncio.wait_for(h.task, 2)
        assert h.closed

    run(s)


def test_breakpoints_roundtrip_and_line_base() -> None:
    async def s(h: Harness) -> None:
        await h.ok("initialize", {"adapterID": "go", "linesStartAt1": False})
        await h.ok("launch", {"program": "/src/prog"})
        r = await h.ok("setBreakpoints", {"source": {"path": "/src/main.go"},
                                          "breakpoints": [{"line": 9}, {"line": 998,
                                                                        "condition": "x > 1"}]})
        name, (path, specs) = h.debugger.calls[-1]
        assert name == "set_breakpoints" and path == "/src/main.go"
        assert [s.line for s in specs] == [10, 999] and specs[1].condition == "x > 1"
        assert r["body"]["breakpoints"] == [
            {"id": 1, "verified": True, "source": {"name": "main.go", "path": "/src/main.go"},
             "line": 9},
            {"id": 2, "verified": False, "source": {"name": "main.go", "path": "/src/main.go"},
             "line": 998, "message": "no code at line 999"},
        ]
        r = await h.fail("setBreakpoints", {"source": {"path": "/a.go"},
                                            "breakpoints": [{"line": "3"}]})
        assert "argument 'breakpoints[0].line' must be an integer" in r["message"]
        r = await h.fail("setBreakpoints", {"source": {"sourceReference": 4}})
        assert "argument 'source.path'" in r["message"]
        r = await h.ok("setFunctionBreakpoints", {"breakpoints": [{"name": "main.add"}]})
        assert r["body"]["breakpoints"][0]["id"] == 100
        r = await h.fail("setFunctionBreakpoints", {"breakpoints": [{}]})
        assert "argument 'breakpoints[0].name' is required" in r["message"]
        await h.ok("setExceptionBreakpoints", {"filters": []})
        assert h.debugger.calls[-1] == ("set_exception_breakpoints", ([],))

    run(s)


def test_continue_response_before_stopped_and_handles_reset() -> None:
    async def s(h: Harness) -> None:
        await h.start()
        done = await h.ok("configurationDone")
        entry = await h.event("stopped")
        assert h.index(done) < h.index(entry)
        assert entry["body"] == {"reason": "entry", "threadId": 1, "allThreadsStopped": True}

        st = await h.ok("stackTrace", {"threadId": 1})
        frames = st["body"]["stackFrames"]
        assert st["body"]["totalFrames"] == 5 and len(frames) == 5
        assert frames[0] == {"id": frames[0]["id"], "name": "f0", "line": 10, "column": 1,
                             "instructionPointerReference": "0x1000",
                             "source": {"name": "main.go", "path": "/src/main.go"}}
        assert frames[4]["line"] == 0 and "source" not in frames[4]
        sc = await h.ok("scopes", {"frameId": frames[2]["id"]})
        assert h.debugger.calls[-1] == ("scopes", (1, 2))
        locals_, empty = sc["body"]["scopes"]
        assert locals_["presentationHint"] == "locals" and empty["variablesReference"] == 0
        v = await h.ok("variables", {"variablesReference": locals_["variablesReference"]})
        p, xs, n = v["body"]["variables"]
        assert p["namedVariables"] == 2 and xs["indexedVariables"] == 3
        assert n == {"name": "n", "value": "1", "type": "int", "variablesReference": 0}
        assert h.debugger.calls[-1] == ("variables", (("locals", 1, 2), None, None))
        named = await h.ok("variables", {"variablesReference": xs["variablesReference"],
                                         "filter": "named"})
        assert named["body"]["variables"] == []
        await h.ok("variables", {"variablesReference": xs["variablesReference"],
                                 "filter": "indexed", "start": 1, "count": 2})
        assert h.debugger.calls[-1] == ("variables", (("xs", ("locals", 1, 2)), 1, 2))

        before = len(h.received)
        cont = h.send("continue", {"threadId": 1})
        r = await h.response(cont)
        assert r["body"] == {"allThreadsContinued": True}
        stopped = await h.wait(lambda m: m.get("event") == "stopped"
                               and h.received.index(m) >= before)
        assert h.index(r) < h.index(stopped)
        assert stopped["body"] == {"reason": "breakpoint", "threadId": 7,
                                   "allThreadsStopped": True, "hitBreakpointIds": [1],
                                   "description": "breakpoint 1"}
        r = await h.fail("variables", {"variablesReference": p["variablesReference"]})
        assert "valid only until the program resumes" in r["message"]
        r = await h.fail("scopes", {"frameId": frames[0]["id"]})
        assert "unknown frameId" in r["message"]

    run(s)


def test_stack_trace_paging() -> None:
    async def s(h: Harness) -> None:
        await h.start()
        r = await h.ok("stackTrace", {"threadId": 1, "startFrame": 3, "levels": 1})
        assert [f["name"] for f in r["body"]["stackFrames"]] == ["f3"]
        assert r["body"]["totalFrames"] == 5
        sc = await h.ok("scopes", {"frameId": r["body"]["stackFrames"][0]["id"]})
        assert sc and h.debugger.calls[-1] == ("scopes", (1, 3))
        r = await h.fail("stackTrace", {"threadId": 1, "levels": -1})
        assert "'levels' must be at least 0" in r["message"]

    run(s)


def test_not_stopped_error_id() -> None:
    async def s(h: Harness) -> None:
        await h.start()
        sc = await h.ok("scopes", {"frameId": (await h.ok(
            "stackTrace", {"threadId": 1}))["body"]["stackFrames"][0]["id"]})
        h.debugger.stopped = False
        r = await h.fail("variables",
                         {"variablesReference": sc["body"]["scopes"][0]["variablesReference"]})
        assert error_id(r) == ErrorId.NOT_STOPPED and r["message"] == "the program is running"

    run(s)


def test_engine_events_converted() -> None:
    async def s(h: Harness) -> None:
        await h.start()
        d = h.debugger
        d.emit(Output("stdout", "hello\n"))
        d.emit(BreakpointChanged(BreakpointStatus(3, True, "/a.go", 4)))
        d.emit(Continued(5))
        d.emit(Exited(3))
        term = await h.event("terminated")
        events = [m for m in h.received if isinstance(m, dict) and m["type"] == "event"
                  and m["event"] != "initialized"]
        assert [(e["event"], e.get("body")) for e in events] == [
            ("output", {"category": "stdout", "output": "hello\n"}),
            ("breakpoint", {"reason": "changed", "breakpoint": {
                "id": 3, "verified": True, "source": {"name": "a.go", "path": "/a.go"},
                "line": 4}}),
            ("continued", {"threadId": 5, "allThreadsContinued": True}),
            ("exited", {"exitCode": 3}),
            ("terminated", {}),
        ]
        seqs = [m["seq"] for m in h.received if isinstance(m, dict)]
        assert seqs == list(range(1, len(seqs) + 1))
        assert term

    run(s)


def test_pause_and_disconnect_get_through_a_long_launch() -> None:
    async def s(h: Harness) -> None:
        await h.ok("initialize", {"adapterID": "go"})
        h.send("launch", {"program": "/src/prog"})
        await asyncio.sleep(0.1)
        d = h.debugger
        assert d.calls[0][0] == "launch"  # blocked inside launch (release_launch is clear)
        queued = h.send("threads")  # serial: waits behind launch
        await h.ok("pause", {"threadId": 1})
        await asyncio.sleep(0.05)
        assert not any(isinstance(m, dict) and m.get("request_seq") == queued
                       for m in h.received)
        await h.ok("disconnect", {})
        assert ("disconnect", (True,)) in d.calls
        await asyncio.wait_for(h.task, 3)
        assert h.closed

    async def main() -> None:
        h = Harness()
        make = h._factory

        def factory(on_event: Any) -> Any:  # launch blocks until disconnect releases it
            d = make(on_event)
            d.release_launch.clear()
            return d

        h.session._factory = factory
        await s(h)

    asyncio.run(main())


def test_attach_arguments_and_disconnect_default_detaches() -> None:
    async def s(h: Harness) -> None:
        await h.ok("initialize", {"adapterID": "go"})
        r = await h.fail("attach", {"mode": "remote", "processId": 1})
        assert "remote" in r["message"] and "local" in r["message"]
        r = await h.fail("attach", {})
        assert "argument 'processId' is required" in r["message"]
        r = await h.fail("attach", {"processId": "abc"})
        assert "argument 'processId' must be a process id" in r["message"]
        r = await h.fail("attach", {"processId": True})
        assert "processId" in r["message"]
        await h.ok("attach", {"processId": "1234"})
        assert h.debugger.calls == [("attach", (1234,))]
        await h.event("initialized")
        await h.ok("disconnect")
        assert h.debugger.calls[-1] == ("disconnect", (False,))
        await asyncio.wait_for(h.task, 3)
        assert [c for c in h.debugger.calls if c[0] == "disconnect"] == [("disconnect",
                                                                           (False,))]

    run(s)


def test_disconnect_terminate_debuggee_override() -> None:
    async def s(h: Harness) -> None:
        await h.start()
        await h.ok("disconnect", {"terminateDebuggee": False})
        assert h.debugger.calls[-1] == ("disconnect", (False,))

    run(s)


def test_end_of_input_shuts_the_engine_down() -> None:
    async def s(h: Harness) -> None:
        await h.start()
        await h.finish()
        assert h.debugger.calls[-1] == ("disconnect", (True,))
        assert h.closed

    run(s)


def test_terminate() -> None:
    async def s(h: Harness) -> None:
        await h.start()
        await h.ok("terminate")
        assert h.debugger.calls[-1] == ("terminate", ())
        r = await h.fail("continue", {})
        assert "argument 'threadId' is required" in r["message"]

    run(s)


def test_build_error_message_passes_through() -> None:
    async def s(h: Harness) -> None:
        await h.start()
        h.debugger.fail["configuration_done"] = BuildError("# main\n./x.go:3: undefined: y")
        r = await h.fail("configurationDone")
        assert r["message"] == "# main\n./x.go:3: undefined: y"
        assert error_id(r) == ErrorId.ENGINE_ERROR

    run(s)


def test_unexpected_exception_is_internal_error(caplog: pytest.LogCaptureFixture) -> None:
    async def s(h: Harness) -> None:
        await h.start()
        h.debugger.fail["threads"] = KeyError("boom")
        r = await h.fail("threads")
        assert error_id(r) == ErrorId.INTERNAL and "KeyError" in r["message"]
        assert "Traceback" in caplog.text
        await h.ok("setExceptionBreakpoints", {"filters": []})  # still serving

    run(s)


def _respond(h: Harness, request: dict[str, Any], success: bool, **extra: Any) -> None:
    body = json.dumps({"seq": 900 + request["seq"], "type": "response", "success": success,
                       "request_seq": request["seq"], "command": request["command"],
                       **extra}).encode()
    h.raw(frame(body))


def test_run_in_terminal_reverse_request_answered_and_refused() -> None:
    """The engine asks for a terminal from its own thread; the session sends the reverse
    request at once (while launch is still being handled) and routes the client's answer
    back by request_seq; a refusal becomes a DebuggerError; stray responses are ignored."""
    async def s(h: Harness) -> None:
        await h.ok("initialize", {"adapterID": "go", "supportsRunInTerminalRequest": True})
        await h.ok("launch", {"program": "p", "console": "integratedTerminal",
                              "env": {"A": "1"}})
        terminal = h.debugger.terminal
        assert terminal is not None
        fut = terminal(["/bin/echo", "x"], "/tmp", {"A": "1"})
        req = await h.wait(lambda m: m.get("type") == "request")
        assert req["command"] == "runInTerminal"
        assert req["arguments"] == {"kind": "integrated", "title": "dapgo: p", "cwd": "/tmp",
                                    "args": ["/bin/echo", "x"], "env": {"A": "1"}}
        h.raw(frame(json.dumps({"seq": 77, "type": "response", "success": True,
                                "request_seq": 12345, "command": "runInTerminal"}).encode()))
        _respond(h, req, True, body={"processId": 42})
        assert await asyncio.wrap_future(fut) is None
        fut = terminal(["/bin/false"], "/", {})
        req = await h.wait(lambda m: m.get("type") == "request" and m["arguments"]["args"]
                           == ["/bin/false"])
        _respond(h, req, False, message="no terminal")
        with pytest.raises(DebuggerError, match="no terminal"):
            await asyncio.wrap_future(fut)
        await h.ok("threads")  # still serving

    run(s)


def test_terminal_console_without_client_support_says_so() -> None:
    async def s(h: Harness) -> None:
        await h.ok("initialize", {"adapterID": "go"})
        await h.ok("launch", {"program": "p", "console": "externalTerminal"})
        assert h.debugger.terminal is None
        out = await h.wait(lambda m: m.get("event") == "output")
        assert "runInTerminal" in out["body"]["output"]
        r = await h.fail("launch", {"program": "p", "console": "tty"})
        assert "console" in r["message"]

    run(s)
