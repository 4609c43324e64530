"""`dapgo trace --output FILE.json` (Chrome trace events) and `--stats`, on the tracee
fixture: the file is valid trace-event JSON, every call has its end, one track per
goroutine; latencies land where the program's sleeps put them."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import fixtures
import pytest

from .conftest import ROOT, dapgo_progs, trace_cmd

FUNCS = r"^main\.(add|greet|total|flag|withDefer|recovers|worker)$"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(trace_cmd(*args), capture_output=True, text=True, cwd=ROOT,
                          timeout=60)


def _load(path: Path) -> dict[str, Any]:
    doc = json.loads(path.read_text())
    assert isinstance(doc, dict) and isinstance(doc["traceEvents"], list)
    return doc


def check_trace_events(events: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """Assert the Chrome trace-event format's rules we rely on; return B/E events by tid.
    Every event has ph, pid, tid; B/E have name and a numeric ts that never goes back on a
    track; B/E nest properly per track (each E ends the innermost open B of its name); no
    B is left open; every track used has a thread_name."""
    tracks: dict[int, list[dict[str, Any]]] = {}
    named: set[int] = set()
    for ev in events:
        assert {"ph", "pid", "tid"} <= ev.keys(), ev
        assert isinstance(ev["pid"], int) and isinstance(ev["tid"], int)
        if ev["ph"] == "M":
            assert ev["name"] in ("process_name", "thread_name") and "name" in ev["args"]
            if ev["name"] == "thread_name":
                named.add(ev["tid"])
            continue
        assert ev["ph"] in ("B", "E"), ev
        assert isinstance(ev["name"], str) and isinstance(ev["ts"], (int, float))
        assert isinstance(ev.get("args", {}), dict)
        tracks.setdefault(ev["tid"], []).append(ev)
    for tid, evs in tracks.items():
        assert tid in named
        open_: list[dict[str, Any]] = []
        for prev, ev in zip([None, *evs], evs, strict=False):
            if prev is not None:
                assert ev["ts"] >= prev["ts"], (prev, ev)
            if ev["ph"] == "B":
                open_.append(ev)
            else:
                assert open_ and open_[-1]["name"] == ev["name"], ev
                open_.pop()
        assert not open_, f"goroutine {tid}: calls without an end: {open_}"
    return tracks


def test_chrome_trace_file(tracee: Path, tmp_path: Path) -> None:
    out = tmp_path / "trace.json"
    r = _run("--exec", str(tracee), "--output", str(out), FUNCS)
    assert r.returncode == 0, r.stderr
    assert "dapgo trace: 28 records delivered, 0 lost" in r.stderr
    assert "> goroutine(" not in r.stderr  # the calls went to the file
    doc = _load(out)
    tracks = check_trace_events(doc["traceEvents"])
    main = tracks[1]
    begins = [e for e in main if e["ph"] == "B"]
    assert [e["name"] for e in begins] == [
        "main.add", "main.greet", "main.greet", "main.total", "main.flag", "main.flag",
        "main.withDefer", "main.recovers"]
    assert begins[1]["args"] == {"name": '"gopher"', "times": "3"}
    ends = {e["name"]: e for e in main if e["ph"] == "E"}
    assert ends["main.withDefer"]["args"] == {"r0": "42"}
    # three workers, each on a track of its own, main.add nested inside main.worker
    workers = [tid for tid, evs in tracks.items() if tid != 1]
    assert len(workers) == 3
    for tid in workers:
        assert [(e["ph"], e["name"]) for e in tracks[tid]] == [
            ("B", "main.worker"), ("B", "main.add"), ("E", "main.add"), ("E", "main.worker")]
    assert doc["otherData"]["records_lost"] == 0
    assert dapgo_progs() == []


def test_a_call_a_panic_unwinds_still_ends(tracee: Path, tmp_path: Path) -> None:
    out = tmp_path / "unwind.json"
    r = _run("--exec", str(tracee), "--output", str(out), r"^main\.(catcher|thrower)$",
             "--", "unwind")
    assert r.returncode == 0, r.stderr
    main = check_trace_events(_load(out)["traceEvents"])[1]
    assert [(e["ph"], e["name"], e["args"]) for e in main] == [
        ("B", "main.catcher", {"x": "0"}), ("B", "main.thrower", {"x": "0"}),
        ("E", "main.thrower", {"r0": "0"}), ("E", "main.catcher", {"r0": "0"}),
        ("B", "main.catcher", {"x": "1"}), ("B", "main.thrower", {"x": "1"}),
        ("E", "main.thrower", {"unwound": True}), ("E", "main.catcher", {"r0": "-1"})]


def test_calls_still_running_at_ctrl_c_are_closed(tracee: Path, tmp_path: Path) -> None:
    """Ctrl-C while main.main runs: its B gets an E at the last timestamp, marked
    unfinished, and the file is complete."""
    out = tmp_path / "main.json"
    tr = subprocess.Popen(trace_cmd("--exec", str(tracee), "--output", str(out),
                                    r"^main\.(main|add)$", "--", "wait"),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert tr.stdout is not None
        assert tr.stdout.readline().startswith("tracee: waiting")
        time.sleep(0.3)
        tr.send_signal(signal.SIGINT)
        _, err = tr.communicate(timeout=30)
    finally:
        tr.kill()
    assert "records delivered, 0 lost" in err, err
    main = check_trace_events(_load(out)["traceEvents"])[1]
    assert main[0]["ph"] == "B" and main[0]["name"] == "main.main"
    assert main[-1]["ph"] == "E" and main[-1]["name"] == "main.main"
    assert main[-1]["args"] == {"unfinished": True}
    adds = [e for e in main if e["name"] == "main.add" and e["ph"] == "E"]
    assert len(adds) >= 3 and all("r0" in e["args"] or e["args"] == {"unfinished": True}
                                  for e in adds)
    assert dapgo_progs() == []


def _stats_rows(stderr: str) -> dict[tuple[str, str], list[str]]:
    """(function, key) -> [count, rate, p50, p90, p99, max, mean] of the --stats table."""
    out = {}
    for ln in stderr.splitlines():
        cols = ln.split()
        if cols and cols[0].startswith("main.") and len(cols) == 9:
            out[(cols[0], cols[1])] = cols[2:]
    return out


def test_stats_table(tracee: Path) -> None:
    r = _run("--exec", str(tracee), "--stats", r"^main\.(nap|catcher|thrower)$", "--",
             "naps")
    assert r.returncode == 0, r.stderr
    assert "> goroutine(" not in r.stderr  # a table, not a line per call
    assert "dapgo trace: 0 records delivered, 0 lost" in r.stderr  # counted in the kernel
    rows = _stats_rows(r.stderr)
    nap = rows[("main.nap", "(all)")]
    assert nap[0] == "10" and int(nap[1]) > 0
    # each nap sleeps 20 ms: every figure is at least that, and not far above
    for text in nap[2:]:
        m = re.fullmatch(r"([\d.]+)ms", text)
        assert m and 20 <= float(m.group(1)) < 60, nap
    assert not any(fn == "main.catcher" for fn, _ in rows)  # not called in this mode
    assert dapgo_progs() == []


def test_stats_by_label(tmp_path: Path) -> None:
    """--by-label team: the kernel reads each goroutine's pprof label at every RET."""
    binary = fixtures.build("metrics")
    r = subprocess.run(trace_cmd("--exec", str(binary), "--stats", "--by-label", "team",
                                 r"^main\.(handle|tick)$"), capture_output=True, text=True,
                       cwd=ROOT, timeout=60, input="\n\n")
    assert r.returncode == 0, r.stderr
    rows = _stats_rows(r.stderr)
    assert rows[("main.handle", "team=blue")][0] == "5"
    assert rows[("main.handle", "team=red")][0] == "3"
    assert rows[("main.tick", "team=(none)")][0] == "1000"  # main's goroutine has none


