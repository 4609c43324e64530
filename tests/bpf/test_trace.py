"""`dapgo trace` end to end on the tracee fixture: calls, returns, goroutines, strings,
thousands of functions, loss accounting, cleanup, and Ctrl-C with --pid."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from .conftest import ROOT, dapgo_progs, trace_cmd, uprobe_events


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(trace_cmd(*args), capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)


def test_trace_calls_returns_goroutines(tracee: Path) -> None:
    before = uprobe_events()
    r = _run("--exec", str(tracee), r"^main\.(add|greet|total|flag|withDefer)$")
    assert r.returncode == 0, r.stderr
    # the program's own output passes through
    assert r.stdout.splitlines() == ["tracee: start", "tracee: end"]
    err = r.stderr.splitlines()
    assert "tracee: to stderr" in err
    assert "> goroutine(1): main.add(a=1, b=2)" in err
    assert ">> goroutine(1): main.add => (3)" in err
    assert '> goroutine(1): main.greet(name="gopher", times=3)' in err
    assert '>> goroutine(1): main.greet => ("hello gopher x3", nil)' in err
    assert '> goroutine(1): main.greet(name="x", times=-1)' in err
    assert any(re.fullmatch(r'>> goroutine\(1\): main\.greet => \("", error\(0x[0-9a-f]+\)\)',
                            ln) for ln in err)
    assert "> goroutine(1): main.total(xs=[]int len: 3, cap: 3, [1,2,3])" in err
    assert ">> goroutine(1): main.total => (6)" in err
    assert any(re.fullmatch(r"> goroutine\(1\): main\.flag\(ok=true, "
                            r"p=\(\*main\.Point\)\(0x[0-9a-f]+\)\)", ln) for ln in err)
    assert "> goroutine(1): main.flag(ok=false, p=nil)" in err
    # deferred closure doubles the named result before the RET: (20+1)*2
    assert ">> goroutine(1): main.withDefer => (42)" in err
    # three workers, each on its own goroutine (not main's), each call paired with its return
    workers = {}
    for ln in err:
        m = re.fullmatch(r"> goroutine\((\d+)\): main\.add\(a=(\d), b=100\)", ln)
        if m:
            workers[int(m.group(2))] = int(m.group(1))
    assert sorted(workers) == [1, 2, 3]
    assert len(set(workers.values())) == 3 and 1 not in workers.values()
    for i, g in workers.items():
        assert f">> goroutine({g}): main.add => ({i + 100})" in err
    assert "dapgo trace: 20 records delivered, 0 lost" in r.stderr
    assert dapgo_progs() == []
    assert uprobe_events() == before


def test_return_after_a_recovered_panic_is_reported_once(tracee: Path) -> None:
    """No probe on runtime.deferreturn call sites: after a recovered panic the frame goes on
    from that call and leaves through a RET, whose probe reports the final results."""
    r = _run("--exec", str(tracee), r"^main\.recovers$")
    assert r.returncode == 0, r.stderr
    err = r.stderr.splitlines()
    assert err.count("> goroutine(1): main.recovers(x=5)") == 1
    assert err.count(">> goroutine(1): main.recovers => (-5)") == 1
    assert "dapgo trace: 2 records delivered, 0 lost" in r.stderr


def test_trace_thousands_of_functions(tracee: Path) -> None:
    t0 = time.monotonic()
    r = _run("--exec", str(tracee), r"^main\.m\d{4}$", "--", "many")
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    err = r.stderr.splitlines()
    calls = [ln for ln in err if ln.startswith("> goroutine(1): main.m")]
    rets = [ln for ln in err if ln.startswith(">> goroutine(1): main.m")]
    assert len(calls) == 2000 and len(rets) == 2000
    assert "> goroutine(1): main.m1234(x=1)" in err
    assert ">> goroutine(1): main.m1234 => (1235)" in err
    assert "dapgo trace: 2000 functions, 4000 probes" in r.stderr
    assert "4000 records delivered, 0 lost" in r.stderr
    assert took < 20
    assert dapgo_progs() == []


def test_lost_records_are_counted_and_reported(tracee: Path) -> None:
    n = 200_000
    r = _run("--exec", str(tracee), "--buffer-pages", "1", r"^main\.hot$", "--", "hot",
             str(n))
    assert r.returncode == 0, r.stderr
    m = re.search(r"dapgo trace: (\d+) records delivered, (\d+) lost", r.stderr)
    assert m, r.stderr
    delivered, lost = int(m.group(1)), int(m.group(2))
    assert lost > 0 and "raise --buffer-pages" in r.stderr
    assert delivered + lost == 2 * n  # every hit is either delivered or counted
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith(("> ", ">> "))]
    assert len(lines) == delivered


def test_every_record_delivered_at_200k_hits(tracee: Path) -> None:
    n = 200_000
    r = _run("--exec", str(tracee), r"^main\.hot$", "--", "hot", str(n))
    assert r.returncode == 0, r.stderr
    assert f"dapgo trace: {2 * n} records delivered, 0 lost" in r.stderr


def test_sigint_with_pid_detaches_and_leaves_program_running(tracee: Path) -> None:
    prog = subprocess.Popen([str(tracee), "wait"], stdout=subprocess.PIPE, text=True)
    tr = None
    try:
        assert prog.stdout is not None
        assert prog.stdout.readline().startswith("tracee: waiting")
        tr = subprocess.Popen(trace_cmd("--pid", str(prog.pid), r"^main\.add$"), cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert tr.stderr is not None
        seen = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(seen) < 4:
            ln = tr.stderr.readline()
            if ln.startswith((">", ">>")):
                seen.append(ln.strip())
        assert len(seen) == 4, seen
        assert re.fullmatch(r"> goroutine\(1\): main\.add\(a=\d+, b=1\)", seen[0]) or \
            re.fullmatch(r">> goroutine\(1\): main\.add => \(\d+\)", seen[0])
        assert dapgo_progs(wait=0) != []
        tr.send_signal(signal.SIGINT)
        _out, rest = tr.communicate(timeout=15)
        assert tr.returncode == 0, rest
        assert "probes removed, program left running" in rest
        assert prog.poll() is None  # still running
        assert dapgo_progs() == []
        assert "dapgo" not in uprobe_events()
        time.sleep(0.1)
        assert prog.poll() is None
    finally:
        if tr is not None and tr.poll() is None:
            tr.kill()
        prog.kill()
        prog.wait()


def test_sigint_with_exec_stops_program_and_cleans_up(tracee: Path) -> None:
    tr = subprocess.Popen(trace_cmd("--exec", str(tracee), r"^main\.add$", "--", "wait"),
                          cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True)
    try:
        assert tr.stdout is not None
        line = tr.stdout.readline()
        assert line.startswith("tracee: waiting")
        child = int(line.split()[-1])
        time.sleep(0.2)
        os.kill(tr.pid, signal.SIGINT)
        _out, rest = tr.communicate(timeout=15)
        assert "probes removed" in rest
        assert not os.path.exists(f"/proc/{child}") or \
            Path(f"/proc/{child}/stat").read_text().split()[2] == "Z"
        assert dapgo_progs() == []
    finally:
        if tr.poll() is None:
            tr.kill()


def test_stack_includes_the_caller_of_a_frameless_leaf(tracee: Path) -> None:
    """main.leaf has no frame: at its entry the return address is at SP and BP is still
    its caller's, so the walk must not skip main.leafCaller."""
    r = _run("--exec", str(tracee), "--stack", "3", r"^main\.(leaf|leafCaller)$", "--",
             "extra")
    assert r.returncode == 0, r.stderr
    err = r.stderr.splitlines()

    def frames(header: str) -> list[str]:
        i = err.index(header)
        return [re.sub(r"^\s*\d+\s+0x[0-9a-f]+ in ", "", ln) for ln in err[i + 1:i + 7:2]]

    assert frames("> goroutine(1): main.leaf()") == ["main.leaf", "main.leafCaller",
                                                     "main.init.0"]
    assert frames(">> goroutine(1): main.leaf => ()") == ["main.leaf", "main.leafCaller",
                                                          "main.init.0"]
    assert frames("> goroutine(1): main.leafCaller(n=1)") == [
        "main.leafCaller", "main.init.0", "runtime.doInit1"]
    assert dapgo_progs() == []


