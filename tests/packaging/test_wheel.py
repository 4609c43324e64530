"""The wheel works: built from the checkout, installed (not editable) into a fresh virtualenv
made from Debian's python3 (bcc comes from Debian), and run from outside the checkout with a
clean environment: a DAP session whose logpoint is evaluated in the kernel, and
`dapgo trace`. The checkout's own dapgo and its .venv are never on the path."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

# No __init__.py here: this folder must not become a package named `packaging`.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import fixtures
from bpfcheck import bpf_unavailable
from dapclient import DAPClient
from e2e.helpers import exit_code, initialize, output_text

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's: its dist-packages hold bcc
PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"  # no .venv/bin

_NO_BPF = bpf_unavailable()
needs_bpf = pytest.mark.skipif(_NO_BPF is not None, reason=f"eBPF unavailable: {_NO_BPF}")


def _env(**extra: str) -> dict[str, str]:
    """A clean environment: no PYTHONPATH, no virtualenv, no checkout on PATH; pip's own
    settings (index, certificates, proxies) kept so installing from PyPI still works."""
    keep = {k: v for k, v in os.environ.items()
            if k.startswith("PIP_") or k.lower().endswith("_proxy")
            or k in ("HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "TERM")}
    return {**keep, "PATH": PATH, **extra}


def _checkout_files() -> list[str]:
    """The working tree as git sees it (tracked and new, not ignored), so the wheel is built
    from what is being tested, without writing build/ or *.egg-info into the checkout."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [f for f in out.split("\0") if f and (ROOT / f).is_file()]


@dataclass
class Install:
    venv: Path
    wheel: Path
    outside: Path  # a working directory outside the checkout
    env: dict[str, str]

    @property
    def dapgo(self) -> str:
        return str(self.venv / "bin" / "dapgo")


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> Install:
    base = tmp_path_factory.mktemp("wheel")
    src, dist, venv, outside = (base / d for d in ("src", "dist", "venv", "outside"))
    for f in _checkout_files():
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, src / f)
    outside.mkdir()
    env = _env(DAPGO_CACHE_DIR=str(base / "cache"))

    def run(*cmd: str | Path) -> None:
        r = subprocess.run([str(c) for c in cmd], cwd=outside, env=env, capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, f"{cmd}:\n{r.stdout}\n{r.stderr}"

    run(SYSTEM_PYTHON, "-m", "venv", "--system-site-packages", venv)
    pip = venv / "bin" / "pip"
    run(pip, "wheel", "--no-deps", "-q", "-w", dist, src)  # PEP 517, isolated build
    (wheel,) = dist.glob("dapgo-*.whl")
    run(pip, "install", "-q", wheel)  # dependencies from PyPI
    return Install(venv, wheel, outside, env)


def test_the_package_list_covers_the_tree() -> None:
    """pyproject.toml lists its packages (bpf/ is mapped to dapgo.bpf, which find cannot
    do): every Python package under dapgo/ must be in that list."""
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    tree = {str(d.relative_to(ROOT)).replace("/", ".") for d in (ROOT / "dapgo").rglob("*")
            if d.is_dir() and any(d.glob("*.py"))} | {"dapgo"}
    listed = set(conf["packages"])
    assert tree - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert listed - tree - {"dapgo.bpf"} == set(), \
        "remove these from [tool.setuptools] packages in pyproject.toml"
    assert "dapgo.bpf" in listed
    assert conf["package-dir"] == {"dapgo.bpf": "bpf"}
    assert (ROOT / "bpf" / "probe.bpf.c").is_file()


def test_the_wheel_holds_every_module_and_the_bpf_program(install: Install) -> None:
    names = set(zipfile.ZipFile(install.wheel).namelist())
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / "dapgo").rglob("*.py")}
    assert modules - names == set()
    assert "dapgo/bpf/probe.bpf.c" in names


def test_the_installed_dapgo_is_the_wheel_not_the_checkout(install: Install) -> None:
    probe = ("import json, site, dapgo\n"
             "from dapgo.engine.bpf import layout\n"
             "print(json.dumps({'dapgo': dapgo.__file__, 'c': str(layout.C_SOURCE),\n"
             "                  'site': site.getsitepackages()}))\n")
    r = subprocess.run([str(install.venv / "bin" / "python"), "-c", probe], cwd=install.outside,
                       env=install.env, capture_output=True, text=True, check=True)
    got = json.loads(r.stdout)
    site = Path(got["site"][0])
    assert site.is_relative_to(install.venv)
    assert Path(got["dapgo"]) == site / "dapgo" / "__init__.py"
    assert Path(got["c"]) == site / "dapgo" / "bpf" / "probe.bpf.c"
    assert Path(got["c"]).read_bytes() == (ROOT / "bpf" / "probe.bpf.c").read_bytes()
    assert not list(site.glob("__editable__*"))
    (direct_url,) = site.glob("dapgo-*.dist-info/direct_url.json")
    assert "archive_info" in json.loads(direct_url.read_text())  # a wheel, not a directory


@needs_bpf
def test_a_logpoint_session_from_the_wheel(install: Install) -> None:
    program = fixtures.build("logpoints")
    path, line = fixtures.line_of("logpoints", "visit_body")
    with DAPClient.spawn_stdio(executable=install.dapgo, env=install.env,
                               cwd=str(install.outside)) as c:
        initialize(c)
        c.request("launch", {"mode": "exec", "program": str(program), "args": ["3"]},
                  timeout=60)
        c.wait_event("initialized")
        bp = c.request("setBreakpoints", {
            "source": {"path": path},
            "breakpoints": [{"line": line, "logMessage": "i={i} name={it.Name}"}]},
            timeout=60)["body"]["breakpoints"][0]
        assert bp["verified"] is True
        c.request("configurationDone")
        assert exit_code(c, timeout=60) == 0
        console = output_text(c, "console")
        assert "evaluated with ptrace" not in console  # the probe ran in the kernel
        logged = [ln.split("] ", 1)[1] for ln in console.splitlines() if "name=" in ln]
        assert logged == ['i=0 name="one"', 'i=1 name="two"', 'i=2 name="one"'], console
        assert "logpoints: done" in output_text(c, "stdout")  # it ran to its end
        assert not c.events("stopped")
        assert c.violations == []


@needs_bpf
def test_trace_from_the_wheel(install: Install) -> None:
    tracee = fixtures.build("tracee")
    r = subprocess.run([install.dapgo, "trace", "--exec", str(tracee), r"^main\.add$"],
                       cwd=install.outside, env=install.env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    err = r.stderr.splitlines()
    assert "> goroutine(1): main.add(a=1, b=2)" in err
    assert ">> goroutine(1): main.add => (3)" in err
    assert re.search(r"dapgo trace: \d+ records delivered, 0 lost", r.stderr), r.stderr
    assert r.stdout.splitlines() == ["tracee: start", "tracee: end"]
