"""End-to-end: goroutines as DAP threads on the `labels` fixture, on Go 1.21, 1.24, 1.27.

Names carry the pprof labels (read from a hash map up to Go 1.23, from a sorted slice later),
every filter gives exactly the expected goroutines, maxGoroutines caps after filtering and
the stopped goroutine is always listed. Goroutines are identified by their labels and user
functions, read from the unfiltered listing with every label shown.
"""

from __future__ import annotations

import re

import pytest

from dapgo.engine.errors import DebuggerError, NotStoppedError
from dapgo.engine.model import Stopped, ThreadInfo

from .conftest import Session, fixtures

NAME = re.compile(r"^(\* )?\[Go (\d+)((?: [^ \]]+:[^ \]]*)*)\] (\S+)( \(Thread \d+\))?$")


def parse(t: ThreadInfo) -> tuple[bool, dict[str, str], str, bool]:
    m = NAME.match(t.name)
    assert m, t.name
    assert int(m.group(2)) == t.id
    labels = dict(kv.split(":", 1) for kv in m.group(3).split())
    return bool(m.group(1)), labels, m.group(4), bool(m.group(5))


def listing(s: Session, filters: str = "", labels: tuple[str, ...] = ("*",),
            hide: bool = False, limit: int = 1024) -> list[ThreadInfo]:
    s.d.set_goroutine_options(list(labels), hide, filters, limit)
    return s.d.threads()


class World:
    """Who is who in the fixture, from the unfiltered listing."""

    def __init__(self, s: Session, ev: Stopped) -> None:
        self.all = listing(s)
        self.info = {t.id: parse(t) for t in self.all}
        self.main = ev.thread_id
        self.ids = set(self.info)

    def where(self, pred: object) -> set[int]:
        return {i for i, (_, lab, fn, run) in self.info.items()
                if pred(lab, fn, run)}  # type: ignore[operator]

    def team(self, team: str) -> set[int]:
        return self.where(lambda lab, fn, run: lab.get("team") == team)


@pytest.fixture(scope="module")
def world(stopped: tuple[Session, Stopped]) -> World:
    return World(*stopped)


def ids(threads: list[ThreadInfo]) -> set[int]:
    return {t.id for t in threads}


def test_names_carry_labels(stopped: tuple[Session, Stopped], world: World) -> None:
    _s, ev = stopped
    info = world.info
    sel, lab, fn, run = info[ev.thread_id]
    assert sel and lab == {"team": "green", "worker": "main"} and fn == "main.report" and run
    assert [i for i, v in info.items() if v[0]] == [ev.thread_id]  # one `*`: the stopped one
    blue = sorted(world.team("blue"))
    assert len(blue) == 3 and len(world.team("red")) == 2
    for i in blue:
        assert info[i][2] == "main.blueWait" and not info[i][3]
    workers = sorted(info[i][1]["worker"] for i in blue)
    assert workers == ["0", "1", "2"]
    t = next(t for t in world.all if t.id == blue[0])
    assert t.name == f"[Go {t.id} team:blue worker:{info[blue[0]][1]['worker']}] main.blueWait"
    many = world.where(lambda lab, fn, run: "k0" in lab)
    assert len(many) == 1  # 12 labels: more than one hash-map bucket on Go <= 1.23
    assert info[many.pop()][1] == {f"k{i}": f"v{i}" for i in range(12)}
    spinner = world.where(lambda lab, fn, run: lab.get("role") == "spinner")
    assert len(spinner) == 1
    i = spinner.pop()
    assert info[i][2] in ("main.spin", "main.step") and info[i][3]
    assert world.where(lambda lab, fn, run: fn == "main.plainWait")


def test_label_display_modes(stopped: tuple[Session, Stopped], world: World) -> None:
    s, _ev = stopped
    blue = min(world.team("blue"))
    worker = world.info[blue][1]["worker"]
    one = {t.id: t.name for t in listing(s, labels=("team",))}
    assert one[blue] == f"[Go {blue} blue] main.blueWait"
    two = {t.id: t.name for t in listing(s, labels=("worker", "nosuch", "team"))}
    assert two[blue] == f"[Go {blue} worker:{worker} team:blue] main.blueWait"
    none = {t.id: t.name for t in listing(s, labels=())}
    assert none[blue] == f"[Go {blue}] main.blueWait"


def _expected(world: World, key: str) -> set[int]:
    w = world
    blue, red = w.team("blue"), w.team("red")
    spinner = w.where(lambda lab, fn, run: lab.get("role") == "spinner")
    many = w.where(lambda lab, fn, run: "k0" in lab)
    system = w.where(lambda lab, fn, run: fn.startswith("runtime."))
    worker1 = w.where(lambda lab, fn, run: lab.get("worker") == "1")
    table = {
        "label team=blue": blue,
        "label team": blue | red | {w.main},
        "without label team": w.ids - blue - red - {w.main},
        "label role": spinner,
        "label k7=v7": many,
        "userloc redWait": red,
        "startloc manyLabels": many,
        "goloc red": red,
        "running": spinner | {w.main},
        "without running and team": blue | red,
        "user": w.ids - system,
        "without user": system,
        "blue without worker 1": blue - worker1,
        "blue and worker 1": blue & worker1,
        "parked teams": blue | red,
    }
    return table[key] | {w.main}  # the stopped goroutine is always listed


