"""End to end, over stdio and TCP, what an editor user clicks around a launch: build flags
quoted once as a shell would, Run Without Debugging (noDebug), a program reading stdin
from the user's terminal (runInTerminal), progress during a build, the Go toolchain named,
restart.

Real dapgo processes, real `go build`, the real tests/fixtures/editor program.
"""

from __future__ import annotations

import signal

import fixtures
import pytest
from dapclient import DAPClient

from .helpers import (
    TRANSPORTS,
    Message,
    exit_code,
    initialize,
    launch,
    output_text,
    proc_status,
    session,
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
