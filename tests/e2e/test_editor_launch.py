"""End to end, over stdio and TCP, what an editor user clicks around a launch: build flags
quoted once as a shell would, Run Without Debugging (noDebug), a program reading stdin
from the user's terminal (runInTerminal), progress during a build, the Go toolchain named,
restart.

Real dapgo processes, real `go build`, the real tests/fixtures/editor program.
"""

from __future__ import annotations

import fixtures
import pytest

from .helpers import TRANSPORTS, exit_code, launch, output_text, session

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
