"""Real nvim-dap (0.7.0, unmodified, from ../shared/editors) in Debian's headless Neovim runs
dapgo with `console = 'integratedTerminal'`: nvim-dap's own runInTerminal starts the program
in its terminal buffer, what is typed there reaches the program, the program stops at a
breakpoint (it is debugged), and its exit code comes back.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import fixtures
import pytest
from dapclient import DAPGO

ROOT = Path(__file__).resolve().parents[2]
NVIM_DAP = ROOT.parent / "shared" / "editors" / "nvim-dap-0.7.0.tar.gz"
SCRIPT = Path(__file__).with_name("nvim_terminal.lua")


def test_nvim_dap_integrated_terminal(tmp_path: Path) -> None:
    nvim = shutil.which("nvim")
    if nvim is None:
        pytest.skip("nvim is not installed (apt-get install neovim)")
    if not NVIM_DAP.exists():
        pytest.skip(f"{NVIM_DAP} is missing (real editor clients live in ../shared/editors)")
    with tarfile.open(NVIM_DAP) as tar:
        tar.extractall(tmp_path)  # test data from ../shared/editors (see its README)
    plugin = next(tmp_path.glob("nvim-dap-*"))
    out = tmp_path / "out.json"
    path, line = fixtures.line_of("editor", "got_line")
    env = {**os.environ, "DAPGO_HARNESS_OUT": str(out), "DAPGO_PATH": DAPGO,
           "BP_FILE": path, "BP_LINE": str(line),
           "PROGRAM": str(fixtures.FIXTURES / "editor")}
    subprocess.run([nvim, "--headless", "--clean", "--cmd", f"set rtp^={plugin}",
                    "-c", f"luafile {SCRIPT}"], env=env, timeout=300, check=False,
                   capture_output=True)
    result = json.loads(out.read_text())
    assert "error" not in result, result
    assert result["stop_reason"] == "breakpoint" and result["top"] == "main.main"
    assert result["text"] == '"hello"'  # what was typed in nvim's terminal
    assert "editor: got HELLO 6" in result["screen"]
    assert result["exit_code"] == 3