def test_stats_options_are_checked() -> None:
    r = _run("--by-label", "team", "--exec", "/bin/true", "x")
    assert r.returncode == 1 and "add --stats" in r.stderr
    r = _run("--stats", "--output", "x.json", "--exec", "/bin/true", "x")
    assert r.returncode == 1 and "without --output" in r.stderr


def test_debug_log_says_where_start_up_time_went(tracee: Path) -> None:
    """`dapgo --log-level DEBUG trace ...` logs each start-up step with its time; the BPF
    program is compiled on its own thread while the functions are matched."""
    from dapclient import DAPGO

    r = subprocess.run([DAPGO, "--log-level", "DEBUG", "trace", "--exec", str(tracee),
                        r"^main\.add$"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    steps = re.findall(r"dapgo\.trace: ([\d.]+) s: (.+)", r.stderr)
    names = [s for _, s in steps]
    for want in ("imported the engine", "opened the binary", "matched the functions",
                 "compiled the BPF program (on its own thread)", "attached 2 probes",
                 "started the program"):
        assert want in names, r.stderr
    times = [float(t) for t, _ in steps]
    assert times[names.index("started the program")] >= times[names.index("attached 2 probes")]


@pytest.mark.parametrize("go", [None, "1.21.13"], ids=["go-default", "go1.21-map-labels"])
def test_chrome_trace_carries_pprof_labels(tmp_path: Path, go: str | None) -> None:
    """Labels as metadata: each call made under pprof.Do has its goroutine's labels in the
    B event's args["pprof labels"], and the goroutine's track is named with them; calls on
    an unlabelled goroutine have none. Go <= 1.23 keeps labels in a map, later ones in a
    slice."""
    out = tmp_path / "labels.json"
    tr = subprocess.Popen(trace_cmd("--exec", str(fixtures.build("metrics", go=go)), "--output",
                                    str(out), r"^main\.(handle|tick)$"),
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert tr.stdin is not None and tr.stdout is not None
        assert tr.stdout.readline().startswith("metrics: ready")
        tr.stdin.write("\n")
        tr.stdin.flush()
        assert tr.stdout.readline().startswith("metrics: done")
        time.sleep(0.5)  # the program waits, alive, while the last records are read
        _, err = tr.communicate("\n", timeout=30)
    finally:
        tr.kill()
    assert tr.returncode == 0, err
    assert "without their pprof labels" not in err, err
    events = _load(out)["traceEvents"]
    tracks = check_trace_events(events)
    names = {ev["tid"]: ev["args"]["name"] for ev in events if ev["name"] == "thread_name"}
    calls: dict[str, int] = {}
    for tid, evs in tracks.items():
        begins = [e for e in evs if e["ph"] == "B"]
        fns = {e["name"] for e in begins}
        if fns == {"main.tick"}:  # main's goroutine: no labels
            assert len(begins) == 1000 and names[tid] == f"goroutine {tid}"
            assert not any("pprof labels" in e["args"] for e in begins)
            continue
        assert fns == {"main.handle"}, fns
        team = begins[0]["args"]["pprof labels"]["team"]
        assert all(e["args"]["pprof labels"] == {"team": team} for e in begins), begins
        assert all(e["args"]["d"] == "20000000" for e in begins), begins
        assert names[tid] == f"goroutine {tid} {{team={team}}}"
        calls[team] = len(begins)
    assert calls == {"red": 3, "blue": 5}
    assert dapgo_progs() == []