def _one_error_line(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode != 0
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("dapgo trace: ")
    return lines[0]


def test_invalid_regex_is_one_line(tracee: Path) -> None:
    line = _one_error_line(_run("--exec", str(tracee), "main.(add"))
    assert "invalid regular expression" in line


def test_regex_matching_nothing_does_not_run_the_program(tracee: Path, tmp_path: Path) -> None:
    r = _run("--exec", str(tracee), r"^main\.nosuch$")
    line = _one_error_line(r)
    assert "no function matches" in line and "not run" in line
    assert r.stdout == ""  # the tracee never printed "tracee: start"
    assert dapgo_progs() == []


def test_pid_that_is_not_a_go_program(tracee: Path) -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        line = _one_error_line(_run("--pid", str(sleeper.pid), "main"))
        assert "not a Go program" in line
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()
    line = _one_error_line(_run("--pid", "999999999", "main"))
    assert "no process" in line


def test_missing_exec_file() -> None:
    line = _one_error_line(_run("--exec", "/nonexistent/prog", "main"))
    assert "/nonexistent/prog: no such file" in line


def test_build_error_in_package_mode(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module broken\n\ngo 1.21\n")
    (tmp_path / "main.go").write_text("package main\n\nfunc main() { undefinedThing() }\n")
    line = _one_error_line(_run(str(tmp_path), "main"))
    assert "building" in line and "failed" in line and "undefined" in line
