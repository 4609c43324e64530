"""Stress, end to end: one session driven by several client threads at once.

A real Go program (tests/fixtures/stress) is attached to over TCP (`dapgo --listen`, so the
server outlives the session and whatever it leaks stays visible), then several client
threads share the one connection for a bounded number of requests:

* the controller resumes (continue, next) and checks every stop it sees;
* a pauser sends `pause` at random moments;
* a breakpoint editor toggles conditional breakpoints (conditions the kernel can filter, and
  one it cannot) and edits a logpoint's message;
* a watcher turns a data breakpoint on `main.counter` on and off;
* an inspector asks for threads, stacks, scopes, variables and evaluates expressions.

What must hold, checked only through DAP, /proc and the kernel:

* every request gets exactly one response within a timeout, and no response is an
  "internal error" (failing with a message, e.g. "the program is running", is fine);
* every `stopped` event has a reason that fits (a pause only when one was asked for after
  the last resume was sent, a step only after `next`, on the stepped goroutine), a threadId
  that `threads` lists, and all of the program's threads are in tracing stop (`t`);
  a breakpoint stop is at its breakpoint's line with its condition true there; a data
  breakpoint stop is in the writer, after a write that changed the value;
* no stop is lost: after each resume a `stopped` event comes, or the program is seen
  running (/proc shows a thread not in tracing stop); a `pause` answered while the program
  runs is followed by a `stopped` event. Half the resumes, and the controller's own pauses,
  are "checked": the other threads hold their requests until the outcome is seen, so that
  no later request (a setBreakpoints halts and resumes the program) can restart a program
  that was left stopped and hide the lost stop;
* logpoint output is one of the messages set on that line, rendered from that message's
  own values;
* the run ends the same way every time: every kind of breakpoint set, with conditions in
  the kernel that hold on most calls (probes fire all through the detach), then
  `disconnect` (terminateDebuggee false). Then the program runs on untraced (TracerPid 0,
  no thread stopped), its code is the binary's own (no int3 of a breakpoint or a uprobe
  left), no BPF program of dapgo stays loaded, DR7 is zero on every thread, and it ends by
  itself with exit code 0 (a debug register left armed would kill it with SIGTRAP at its
  next write of the watched global) and a complete numbered output.

Failures are collected, not raised at the first one, and reported grouped by kind with the
seed (DAPGO_STRESS_SEED), the counts of requests and stops, and (not a check) the error
lines of the server's log. DAPGO_STRESS_OPS (3000) and DAPGO_STRESS_SECONDS (40) bound the
run; it takes about 35 s on two cores.

A reused logpoint whose message is edited (to an invalid one, and back) is tested at the end.
"""

from __future__ import annotations

import os
import random
import re
import signal
import struct
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fixtures
import pytest
from dapclient import DAPClient, ListeningServer

from .helpers import initialize, launch, mark, proc_status
from .test_kernel_breakpoints import bpf_ready, dapgo_programs
from .test_watchpoints import _dr7_of_every_thread

pytestmark = pytest.mark.skipif(bpf_ready() is not None, reason=str(bpf_ready()))

Message = dict[str, Any]
FIXTURE = "stress"
SEED = int(os.environ.get("DAPGO_STRESS_SEED", "20261129"))
OPS = int(os.environ.get("DAPGO_STRESS_OPS", "3000"))
SECONDS = float(os.environ.get("DAPGO_STRESS_SECONDS", "40"))
REQUEST_TIMEOUT = 20.0  # every request is answered within this, success or error
STOP_TIMEOUT = 5.0  # a step, or a pause of a running program, is reported within this
HALT_WINDOW = 3.0  # every thread in tracing stop this long, with no stopped event: lost
RUNNING_SEEN = 0.2  # after a checked resume: seen running this long, the program runs

# One condition per line, never changed: a breakpoint id stands for one (line, condition).
# The first three are for the kernel (ints, ==, <, >, &&); the last needs arithmetic, so it
# is evaluated with ptrace.
CONDITIONS = {
    "cond_a": "k == 500 && id == 1",
    "cond_b": "id == 2 && k > 990",
    "cond_c": "id == 3 && k < 5",
    "slow_line": "n % 3 == 0",
}
# At the end, before disconnect: conditions that hold on most calls, so that probes fire
# all through the detach (none may reach the program once it runs untraced).
END_CONDITIONS = {
    "cond_a": "k >= 0 && id == 1",
    "cond_b": "id >= 0",
    "cond_c": "k < 1000",
    "slow_line": "n % 1 == 0",
}
LOG_LINE = "log_line"


def _ok_id_k(m: re.Match[str]) -> bool:
    return 0 <= int(m["id"]) <= 3 and 0 <= int(m["k"]) <= 999


def _ok_v_k(m: re.Match[str]) -> bool:
    return 0 <= int(m["v"]) - int(m["k"]) <= 3  # v = k + id


