"""The command line: --listen parsing, and `dapgo doctor` on this machine."""

from __future__ import annotations

import subprocess

import pytest
from dapclient import DAPGO

from dapgo.doctor import Check, check_tracefs, run_checks
from dapgo.server import parse_listen


@pytest.mark.parametrize(("text", "expected"), [
    (":4711", ("127.0.0.1", 4711)),
    ("4711", ("127.0.0.1", 4711)),
    ("0.0.0.0:1", ("0.0.0.0", 1)),
    ("localhost:0", ("localhost", 0)),
    ("[::1]:4711", ("::1", 4711)),
])
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["", ":", "a:b", ":65536", ":-1", "host:"])
def test_parse_listen_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"\[HOST\]:PORT"):
        parse_listen(text)


def test_doctor_checks_this_machine() -> None:
    checks = run_checks()
    names = [c.name for c in checks]
    assert names == ["ptrace", "debug registers", "BPF syscall", "kernel", "tracefs",
                     "kernel headers", "bcc", "Go toolchain", "core files", "debuginfod"]
    assert [c.name for c in checks if c.required] == ["ptrace"]
    # The development machines provide everything (see /work/shared/ENVIRONMENT.md).
    assert all(c.ok for c in checks), checks


def test_doctor_command_output_and_status() -> None:
    p = subprocess.run([DAPGO, "doctor"], capture_output=True, text=True, timeout=60)
    lines = p.stdout.splitlines()
    assert p.returncode == 0, p.stdout + p.stderr
    assert len(lines) == 11
    assert all(line.startswith(("ok ", "MISSING")) for line in lines[:10])
    core_pattern = open("/proc/sys/kernel/core_pattern").read().strip()
    assert f"core_pattern {core_pattern!r}" in lines[8]


def test_doctor_says_whether_debuginfod_urls_is_set() -> None:
    import os
    env = {k: v for k, v in os.environ.items() if k != "DEBUGINFOD_URLS"}
    out = subprocess.run([DAPGO, "doctor"], capture_output=True, text=True, timeout=60,
                         env=env).stdout
    assert "DEBUGINFOD_URLS is not set" in out
    out = subprocess.run([DAPGO, "doctor"], capture_output=True, text=True, timeout=60,
                         env={**env, "DEBUGINFOD_URLS": "http://127.0.0.1:8002"}).stdout
    assert "DEBUGINFOD_URLS is set: http://127.0.0.1:8002" in out


def test_missing_items_print_a_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("dapgo.doctor.os.path.exists", lambda path: False)
    monkeypatch.setattr("dapgo.doctor.os.path.isdir", lambda path: False)
    c = check_tracefs()
    assert c == Check("tracefs", False, "no uprobe_events under /sys/kernel/tracing",
                      "mount -t tracefs nodev /sys/kernel/tracing")


def test_doctor_exit_status(monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    from dapgo import doctor

    missing_bpf = [Check("ptrace", True, "fine", required=True),
                   Check("BPF syscall", False, "EPERM", "run as root")]
    monkeypatch.setattr(doctor, "run_checks", lambda: missing_bpf)
    assert doctor.main() == 0
    out = capsys.readouterr().out
    assert "MISSING (degraded)  BPF syscall  EPERM; fix: run as root" in out
    assert "fall back to ptrace" in out

    no_ptrace = [Check("ptrace", False, "PTRACE_TRACEME failed: Operation not permitted",
                       "run as root", required=True)]
    monkeypatch.setattr(doctor, "run_checks", lambda: no_ptrace)
    assert doctor.main() == 1
    out = capsys.readouterr().out
    assert out.startswith("MISSING ") and "dapgo cannot debug here: ptrace missing" in out