def _filters(key: str) -> str:
    go_red = fixtures.line_of("labels", "go_red")[1]
    return {
        "label team=blue": "-with label team=blue",
        "label team": "-with label team",
        "without label team": "-without label team",
        "label role": "-w label role",
        "label k7=v7": "-with label k7=v7",
        "userloc redWait": "-with userloc main.redWait",
        "startloc manyLabels": "-with startloc 'in main.manyLabels'",
        "goloc red": f"-with goloc 'main.go:{go_red} in main.main'",
        "running": "-with running",
        "without running and team": "-without running -with label team",
        "user": "-with user",
        "without user": "-wo user",
        "blue without worker 1": "-with label team=blue -without label worker=1",
        "blue and worker 1": "-with label team=blue -with label worker=1",
        "parked teams": "-with curloc runtime.gopark -with label team",
    }[key]


@pytest.mark.parametrize("key", [
    "label team=blue", "label team", "without label team", "label role", "label k7=v7",
    "userloc redWait", "startloc manyLabels", "goloc red", "running", "without running and team",
    "user", "without user", "blue without worker 1", "blue and worker 1", "parked teams",
])
def test_filter(stopped: tuple[Session, Stopped], world: World, key: str) -> None:
    s, _ = stopped
    got = listing(s, _filters(key))
    assert ids(got) == _expected(world, key), [t.name for t in got]
    assert s.d.last_threads_omitted == 0


def test_hide_system(stopped: tuple[Session, Stopped], world: World) -> None:
    s, _ = stopped
    assert ids(listing(s, hide=True)) == _expected(world, "user")
    assert ids(listing(s, "-with label team=blue", hide=True)) == _expected(
        world, "label team=blue")


def test_max_goroutines(stopped: tuple[Session, Stopped], world: World) -> None:
    s, ev = stopped
    got = listing(s, limit=2)
    assert len(got) == 2 + (ev.thread_id not in sorted(world.ids)[:2])
    assert ev.thread_id in ids(got)
    assert s.d.last_threads_omitted == len(world.ids) - 2
    assert "showing 2 of" in s.d.last_threads_message
    # the cap applies after filtering: the blue workers are found, whatever their ids
    blue = world.team("blue")
    got = listing(s, "-with label team=blue", limit=3)
    assert ids(got) == blue | {ev.thread_id}
    assert s.d.last_threads_omitted == 0
    got = listing(s, "-with label team=blue", limit=1)
    assert ids(got) == {min(blue), ev.thread_id}
    assert s.d.last_threads_omitted == 2


def test_bad_filter_keeps_settings(stopped: tuple[Session, Stopped], world: World) -> None:
    s, _ = stopped
    listing(s, "-with label team=red")
    with pytest.raises(DebuggerError, match="unknown filter kind 'colour'"):
        s.d.set_goroutine_options([], False, "-with colour red", 1024)
    with pytest.raises(DebuggerError, match="maxGoroutines"):
        s.d.set_goroutine_options([], False, "", 0)
    assert ids(s.d.threads()) == _expected(world, "userloc redWait")


def test_repl_command(stopped: tuple[Session, Stopped], world: World) -> None:
    s, _ev = stopped
    listing(s)
    out = s.d.goroutine_command("-group label team")
    assert f"{len(world.ids)} of {len(world.ids)} goroutines" in out
    for line in ("team=blue: 3", "team=red: 2", "team=green: 1",
                 f"(no label team): {len(world.ids) - 6}"):
        assert f"  {line}\n" in out, out
    assert not s.d.goroutine_view_changed
    out = s.d.goroutine_command("-with label team -group label team")
    assert "6 of" in out and "(no label" not in out
    out = s.d.goroutine_command("goroutines -with label team=red")
    assert s.d.goroutine_view_changed and "-with label team=red" in out
    assert ids(s.d.threads()) == _expected(world, "userloc redWait")
    s.d.goroutine_command("-labels team")
    red = min(world.team("red"))
    assert f"[Go {red} red] main.redWait" in [t.name for t in s.d.threads()]
    out = s.d.goroutine_command("-list")
    assert out.count("Goroutine ") == 2 and "main.redWait" in out and "[2 of" in out
    s.d.goroutine_command("-clear")
    assert ids(s.d.threads()) == world.ids
    with pytest.raises(DebuggerError, match="unknown filter kind"):
        s.d.goroutine_command("-with colour red")
    assert "-group label KEY" in s.d.goroutine_command("-help")


def test_threads_while_running() -> None:
    s = Session(None)
    ev = s.start_stopped(args=("linger",))
    try:
        s.d.set_goroutine_options(["team"], False, "-with label team=blue", 1024)
        before = s.d.threads()
        assert len(before) == 4
        s.d.resume()
        assert s.d.threads() == before  # the last answer, while running
        s.d.set_goroutine_options(["team"], False, "-with label team=red", 1024)
        got = s.d.threads()  # nothing to answer from: halts briefly, never errors
        reds = [t for t in got if t.name.startswith(f"[Go {t.id} red] main.redWait")]
        # no goroutine is stopped during a halt: the one on the last stop's thread, if any,
        # is added (main, team green)
        others = [t.name for t in got if t not in reds]
        assert len(reds) == 2 and all(" green] " in n for n in others), others
        with pytest.raises(NotStoppedError):  # resumed after the brief halt
            s.d.stack_trace(ev.thread_id, 0, 1)
    finally:
        s.d.disconnect(True)
    assert ev.thread_id in ids(before)