# The logpoint's messages (the editor switches between them) and what each must print; the
# values at the log line: id in 0..3, k in 0..999, ok is true, v == k + id. A record made
# under one message and rendered with another fails these (id and k swap places, say).
LOG_MESSAGES: dict[str, tuple[re.Pattern[str], Callable[[re.Match[str]], bool]]] = {
    "@A id={id} k={k}": (re.compile(r"@A id=(?P<id>-?\d+) k=(?P<k>-?\d+)"), _ok_id_k),
    "@E k={k} id={id}": (re.compile(r"@E k=(?P<k>-?\d+) id=(?P<id>-?\d+)"), _ok_id_k),
    "@B ok={ok} id={id}": (re.compile(r"@B ok=(?P<ok>\w+) id=(?P<id>-?\d+)"),
                           lambda m: m["ok"] == "true" and 0 <= int(m["id"]) <= 3),
    "{{@V}} v={v} k={k}": (re.compile(r"\{@V\} v=(?P<v>-?\d+) k=(?P<k>-?\d+)"), _ok_v_k),
}
# where a logpoint's text starts in a console line (whatever the engine puts before it)
LOG_TAG = re.compile(r"(@A|@E|@B|\{@V\}) .*")


def line(marker: str) -> int:
    return fixtures.line_of(FIXTURE, marker)[1]


def source_path() -> str:
    return fixtures.line_of(FIXTURE, "cond_a")[0]


# ----- the program, seen from /proc and the kernel -----

def thread_states(pid: int) -> dict[int, str]:
    """State letter of every thread (R, S, D, t for tracing stop, T for stopped, Z...)."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return {}
    for tid in tids:
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        out[int(tid)] = stat.rsplit(")", 1)[1].split()[0]
    return out


def all_in_tracing_stop(states: dict[int, str]) -> bool:
    live = [s for s in states.values() if s not in ("Z", "X")]
    return bool(live) and all(s == "t" for s in live)


def tracer_pids(pid: int) -> dict[int, str]:
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        for text in Path(f"/proc/{pid}/task/{tid}/status").read_text().splitlines():
            if text.startswith("TracerPid:"):
                out[int(tid)] = text.split(":", 1)[1].strip()
    return out


def code_differences(pid: int, exe: Path) -> list[str]:
    """Where the program's executable segments differ from the binary's bytes (an int3 of
    a breakpoint, or of a uprobe, left behind)."""
    data = exe.read_bytes()
    assert data[:4] == b"\x7fELF" and struct.unpack_from("<H", data, 16)[0] == 2  # ET_EXEC
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    diffs: list[str] = []
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for i in range(phnum):
            p_type, flags, offset, vaddr, _pa, filesz, _memsz = struct.unpack_from(
                "<IIQQQQQ", data, phoff + i * phentsize)
            if p_type != 1 or not flags & 1:  # PT_LOAD, PF_X
                continue
            mem.seek(vaddr)
            live = mem.read(filesz)
            want = data[offset:offset + filesz]
            if live != want:
                at = [vaddr + j for j in range(min(len(live), len(want))) if live[j] != want[j]]
                diffs.extend(f"{a:#x}: {want[a - vaddr]:#04x} in the binary, "
                             f"{live[a - vaddr]:#04x} in the program" for a in at[:10])
    return diffs


def program_output(path: Path) -> list[str]:
    return path.read_text().splitlines()


def missing_output(lines: list[str]) -> list[str]:
    """What is wrong with the program's output: `stress: ready`, `line 0` ... `line N-1`,
    `done N`, each exactly once, in order."""
    problems = []
    if not lines or lines[0] != "stress: ready":
        problems.append(f"first line {lines[:1]!r}")
    numbered = lines[1:-1]
    for i, text in enumerate(numbered):
        if text != f"line {i}":
            problems.append(f"line {i + 1} is {text!r}, not 'line {i}'")
            break
    if not lines or lines[-1] != f"done {len(numbered)}":
        problems.append(f"last line {lines[-1:]!r}, not 'done {len(numbered)}'")
    return problems


# ----- the client side -----

@dataclass
class Pause:
    sent: float
    answered: float | None = None


@dataclass
class Resume:
    command: str
    sent: float
    thread_id: int | None = None


@dataclass
class Known:
    """Breakpoint ids the server gave, and what each stands for."""

    lines: dict[int, str] = field(default_factory=dict)  # id -> marker
    data: set[int] = field(default_factory=set)
    pending: dict[int, list[str]] = field(default_factory=dict)  # setBreakpoints seq -> markers
    pending_data: list[int] = field(default_factory=list)  # setDataBreakpoints seqs


class Stress:
    def __init__(self, c: DAPClient, pid: int, exe: Path, output: Path) -> None:
        self.c = c
        self.pid = pid
        self.exe = exe
        self.output = output
        self.lock = threading.Lock()
        self.failures: list[str] = []
        self.fatal = threading.Event()  # the session cannot go on: stop hammering
        self.done = threading.Event()
        self.gate = threading.Event()  # closed: requests but the controller's wait
        self.gate.set()
        self.ops = 0
        self.deadline = time.monotonic() + SECONDS
        self.counts: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.stops: Counter[str] = Counter()
        self.pauses: list[Pause] = []
        self.known = Known()
        self.data_id: str | None = None
        self.last_counter = 0
        self.path = source_path()

    # ---- bookkeeping ----

    def fail(self, what: str, fatal: bool = False) -> None:
        with self.lock:
            self.failures.append(what)
        if fatal:
            self.fatal.set()
            self.done.set()

    def running(self) -> bool:
        if self.done.is_set():
            return False
        if self.ops >= OPS or time.monotonic() > self.deadline:
            self.done.set()
            return False
        return True

    def call(self, command: str, args: Message | None = None,
             before: Callable[[int], None] | None = None, gated: bool = False,
             timeout: float = REQUEST_TIMEOUT) -> Message | None:
        """Send a request and wait for its one response; None (and a failure) if none
        came. An error response must say why, and never be an internal error. A `gated`
        request waits while the controller holds the others back (None if the run ends)."""
        if gated:
            while not self.gate.wait(0.05):
                if self.done.is_set():
                    return None
        with self.lock:
            self.ops += 1
        seq = self.c.send(command, args)
        if before is not None:
            before(seq)
        try:
            resp = self.c.response(seq, timeout)
        except TimeoutError:
            states = thread_states(self.pid)
            self.fail(f"{command} {args} (seq {seq}) got no response within {timeout}s; "
                      f"thread states {sorted(set(states.values()))}", fatal=True)
            return None
        if resp.get("command") != command:
            self.fail(f"the response to {command} (seq {seq}) is for {resp.get('command')}")
        with self.lock:
            self.counts[f"{command} {'ok' if resp.get('success') else 'error'}"] += 1
        if resp.get("success"):
            return resp
        text = resp.get("message") or ""
        fmt = resp.get("body", {}).get("error", {}).get("format", "")
        if not text and not fmt:
            self.fail(f"{command} {args} failed without a message: {resp}")
        if "internal error" in f"{text} {fmt}".lower():
            self.fail(f"{command} {args}: {text or fmt}")
        with self.lock:
            self.errors[f"{command}: {re.sub(r'[0-9]+', 'N', text or fmt)[:90]}"] += 1
        return resp

    def ok(self, command: str, args: Message | None = None, why: str = "") -> Message | None:
        """A request that must succeed here."""
        resp = self.call(command, args)
        if resp is not None and not resp.get("success"):
            self.fail(f"{command} {args} failed{why}: {resp.get('message')}")
            return None
        return resp

    # ---- events, for the controller ----

    def next_event(self, cursor: int, timeout: float) -> tuple[Message | None, int]:
        """The next stopped/exited/terminated event at or after `cursor`, within `timeout`."""
        names = ("stopped", "exited", "terminated")
        try:
            index = self.c.wait_index(
                lambda m: m.get("type") == "event" and m.get("event") in names, timeout,
                "stop", after=cursor)
        except TimeoutError:
            return None, cursor
        return self.c.messages[index], index + 1

    # ---- what breakpoint ids stand for ----

    def marker_of(self, bp_id: int) -> str | None:
        for _ in range(20):  # its thread may not have noted the request's seq yet
            self.resolve()
            with self.lock:
                if bp_id in self.known.lines:
                    return self.known.lines[bp_id]
            time.sleep(0.05)
        return None

    def data_ids(self, wanted: list[int]) -> set[int]:
        for _ in range(20):
            self.resolve()
            with self.lock:
                if set(wanted) <= self.known.data:
                    break
            time.sleep(0.05)
        with self.lock:
            return set(self.known.data)

    def resolve(self) -> None:
        """Take in setBreakpoints/setDataBreakpoints responses that came but that their
        threads may not have read yet (the stop they cause can be seen first)."""
        with self.lock:
            for seq, markers in list(self.known.pending.items()):
                resp = self.c.answered(seq)
                if resp is not None:
                    del self.known.pending[seq]
                    if resp.get("success"):
                        for m, bp in zip(markers, resp["body"]["breakpoints"], strict=False):
                            self.known.lines[bp["id"]] = m
            for seq in list(self.known.pending_data):
                resp = self.c.answered(seq)
                if resp is not None:
                    self.known.pending_data.remove(seq)
                    if resp.get("success"):
                        self.known.data.update(b["id"] for b in resp["body"]["breakpoints"]
                                               if "id" in b)

    # ---- the controller: resumes, and checks every stop ----

    def controller(self) -> None:
        rng = random.Random(f"{SEED}-controller")
        cursor = mark(self.c)
        last = Resume("configurationDone", time.monotonic())
        self.gate.clear()
        self.ok("configurationDone")
        checked, nexts = True, 0
        while not self.fatal.is_set():
            ev, cursor = self.after_resume(cursor, last, checked, rng)
            if ev is None:
                return  # a lost stop, said
            if ev["event"] != "stopped":
                self.fail(f"the program ended during the test: {ev}", fatal=True)
                return
            body: Message = ev["body"]
            self.stops[body.get("reason", "?")] += 1
            self.check_stop(body, last)
            # nothing else may stop now: a second stopped event before the next resume
            extra, _ = self.next_event(cursor, 0)
            if extra is not None and extra["event"] == "stopped":
                self.fail(f"a second stopped event {extra['body']} came after {body}, with "
                          "no resume between them")
            if not self.running():
                return
            thread_id = body.get("threadId")
            command = "continue"
            if (body.get("reason") in ("breakpoint", "data breakpoint", "step") and nexts < 3
                    and rng.random() < 0.3):
                command = "next"
            # half the resumes are checked: the other requests wait until the program is
            # seen running (or stopped again), so nothing can restart a program that halted
            # silently, and the halt is seen
            checked = rng.random() < 0.5
            if checked:
                self.gate.clear()
            resume = Resume(command, time.monotonic(), thread_id)
            resp = self.call(command, {"threadId": thread_id or 1})
            if resp is None:
                return
            if not resp["success"] and command == "next":  # e.g. not running on a thread
                resume = Resume("continue", time.monotonic(), thread_id)
                resp = self.call("continue", {"threadId": thread_id or 1})
                if resp is None:
                    return
            if not resp["success"]:
                self.fail(f"{resume.command} refused at a stop: {resp.get('message')}",
                          fatal=True)
                return
            nexts = nexts + 1 if resume.command == "next" else 0
            last = resume

    def states_summary(self) -> str:
        return str(sorted(Counter(thread_states(self.pid).values()).items()))

    def after_resume(self, cursor: int, last: Resume, checked: bool,
                     rng: random.Random) -> tuple[Message | None, int]:
        """The stop that follows a resume. None: a lost stop (said)."""
        if checked:
            try:
                ev, cursor = self.stop_or_running(cursor, last)
            finally:
                self.gate.set()
            if ev is not None or self.fatal.is_set():
                return ev, cursor
        if last.command == "next":
            ev, cursor = self.next_event(cursor, STOP_TIMEOUT)
            if ev is not None:
                return ev, cursor
            self.fail(f"next on goroutine {last.thread_id} was answered, and no stopped event "
                      f"came within {STOP_TIMEOUT}s; thread states {self.states_summary()}")
        else:
            ev, cursor = self.next_event(cursor, rng.uniform(0.05, 0.5))
            if ev is not None:
                return ev, cursor
        # still running: pause it, the other requests held back meanwhile
        self.gate.clear()
        try:
            pause = Pause(time.monotonic())
            with self.lock:
                self.pauses.append(pause)
            resp = self.ok("pause", {"threadId": 1})
            pause.answered = time.monotonic()
            if resp is None:
                return None, cursor
            ev, cursor = self.next_event(cursor, STOP_TIMEOUT)
            if ev is None:
                self.fail(f"lost stop: pause answered while the program ran ({last.command} "
                          f"before it), and no stopped event came within {STOP_TIMEOUT}s; "
                          f"thread states {self.states_summary()}", fatal=True)
            return ev, cursor
        finally:
            self.gate.set()

    def stop_or_running(self, cursor: int, last: Resume) -> tuple[Message | None, int]:
        """Right after a resume, with the other requests held back: a stopped event, or the
        program seen running for RUNNING_SEEN s (then None). Every thread in tracing stop
        for HALT_WINDOW s with no stopped event is a lost stop (fatal)."""
        start = time.monotonic()
        halted_since: float | None = None
        size = self.output.stat().st_size
        while True:
            ev, cursor = self.next_event(cursor, 0.01)
            if ev is not None:
                return ev, cursor
            now = time.monotonic()
            if all_in_tracing_stop(thread_states(self.pid)):
                halted_since = halted_since or now
                if now - halted_since > HALT_WINDOW:
                    grew = self.output.stat().st_size - size
                    self.fail(f"lost stop: {last.command} was answered, and every thread of "
                              f"the program has been in tracing stop for {HALT_WINDOW}s with "
                              f"no stopped event (its output grew {grew} bytes since)",
                              fatal=True)
                    return None, cursor
            else:
                halted_since = None
                if now - start >= RUNNING_SEEN:
                    return None, cursor

    def check_stop(self, body: Message, last: Resume) -> None:
        reason = body.get("reason")
        thread_id = body.get("threadId")
        where = f"stop {body} after {last.command}"
        states = thread_states(self.pid)
        if not all_in_tracing_stop(states):
            self.fail(f"{where}: the session says stopped, but threads run: "
                      f"{sorted(Counter(states.values()).items())}")
        resp = self.ok("threads", None, f" at {where}")
        if resp is not None:
            ids = [t["id"] for t in resp["body"]["threads"]]
            if thread_id not in ids:
                self.fail(f"{where}: threadId {thread_id} is not among the {len(ids)} threads "
                          f"`threads` lists")
        frames = self.ok("stackTrace", {"threadId": thread_id, "levels": 20}, f" at {where}")
        top: Message | None = frames["body"]["stackFrames"][0] if frames else None
        if top is not None:
            scopes = self.ok("scopes", {"frameId": top["id"]}, f" at {where}")
            for scope in (scopes["body"]["scopes"] if scopes else [])[:1]:
                self.ok("variables", {"variablesReference": scope["variablesReference"]},
                        f" at {where}")
        if reason == "pause":
            with self.lock:
                asked = any(p.answered is None or p.answered > last.sent for p in self.pauses)
            if not asked:
                self.fail(f"{where}: reason pause, but every pause was answered before "
                          f"the {last.command} was sent")
        elif reason == "step":
            if last.command != "next":
                self.fail(f"{where}: reason step, but the last resume was {last.command}")
            elif thread_id != last.thread_id:
                self.fail(f"{where}: the step was on goroutine {last.thread_id}")
        elif reason == "breakpoint":
            self.check_breakpoint_stop(body, top, where)
        elif reason == "data breakpoint":
            self.check_data_stop(body, top, where)
        else:
            self.fail(f"{where}: unexpected reason {reason!r}")

    def evaluate(self, expression: str, frame_id: int, where: str) -> str | None:
        resp = self.ok("evaluate", {"expression": expression, "frameId": frame_id,
                                    "context": "watch"}, f" at {where}")
        return resp["body"]["result"] if resp else None

    def check_breakpoint_stop(self, body: Message, top: Message | None, where: str) -> None:
        ids = body.get("hitBreakpointIds") or []
        if not ids:
            at = f"{top.get('name')} line {top.get('line')}" if top else "?"
            self.fail(f"{where}: a breakpoint stop names no breakpoint (top frame {at})")
            return
        for bp_id in ids:
            marker = self.marker_of(bp_id)
            if marker is None:
                self.fail(f"{where}: breakpoint {bp_id} was never set")
                continue
            if marker == LOG_LINE:
                self.fail(f"{where}: breakpoint {bp_id} is a logpoint; logpoints never stop")
                continue
            if top is None:
                continue
            if top.get("line") != line(marker) or top.get("source", {}).get("path") != self.path:
                self.fail(f"{where}: the top frame is {top.get('name')} at line "
                          f"{top.get('line')}, not at breakpoint {bp_id} ({marker}, line "
                          f"{line(marker)})")
                continue
            condition = CONDITIONS.get(marker)
            if condition:
                value = self.evaluate(condition, top["id"], where)
                if value is not None and value != "true":
                    self.fail(f"{where}: condition {condition!r} of breakpoint {bp_id} is "
                              f"{value} at the stop")

    def check_data_stop(self, body: Message, top: Message | None, where: str) -> None:
        ids = body.get("hitBreakpointIds") or []
        known = self.data_ids(ids)
        if not ids or not set(ids) <= known:
            self.fail(f"{where}: data breakpoint ids {ids}; the watch's ids are "
                      f"{sorted(known)}")
        if top is None:
            return
        write = line("counter_write")
        if top.get("name") != "main.bump" or top.get("line") not in (write, write + 1):
            self.fail(f"{where}: the top frame is {top.get('name')} line {top.get('line')}, "
                      f"not the write of main.counter (main.bump, line {write})")
            return
        counter = self.evaluate("main.counter", top["id"], where)
        n = self.evaluate("n", top["id"], where)
        if counter is None or n is None:
            return
        if counter != n or int(counter) <= self.last_counter:
            self.fail(f"{where}: main.counter is {counter} after `counter = n` with n={n}; "
                      f"it was {self.last_counter} at an earlier stop")
        self.last_counter = max(self.last_counter, int(counter))

    # ---- the other client threads ----

    def pauser(self) -> None:
        rng = random.Random(f"{SEED}-pauser")
        while self.running():
            time.sleep(rng.uniform(0.02, 0.25))
            pause = Pause(time.monotonic())
            with self.lock:
                self.pauses.append(pause)
            resp = self.call("pause", {"threadId": 1})
            pause.answered = time.monotonic()
            if resp is not None and not resp["success"]:
                self.fail(f"pause failed: {resp.get('message')}")

    def breakpoint_editor(self) -> None:
        rng = random.Random(f"{SEED}-breakpoints")
        while self.running():
            markers = [m for m in CONDITIONS if rng.random() < 0.4]
            if rng.random() < 0.8:
                markers.append(LOG_LINE)
            message = rng.choice(list(LOG_MESSAGES))
            specs = []
            for m in markers:
                spec: Message = {"line": line(m)}
                if m == LOG_LINE:
                    spec["logMessage"] = message
                else:
                    spec["condition"] = CONDITIONS[m]
                specs.append(spec)

            def remember(seq: int, markers: list[str] = markers) -> None:
                with self.lock:
                    self.known.pending[seq] = markers

            resp = self.call("setBreakpoints", {"source": {"path": self.path},
                                                "breakpoints": specs}, remember, gated=True)
            if resp is None:
                return
            if not resp["success"]:
                self.fail(f"setBreakpoints {specs} failed: {resp.get('message')}")
            else:
                got = resp["body"]["breakpoints"]
                self.resolve()
                if len(got) != len(specs):
                    self.fail(f"setBreakpoints answered {len(got)} breakpoints for {len(specs)}")
                for spec, bp in zip(specs, got, strict=False):
                    if not bp.get("verified") or bp.get("line") != spec["line"]:
                        self.fail(f"setBreakpoints {spec} answered {bp}")
            time.sleep(rng.uniform(0.01, 0.12))

    def watcher(self) -> None:
        rng = random.Random(f"{SEED}-watch")
        on = False
        while self.running():
            time.sleep(rng.uniform(0.02, 0.12) if on else rng.uniform(0.1, 0.5))
            on = not on
            specs = [{"dataId": self.data_id, "accessType": "write"}] if on else []
            def remember(seq: int) -> None:
                with self.lock:
                    self.known.pending_data.append(seq)

            resp = self.call("setDataBreakpoints", {"breakpoints": specs}, remember, gated=True)
            if resp is None:
                return
            if not resp["success"]:
                self.fail(f"setDataBreakpoints {specs} failed: {resp.get('message')}")
                continue
            got = resp["body"]["breakpoints"]
            if len(got) != len(specs) or not all(b.get("verified") for b in got):
                self.fail(f"setDataBreakpoints {specs} answered {got}")
            self.resolve()

    def inspector(self) -> None:
        rng = random.Random(f"{SEED}-inspect")
        while self.running():
            resp = self.call("threads", gated=True)
            if resp is None:
                return
            threads = resp["body"]["threads"] if resp["success"] else []
            if not resp["success"]:
                self.fail(f"threads failed: {resp.get('message')}")
            frame_id = None
            if threads:
                thread = rng.choice(threads)
                st = self.call("stackTrace", {"threadId": thread["id"], "levels": 5}, gated=True)
                if st is not None and st["success"] and st["body"]["stackFrames"]:
                    frame_id = st["body"]["stackFrames"][0]["id"]
                    sc = self.call("scopes", {"frameId": frame_id}, gated=True)
                    if sc is not None and sc["success"] and sc["body"]["scopes"]:
                        ref = sc["body"]["scopes"][0]["variablesReference"]
                        self.call("variables", {"variablesReference": ref}, gated=True)
            args: Message = {"expression": rng.choice(["main.counter", "main.loops",
                                                       "len(main.loops)", "main.counter > 0"]),
                             "context": rng.choice(["watch", "hover", "repl"])}
            if frame_id is not None:
                args["frameId"] = frame_id
            self.call("evaluate", args, gated=True)
            time.sleep(rng.uniform(0.0, 0.03))

    def run(self) -> None:
        tasks = [threading.Thread(target=self.guard(fn), name=f"stress-{fn.__name__}")
                 for fn in (self.controller, self.pauser, self.breakpoint_editor,
                            self.watcher, self.inspector)]
        for t in tasks:
            t.start()
        for t in tasks:
            t.join(SECONDS + 4 * REQUEST_TIMEOUT)
            if t.is_alive():
                self.fail(f"client thread {t.name} did not finish", fatal=True)

    def guard(self, fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except Exception as exc:  # a bug of the test itself: say it, stop the others
                self.fail(f"{fn.__name__} raised {type(exc).__name__}: {exc}", fatal=True)
            finally:
                if fn == self.controller:
                    self.done.set()
                    self.gate.set()
        return run

    def everything_set(self) -> None:
        """The end, the same every time: every kind of breakpoint set (conditions in the
        kernel that hold on most calls and one not in the kernel, a logpoint, the data
        breakpoint), the program let run on."""
        specs: list[Message] = [{"line": line(m), "condition": cond}
                                for m, cond in END_CONDITIONS.items()]
        specs.append({"line": line(LOG_LINE), "logMessage": next(iter(LOG_MESSAGES))})
        resp = self.ok("setBreakpoints", {"source": {"path": self.path}, "breakpoints": specs})
        if resp is not None and not all(b.get("verified") for b in resp["body"]["breakpoints"]):
            self.fail(f"setBreakpoints {specs} answered {resp['body']['breakpoints']}")
        self.ok("setDataBreakpoints", {"breakpoints": [{"dataId": self.data_id,
                                                        "accessType": "write"}]})
        self.call("continue", {"threadId": 1})  # an error if it runs already
        time.sleep(0.3)

    # ---- logpoint output ----

    def check_logpoint_output(self) -> None:
        """Every line the logpoint printed is one of its messages, with sane values."""
        bad: list[str] = []
        total = 0
        for ev in self.c.events("output"):
            if ev["body"].get("category") != "console":
                continue
            for text in ev["body"]["output"].splitlines():
                tagged = LOG_TAG.search(text)
                if tagged is None or "={" in text:
                    continue  # dapgo's own words (which may quote a message unrendered)
                total += 1
                for pattern, sane in LOG_MESSAGES.values():
                    got = pattern.fullmatch(tagged.group(0))
                    if got is not None and sane(got):
                        break
                else:
                    bad.append(text)
        self.counts["logpoint lines"] = total
        if not total:
            self.fail("the logpoint printed nothing")
        if bad:
            self.fail(f"{len(bad)} of {total} logpoint lines are none of the messages set, "
                      f"or show values the line cannot have (a record rendered with another "
                      f"message?): {bad[:5]}")

    def report(self) -> str:
        """The failures, grouped by kind: how many, and the first of each in full."""
        kinds: dict[str, list[str]] = {}
        for f in self.failures:
            kinds.setdefault(failure_kind(f), []).append(f)
        return "\n".join(f"- {len(fs)}x {fs[0][:700]}" for fs in kinds.values())

    def summary(self) -> str:
        return (f"seed {SEED} (DAPGO_STRESS_SEED), {self.ops} requests; stops "
                f"{dict(self.stops)}; requests {dict(sorted(self.counts.items()))}; "
                f"errors {dict(self.errors.most_common(12))}")


def failure_kind(text: str) -> str:
    """A failure without its particulars (the stop, numbers, values), to group by."""
    text = re.sub(r"^stop \{.*?\} after \w+: ", "", text)
    for _ in range(3):
        text = re.sub(r"\{[^{}]*\}|\[[^\[\]]*\]|'[^']*'", "_", text)
    return re.sub(r"-?\d+", "N", text)[:100]


def start_program(exe: Path, stop_file: Path, output: Path) -> subprocess.Popen[bytes]:
    with open(output, "wb") as out:
        proc = subprocess.Popen([str(exe), str(stop_file)], stdout=out,
                                stderr=subprocess.STDOUT)
    end = time.monotonic() + 10
    while not output.read_bytes().startswith(b"stress: ready\n"):
        assert proc.poll() is None and time.monotonic() < end, "the fixture did not start"
        time.sleep(0.01)
    return proc


def after_detach(stress: Stress, prog: subprocess.Popen[bytes], stop_file: Path,
                 server: ListeningServer) -> None:
    """Nothing of the debugger is left in the kernel; the server serves on; the program
    runs on untraced, with nothing of the debugger left in it, and ends as it should."""
    pid, fail = prog.pid, stress.fail
    time.sleep(0.2)
    progs = dapgo_programs()
    if progs:
        fail(f"after disconnect, dapgo's BPF programs are still loaded: {progs}")
    try:
        events = Path("/sys/kernel/tracing/uprobe_events").read_text()
    except OSError:
        events = ""
    if "dapgo" in events:
        fail(f"after disconnect, uprobe events are left: {events}")
    try:
        with server.connect() as again:
            initialize(again)
            again.request("disconnect", {})
    except (OSError, TimeoutError, AssertionError) as exc:
        fail(f"after the session, the server does not serve a new one: {exc!r}"[:300])

    def said() -> list[str]:
        return [t for t in program_output(stress.output) if not t.startswith("line ")][:4]

    if prog.poll() is not None:
        fail(f"after disconnect the program died: exit status {prog.returncode}; it said "
             f"{said()}")
        return
    tracers = {tid: t for tid, t in tracer_pids(pid).items() if t != "0"}
    if tracers:
        fail(f"after disconnect, threads are still traced: {tracers}")
    states = thread_states(pid)
    if any(s in ("t", "T") for s in states.values()):
        fail(f"after disconnect, the program is stopped: thread states {states}")
        os.kill(pid, signal.SIGCONT)  # to see what else is left
        time.sleep(0.1)
    size = stress.output.stat().st_size
    time.sleep(0.3)
    if stress.output.stat().st_size <= size:
        fail("after disconnect the program does not run on: its output stopped growing")
    diffs = code_differences(pid, stress.exe)
    if diffs:
        fail(f"after disconnect the program's code differs from the binary (breakpoints or "
             f"uprobes left): {diffs[:5]}")
    if not tracers:
        dr7 = {tid: v for tid, v in _dr7_of_every_thread(pid).items() if v}
        if dr7:
            fail(f"after disconnect, DR7 is set on threads: {dr7}")
    time.sleep(0.3)  # main.counter is written every 10 ms: a trap left armed kills it
    stop_file.touch()
    try:
        code = prog.wait(10)
    except subprocess.TimeoutExpired:
        fail(f"the program did not end after its stop file was made; states "
             f"{thread_states(pid)}, TracerPid {proc_status(pid).get('TracerPid')}")
        return
    if code != 0:
        fail(f"the program ended with {code} (negative: the signal that killed it); it "
             f"said {said()}")
    problems = missing_output(program_output(stress.output))
    if problems:
        fail(f"the program's output is incomplete: {problems}")


@pytest.mark.timeout(120)
def test_one_session_driven_by_many_client_threads_at_once(tmp_path: Path) -> None:
    exe = fixtures.build(FIXTURE)
    stop_file, output = tmp_path / "stop", tmp_path / "output"
    prog = start_program(exe, stop_file, output)
    started = time.monotonic()
    stress: Stress | None = None
    try:
        with ListeningServer() as server:
            c = server.connect()
            try:
                stress = Stress(c, prog.pid, exe, output)
                initialize(c)
                c.request("attach", {"mode": "local", "processId": prog.pid}, timeout=60)
                c.wait_event("initialized")
                # while stopped before configurationDone: the data breakpoint's dataId
                goroutine = c.request("threads")["body"]["threads"][0]["id"]
                frame = c.request("stackTrace", {"threadId": goroutine, "levels": 1}
                                  )["body"]["stackFrames"][0]
                info = c.request("dataBreakpointInfo", {"name": "main.counter",
                                                        "frameId": frame["id"]})["body"]
                assert info["dataId"], info
                stress.data_id = info["dataId"]
                stress.run()
                if not stress.fatal.is_set():
                    stress.everything_set()
                stress.check_logpoint_output()
                resp = stress.call("disconnect", {"terminateDebuggee": False})
                if resp is not None and not resp["success"]:
                    stress.fail(f"disconnect failed: {resp.get('message')}")
                try:
                    c.wait_closed(REQUEST_TIMEOUT)
                except TimeoutError:
                    stress.fail("the server did not close the connection after disconnect")
                if c.violations:
                    stress.fail(f"protocol violations: {c.violations[:5]}")
                after_detach(stress, prog, stop_file, server)
            finally:
                c.close()
            errors = [ln for ln in server.stderr_lines if "ERROR" in ln or "Error" in ln]
            if stress is not None and stress.failures and errors:
                stress.failures.append(f"(not a check) dapgo's log: {errors[:10]}")
    finally:
        if prog.poll() is None:
            prog.kill()
            prog.wait()
    assert stress is not None
    took = time.monotonic() - started
    print(f"stress: {took:.1f}s, {stress.summary()}")
    assert not stress.failures, (
        f"{len(stress.failures)} failures in {took:.1f}s; {stress.summary()}:\n"
        + stress.report())


# ----- a reused logpoint whose message is edited -----

def set_log(c: DAPClient, marker: str, message: str) -> Message:
    path, at = fixtures.line_of(FIXTURE, marker)
    body = c.request("setBreakpoints", {"source": {"path": path}, "breakpoints": [
        {"line": at, "logMessage": message}]})["body"]
    bp: Message = body["breakpoints"][0]
    return bp


@pytest.mark.parametrize("invalid", ["{k", "k={", "k}"])
def test_reused_logpoint_edited_to_an_invalid_message_answers_the_parse_error(
        invalid: str, tmp_path: Path) -> None:
    with DAPClient.spawn_stdio() as c:
        launch(c, {"mode": "exec", "program": str(fixtures.build(FIXTURE)),
                   "args": [str(tmp_path / "stop")]})
        # what a new logpoint with the invalid message answers: the parse error
        fresh = set_log(c, "cond_c", invalid)
        assert fresh["verified"] is False and fresh.get("message"), fresh
        c.request("configurationDone")
        # the same line, first valid, then edited: the breakpoint is reused
        valid = set_log(c, LOG_LINE, "k={k}")
        assert valid["verified"] is True, valid
        edited = set_log(c, LOG_LINE, invalid)
        assert edited["verified"] is False, edited
        # the parse error, as a new logpoint with that message gets it
        assert edited.get("message") == fresh["message"], (edited, fresh)
        assert "{" in edited["message"] or "}" in edited["message"], edited
        # and the program runs on: no stop, no message for that line (once what was printed
        # before the edit is out), its output goes on
        time.sleep(0.2)
        at = mark(c)
        time.sleep(0.5)
        later = c.messages[at:]
        assert not [m for m in later if m.get("event") == "stopped"]
        assert not [m for m in later if m.get("event") == "output"
                    and m["body"].get("line") == line(LOG_LINE)]
        assert [m for m in later if m.get("event") == "output"
                and m["body"].get("category") == "stdout"], "the program stopped running"
        c.request("disconnect", {"terminateDebuggee": True})


def test_reused_logpoint_edited_from_an_invalid_message_to_a_valid_one_is_verified(
        tmp_path: Path) -> None:
    with DAPClient.spawn_stdio() as c:
        launch(c, {"mode": "exec", "program": str(fixtures.build(FIXTURE)),
                   "args": [str(tmp_path / "stop")]})
        broken = set_log(c, LOG_LINE, "k={k")
        assert broken["verified"] is False, broken
        fixed = set_log(c, LOG_LINE, "k={k}")
        assert fixed["verified"] is True, fixed
        c.request("disconnect", {"terminateDebuggee": True})
