"""Goroutines read from the runtime: `runtime.allgs`, each g's id, status, registers, labels.

Field offsets of runtime.g, runtime.gobuf and runtime.m come from DWARF, never constants.

Listing is built for programs with 100,000s of goroutines: `GoroutineReader.snapshot()` reads
the allgs array with one pread and the g structs in long contiguous runs (`MemCache`), directly
from /proc/PID/mem. The resulting `GoroutineSet` (valid for one stop) computes the costly
facts lazily and caches them: pprof labels only when a filter or a name needs them, locations
only for the goroutines a location filter or a thread name asks about, unwinding each stack
only as far as its first non-runtime frame.
"""

from __future__ import annotations

import bisect
import gc
import struct
import threading
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from itertools import chain, compress, islice, repeat
from operator import and_, gt, itemgetter, not_
from typing import Literal, NamedTuple

import attrs

from dapgo.engine.dwarf import BinaryInfo
from dapgo.engine.errors import DebuggerError
from dapgo.engine.goroutine_filters import (
    GoroutineFilter,
    GoroutineQuery,
    group_value,
    matches_all,
    order_by_cost,
)
from dapgo.engine.labels import EMPTY, LabelArrays, LabelDecoder, Labels
from dapgo.engine.memcache import MemCache, unpack_each
from dapgo.engine.stack import STACK_ROOTS, Frame, through_signal_handler
from dapgo.engine.target import Target

# runtime/runtime2.go goroutine states
G_IDLE, G_RUNNABLE, G_RUNNING, G_SYSCALL, G_WAITING = 0, 1, 2, 3, 4
G_DEAD = 6
G_SCAN = 0x1000
# statuses whose goroutine has no thread and its registers in g.sched (not being scanned)
_PARKED = frozenset(range(16)) - {G_RUNNING, G_SYSCALL, G_DEAD}
MAX_UNWIND = 64  # frames searched for the user location
STACK_WINDOW = 4096  # bytes of stack read at once when looking for the user frame
DEFAULT_MAX_GOROUTINES = 1024


class Goroutine(NamedTuple):
    id: int
    addr: int
    status: int
    pc: int  # saved pc/sp (g.sched, or g.syscallpc/sp in a system call)
    sp: int
    start_pc: int
    go_pc: int
    stack_hi: int  # top of its stack: `stack_hi - sp` survives the runtime copying the stack
    thread_id: int | None  # OS thread it runs on, if any
    labels_addr: int = 0  # g.labels: its pprof labelMap, 0 when none


class Location(NamedTuple):
    pc: int
    function: str | None
    file: str | None
    line: int

    def __str__(self) -> str:
        """Delve's format, which the location filters match against."""
        return f"{self.file or '?'}:{self.line} in {self.function or '?'}"


NO_LOCATION = Location(0, None, None, 0)
_ID = itemgetter(0)
_LABELS = itemgetter(9)  # Goroutine.labels_addr


@attrs.define
class _Layout:
    size: int
    goid: int
    status: int
    sched_pc: int
    sched_sp: int
    syscall_pc: int
    syscall_sp: int
    start_pc: int
    go_pc: int
    stack_hi: int
    m: int
    labels: int | None
    m_procid: int
    m_curg: int
    # one unpack of the fields above, in offset order, and where each lands in its tuple
    packed: struct.Struct = attrs.field(init=False)
    order: tuple[int, ...] = attrs.field(init=False)
    # the same for what a listing reads of every g: goid, atomicstatus and labels
    brief: struct.Struct = attrs.field(init=False)
    brief_order: tuple[int, ...] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        fields = [
            (self.goid, "Q"), (self.status, "I"), (self.sched_pc, "Q"), (self.sched_sp, "Q"),
            (self.syscall_pc, "Q"), (self.syscall_sp, "Q"), (self.start_pc, "Q"),
            (self.go_pc, "Q"), (self.stack_hi, "Q"), (self.m, "Q"),
        ]
        if self.labels is not None:
            fields.append((self.labels, "Q"))
        self.packed, self.order = _unpacker(fields)
        self.brief, self.brief_order = _unpacker([fields[0], fields[1], *fields[10:]])


def _unpacker(fields: list[tuple[int, str]]) -> tuple[struct.Struct, tuple[int, ...]]:
    """One Struct unpacking (offset, struct code) fields in offset order, and the index in
    its tuple of each field."""
    ranked = sorted(range(len(fields)), key=lambda i: fields[i][0])
    fmt, pos = "<", 0
    slot = [0] * len(fields)
    for n, i in enumerate(ranked):
        off, code = fields[i]
        fmt += f"{off - pos}x{code}" if off > pos else code
        pos = off + struct.calcsize(code)
        slot[i] = n
    return struct.Struct(fmt), tuple(slot)


_G_FIELDS = ("goid", "atomicstatus", "sched.pc", "sched.sp", "syscallpc", "syscallsp",
             "startpc", "gopc", "stack.hi", "m", "labels")
_M_FIELDS = ("procid", "curg")


def _layout(binary: BinaryInfo) -> _Layout:
    g = binary.field_offsets("runtime.g", _G_FIELDS)
    m = binary.field_offsets("runtime.m", _M_FIELDS)
    if g is None or m is None:
        raise DebuggerError("runtime.g/runtime.m not found in the binary's DWARF")
    (size, go), mo = g, m[1]
    try:
        return _Layout(
            size=size, goid=go["goid"], status=go["atomicstatus"], sched_pc=go["sched.pc"],
            sched_sp=go["sched.sp"], syscall_pc=go["syscallpc"],
            syscall_sp=go["syscallsp"], start_pc=go["startpc"], go_pc=go["gopc"],
            stack_hi=go["stack.hi"], m=go["m"], labels=go.get("labels"),
            m_procid=mo["procid"], m_curg=mo["curg"])
    except KeyError as exc:
        raise DebuggerError(f"runtime.g/runtime.m have no field {exc} in the binary's "
                            "DWARF") from exc


_bulk_lock = threading.Lock()
_bulk_users = 0


@contextmanager
def _bulk() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while creating 100,000s of small acyclic
    objects (goroutine tuples, label dicts): its passes would double the time taken.

    The collector is one per process and sessions of one `dapgo --listen` read goroutines
    at the same time: it is off while any of them is inside, and back on (if it was on)
    when the last one leaves."""
    global _bulk_users, _bulk_was_enabled
    with _bulk_lock:
        if _bulk_users == 0:
            _bulk_was_enabled = gc.isenabled()
            gc.disable()
        _bulk_users += 1
    try:
        yield
    finally:
        with _bulk_lock:
            _bulk_users -= 1
            if _bulk_users == 0 and _bulk_was_enabled:
                gc.enable()


_bulk_was_enabled = True


def _user_function(name: str | None) -> bool:
    """Delve's rule for the user's location: the first frame whose function is neither a
    private runtime function nor in internal/ or runtime/internal/ packages."""
    if not name or "." not in name:
        return False
    if name.startswith("runtime."):
        c = name[8:9]
        return "A" <= c <= "Z"  # exported runtime functions (runtime.Breakpoint) count
    return not name.startswith(("internal/", "runtime/internal/"))


_new_goroutine = partial(tuple.__new__, Goroutine)


def _merged(a: list[Goroutine], b: list[Goroutine]) -> list[Goroutine]:
    """Two lists sorted by id, as one."""
    if not b:
        return a
    return sorted(a + b) if a else list(b)


def thread_running(target: Target, g: Goroutine) -> int | None:
    """The OS thread running goroutine `g` on g's own stack; None when it is parked, or its
    thread is on the system stack (g0: its registers are not the goroutine's)."""
    tid = g.thread_id
    if tid is None or not target.has_thread(tid):
        return None
    try:
        return tid if target.g_of_thread(tid) == g.addr else None
    except OSError:
        return None


class GoroutineReader:
    def __init__(self, target: Target) -> None:
        self.target = target
        self._lay: _Layout | None = None
        self._labels: LabelDecoder | None = None
        # pc -> (function, sp offset, file, line): the binary does not change
        self._pcinfo: dict[int, tuple[str | None, int | None, str | None, int]] = {}
        self.current: GoroutineSet | None = None  # the snapshot of the last stop

    @property
    def layout(self) -> _Layout:
        if self._lay is None:
            self._lay = _layout(self.target.binary)
        return self._lay

    @property
    def label_decoder(self) -> LabelDecoder:
        if self._labels is None:
            self._labels = LabelDecoder(self.target.binary)
        return self._labels

    def _q(self, data: bytes, off: int) -> int:
        return int(struct.unpack_from("<Q", data, off)[0])

    def _from_bytes(self, addr: int, data: bytes, off: int) -> Goroutine:
        lay = self.layout
        vals = lay.packed.unpack_from(data, off)
        o = lay.order
        status = vals[o[1]] & ~G_SCAN
        if status == G_SYSCALL:
            pc, sp = vals[o[4]], vals[o[5]]
        else:
            pc, sp = vals[o[2]], vals[o[3]]
        thread_id = None
        m = vals[o[9]]
        if m and status in (G_RUNNING, G_SYSCALL):
            thread_id = self._thread_of_m(m, None, None)
        return Goroutine(vals[o[0]], addr, status, pc, sp, vals[o[6]], vals[o[7]], vals[o[8]],
                         thread_id, vals[o[10]] if lay.labels is not None else 0)

    def _thread_of_m(self, m: int, cache: dict[int, int | None] | None,
                     mem: MemCache | None) -> int | None:
        if cache is not None and m in cache:
            return cache[m]
        try:
            addr = m + self.layout.m_procid
            tid = (mem.u64(addr) if mem is not None else self.target.u64(addr)) or None
        except OSError:
            tid = None
        if cache is not None:
            cache[m] = tid
        return tid

    def read(self, addr: int) -> Goroutine:
        lay = self.layout
        return self._from_bytes(addr, self.target.read(addr, lay.size), 0)

    def _allgs(self, mem: MemCache) -> tuple[int, ...]:
        sym = self.target.binary.symbol("runtime.allgs")
        if sym is None:
            return ()
        ptr, length = struct.unpack("<QQ", mem.raw(sym.addr, 16))
        if not ptr or not length or length > 1 << 26:
            return ()
        return struct.unpack(f"<{length}Q", mem.raw(ptr, 8 * length))

    def new_memcache(self) -> MemCache:
        """A direct, batched reader of the (stopped) program's memory."""
        process = self.target.process
        return MemCache(process.raw_reader(), process.vector_reader())

    def all(self) -> list[Goroutine]:
        """Every goroutine that is not dead, in allgs order."""
        return list(self.snapshot().goroutines)

    def snapshot(self) -> GoroutineSet:
        """Read every live goroutine, batched; also kept as `current`."""
        with _bulk():
            return self._snapshot()

    def _snapshot(self) -> GoroutineSet:
        mem = self.new_memcache()
        lay = self.layout
        k = len(lay.brief_order)
        # of each g only goid, status and labels, by iterators of C functions rather than
        # a loop per goroutine (100,000s of goroutines), into one flat list of ints (no
        # tuple kept per g); the rest of a g is read when it is shown
        addrs: list[int] = []
        flat: list[int] = []
        for data, base, run in mem.read_spans((a for a in self._allgs(mem) if a), lay.size):
            if data is not None:
                addrs += run
                flat += chain.from_iterable(unpack_each(lay.brief, data, base, run))
        bo = lay.brief_order
        ids, status = flat[bo[0]::k], flat[bo[1]::k]
        labels = flat[bo[2]::k] if lay.labels is not None else [0] * len(addrs)
        del flat
        # the usual goroutine is parked or runnable: saved registers, no thread; only
        # the rest (running, in a system call, being scanned, dead) is looked at one by one
        parked = list(map(_PARKED.__contains__, status))
        others: list[Goroutine] = []
        if not all(parked):
            ms: dict[int, int | None] = {}
            for a in compress(addrs, map(not_, parked)):
                try:
                    v = lay.packed.unpack_from(mem.read(a, lay.size))
                except OSError:
                    continue
                g = self._from_values(a, v, ms, mem)
                if g is not None:
                    others.append(g)
            addrs, ids, labels = (list(compress(x, parked)) for x in (addrs, ids, labels))
        self.current = GoroutineSet(self, mem, _Parked(lay, mem, addrs, ids, labels), others)
        return self.current

    def _from_values(self, addr: int, v: tuple[int, ...], ms: dict[int, int | None],
                     mem: MemCache) -> Goroutine | None:
        """The goroutine of a g's unpacked fields (None: dead)."""
        o = self.layout.order
        status = v[o[1]] & ~G_SCAN
        if status == G_DEAD:
            return None
        if status == G_SYSCALL:
            pc, sp = v[o[4]], v[o[5]]
        else:
            pc, sp = v[o[2]], v[o[3]]
        tid = None
        if status in (G_RUNNING, G_SYSCALL) and v[o[9]]:
            tid = self._thread_of_m(v[o[9]], ms, mem)
        return Goroutine(v[o[0]], addr, status, pc, sp, v[o[6]], v[o[7]], v[o[8]], tid,
                         v[o[10]] if self.layout.labels is not None else 0)

    def of_thread(self, tid: int) -> Goroutine | None:
        """The user goroutine running on OS thread `tid` (following m.curg from g0)."""
        addr = self.target.g_of_thread(tid)
        if not addr:
            return None
        g = self.read(addr)
        if g.id == 0:  # g0 or gsignal: the user goroutine is m.curg
            m = self.target.u64(addr + self.layout.m)
            if not m:
                return None
            curg = self.target.u64(m + self.layout.m_curg)
            if not curg:
                return None
            g = self.read(curg)
        return g

    def through_signal_handler(self, g: Goroutine) -> tuple[list[Frame], int] | None:
        """When g's thread is in a signal handler: its frames through the handler to g's
        code, and the index of the first of g's (stack.through_signal_handler). None when
        it is not, or its registers or g.stack cannot be read."""
        if g.thread_id is None:
            return None
        try:
            r = self.target.registers(g.thread_id)
            lo = self.target.u64(g.addr + self.layout.stack_hi - 8)  # g.stack is {lo, hi}
        except OSError:
            return None
        return through_signal_handler(self.target, r.pc, r.sp, r.bp, lo, g.stack_hi)

    def pc_info(self, pc: int) -> tuple[str | None, int | None, str | None, int]:
        """(function name, SP offset, file, line) at `pc`, cached."""
        info = self._pcinfo.get(pc)
        if info is None:
            b = self.target.binary
            fn = b.function_for_pc(pc)
            loc = b.line_for_pc(pc) if fn is not None else None
            off = b.sp_offset(pc) if fn is not None else None
            info = (fn.name if fn else None, off, loc[0] if loc else None,
                    loc[1] if loc else 0)
            self._pcinfo[pc] = info
        return info


class _Facts:
    """One goroutine as the filter matcher sees it (GoroutineFacts)."""

    __slots__ = ("g", "gs")

    def __init__(self, gs: GoroutineSet, g: Goroutine) -> None:
        self.gs, self.g = gs, g

    def labels(self) -> Mapping[str, str]:
        return self.gs.labels(self.g)

    def running(self) -> bool:
        return self.g.thread_id is not None

    def system(self) -> bool:
        return self.gs.is_system(self.g)

    def location(self, kind: str) -> str:
        return str(self.gs.location(self.g, kind))


class _Parked:
    """The parked goroutines of a snapshot: their g addresses, ids and labels, sorted by
    id. The rest of a g is read, and its Goroutine tuple made, when asked for: a filter
    that keeps 1,000 of 100,000 reads and makes 1,000."""

    def __init__(self, lay: _Layout, mem: MemCache, addrs: list[int], ids: list[int],
                 labels: list[int]) -> None:
        self._lay, self._mem = lay, mem
        if any(map(gt, ids, islice(ids, 1, None))):  # allgs is mostly in order
            order = sorted(range(len(ids)), key=ids.__getitem__)
            ids, addrs, labels = (list(map(x.__getitem__, order)) for x in (ids, addrs, labels))
        self.ids, self.addrs = ids, addrs
        self.labels = labels  # each one's g.labels

    def __len__(self) -> int:
        return len(self.ids)

    def make(self, picked: Iterable[bool] | None = None, first: int | None = None
             ) -> list[Goroutine]:
        """Goroutine tuples of all, or of those where `picked` is true, in order; only the
        `first` so many when given."""
        addrs = self.addrs if picked is None else list(compress(self.addrs, picked))
        if first is not None:
            addrs = addrs[:first]
        full: dict[int, tuple[int, ...]] = {}
        for data, base, run in self._mem.read_spans(addrs, self._lay.size):
            if data is not None:
                full.update(zip(run, unpack_each(self._lay.packed, data, base, run),
                                strict=True))
        if len(full) < len(addrs):  # unreadable now (it was read before): left out
            addrs = [a for a in addrs if a in full]
        vals = list(map(full.__getitem__, addrs))
        o = self._lay.order
        labels = (map(itemgetter(o[10]), vals) if self._lay.labels is not None
                  else repeat(0))
        return list(map(_new_goroutine, zip(
            map(itemgetter(o[0]), vals), addrs, map(itemgetter(o[1]), vals),
            map(itemgetter(o[2]), vals), map(itemgetter(o[3]), vals),
            map(itemgetter(o[6]), vals), map(itemgetter(o[7]), vals),
            map(itemgetter(o[8]), vals), repeat(None), labels)))

    def one(self, i: int) -> Goroutine | None:
        """The i-th (None if its g cannot be read now)."""
        a, lay = self.addrs[i], self._lay
        try:
            v = lay.packed.unpack_from(self._mem.read(a, lay.size))
        except OSError:
            return None
        o = lay.order
        return Goroutine(v[o[0]], a, v[o[1]], v[o[2]], v[o[3]], v[o[6]], v[o[7]], v[o[8]],
                         None, v[o[10]] if lay.labels is not None else 0)


class GoroutineSet:
    """The live goroutines at one stop (sorted by id), with lazily computed facts; the
    Goroutine tuples of parked goroutines are made when first needed."""

    def __init__(self, reader: GoroutineReader, mem: MemCache, parked: _Parked,
                 others: list[Goroutine]) -> None:
        self.reader = reader
        self.mem = mem
        self._parked = parked
        self._others = sorted(others)  # running, in a system call, being scanned
        self._all: list[Goroutine] | None = None
        self._arrays: LabelArrays | Literal[False] | None = False  # not read yet
        self._labels: dict[int, Labels] = {}
        self._strings: dict[int, str] = {}
        self._cur: dict[int, Location] = {}
        self._user: dict[int, Location] = {}
        self._thread_regs: dict[int, tuple[int, int] | None] = {}

    @property
    def goroutines(self) -> list[Goroutine]:
        """Every live goroutine, sorted by id."""
        if self._all is None:
            with _bulk():
                self._all = _merged(self._parked.make(), self._others)
        return self._all

    def __len__(self) -> int:
        return len(self._parked) + len(self._others)

    def get(self, goroutine_id: int) -> Goroutine | None:
        """The goroutine with this id (a binary search: no index of 100,000s to build)."""
        ids = self._parked.ids
        i = bisect.bisect_left(ids, goroutine_id)
        if i < len(ids) and ids[i] == goroutine_id:
            return self._parked.one(i)
        return next((g for g in self._others if g.id == goroutine_id), None)

    # ----- facts -----

    def labels(self, g: Goroutine, keys: Collection[str] | None = None) -> Labels:
        """g's pprof labels; only those of `keys` when given (the others' values are then
        not read)."""
        p = g.labels_addr
        if not p:
            return EMPTY
        got = self._labels.get(p)
        if got is not None:
            return got if keys is None else {k: v for k, v in got.items() if k in keys}
        if self._arrays:  # read in bulk already: decode from there
            return self.reader.label_decoder.from_arrays(self._arrays, p, keys, self.mem,
                                                         self._strings)
        got = self.reader.label_decoder.decode(p, self.mem, self._strings)
        self._labels[p] = got
        return got if keys is None else {k: v for k, v in got.items() if k in keys}

    def is_system(self, g: Goroutine) -> bool:
        """Delve's `System()`: started in a runtime function other than runtime.main."""
        name = self.reader.pc_info(g.start_pc)[0]
        if not name or name in ("runtime.main", "main.main"):
            return False
        return name.startswith("runtime.")

    def location(self, g: Goroutine, kind: str) -> Location:
        if kind == "curloc":
            return self.current_location(g)
        if kind == "userloc":
            return self.user_location(g)
        if kind == "goloc":
            return self._pc_location(g.go_pc, True)
        if kind == "startloc":
            return self._pc_location(g.start_pc, False)
        raise ValueError(kind)

    def _pc_location(self, pc: int, is_return: bool) -> Location:
        if not pc:
            return NO_LOCATION
        if is_return:  # gopc is the return address of the call to newproc
            name = self.reader.pc_info(pc)[0]
            if name is not None:
                pc -= 1
        name, _, file, line = self.reader.pc_info(pc)
        return Location(pc, name, file, line)

    def current_location(self, g: Goroutine) -> Location:
        loc = self._cur.get(g.id)
        if loc is None:
            self._unwind(g)
            loc = self._cur[g.id]
        return loc

    def user_location(self, g: Goroutine) -> Location:
        """The innermost frame that is not in the runtime (else the current location)."""
        loc = self._user.get(g.id)
        if loc is None:
            self._unwind(g)
            loc = self._user[g.id]
        return loc

    def registers(self, g: Goroutine) -> tuple[int, int]:
        """pc, sp of a goroutine: its thread's registers when it runs on the goroutine's own
        stack, else the ones the scheduler saved."""
        if g.thread_id is None:
            return g.pc, g.sp
        if g.id in self._thread_regs:
            regs = self._thread_regs[g.id]
        else:
            tid = thread_running(self.reader.target, g)
            regs = None
            if tid is not None:
                r = self.reader.target.registers(tid)
                regs = (r.pc, r.sp)
            if g.status == G_RUNNING and (regs is None or self._in_runtime(regs[0])):
                regs = self._interrupted(g) or regs  # its thread may be in a signal handler
            self._thread_regs[g.id] = regs
        return regs if regs is not None else (g.pc, g.sp)

    def _in_runtime(self, pc: int) -> bool:
        name = self.reader.pc_info(pc)[0]
        return name is None or name.startswith("runtime.")

    def _interrupted(self, g: Goroutine) -> tuple[int, int] | None:
        """pc, sp of the code a signal interrupted, when g's thread is in a signal handler
        (the runtime's async preemption, caught by the stop; on the gsignal stack g's saved
        registers are stale, and the handler's frames do not lead back to g's code)."""
        assert g.thread_id is not None
        if not self.reader.target.has_thread(g.thread_id):
            return None
        found = self.reader.through_signal_handler(g)
        if found is None:
            return None
        frames, first = found
        return frames[first].pc, frames[first].sp

    def _unwind(self, g: Goroutine) -> None:
        pc, sp = self.registers(g)
        info = self.reader.pc_info
        cur: Location | None = None
        user: Location | None = None
        window, wbase = b"", sp
        for depth in range(MAX_UNWIND):
            if not pc:
                break
            name, off, file, line = info(pc)
            if depth:  # a return address: the call is the instruction before
                lname, _, file, line = info(pc - 1)
                name = lname or name
            loc = Location(pc, name, file, line)
            if cur is None:
                cur = loc
            if _user_function(name):
                user = loc
                break
            if name is None or off is None or name in STACK_ROOTS:
                break
            slot = sp + off
            rel = slot - wbase
            if not 0 <= rel <= len(window) - 8:
                wbase = slot
                size = STACK_WINDOW
                if g.stack_hi > slot:
                    size = min(size, g.stack_hi - slot)
                try:
                    window = self.mem.raw(slot, max(size, 8))
                except OSError:
                    try:
                        window = self.mem.read(slot, 8)
                    except OSError:
                        break
                rel = 0
            ret = int.from_bytes(window[rel:rel + 8], "little")
            if not ret:
                break
            pc, sp = ret, slot + 8
        cur = cur or NO_LOCATION
        self._cur[g.id] = cur
        self._user[g.id] = user or cur

    # ----- selection -----

    def facts(self, g: Goroutine) -> _Facts:
        return _Facts(self, g)

    def select(self, filters: Iterable[GoroutineFilter]) -> list[Goroutine]:
        """The goroutines matching every filter, by id."""
        with _bulk():
            return self._select(order_by_cost(filters))

    def select_first(self, filters: Iterable[GoroutineFilter], limit: int
                     ) -> tuple[int, list[Goroutine]]:
        """How many goroutines match every filter, and the first `limit` of them (by id):
        with no filter, without making a Goroutine of each."""
        fs = order_by_cost(filters)
        if fs:
            matched = self.select(fs)
            return len(matched), matched[:limit]
        with _bulk():
            return len(self), _merged(self._parked.make(first=limit), self._others)[:limit]

    def _select(self, fs: tuple[GoroutineFilter, ...]) -> list[Goroutine]:
        if not fs:
            return list(self.goroutines)
        by_label = [f for f in fs if f.kind == "label"]
        if not by_label:
            return [g for g in self.goroutines if matches_all(fs, _Facts(self, g))]
        # label filters over every goroutine's labels pointer, then Goroutines made only
        # for those that pass them; the other filters one by one
        parked, others = self._parked, self._others
        keep: list[bool] | None = None  # of the parked ones
        keep_others = [True] * len(others)
        for f in by_label:
            hits = self._label_hits(f)
            hit = map(hits.__contains__, parked.labels)
            mask = map(not_, hit) if f.negated else hit
            keep = list(mask) if keep is None else list(map(and_, keep, mask))
            keep_others = [k and (g.labels_addr in hits) != f.negated
                           for k, g in zip(keep_others, others, strict=True)]
        chosen = _merged(parked.make(keep), list(compress(others, keep_others)))
        rest = tuple(f for f in fs if f.kind != "label")
        return [g for g in chosen if matches_all(rest, _Facts(self, g))] if rest else chosen

    def _label_hits(self, f: GoroutineFilter) -> set[int]:
        """The labelMap pointers whose labels have the filter's KEY (=VALUE): every
        label array read in bulk (the slice kind), else each distinct labelMap decoded
        (Go <= 1.23's maps)."""
        key, eq, value = f.arg.partition("=")
        arrays = self._label_arrays()
        if arrays is not None:
            return self.reader.label_decoder.matching(arrays, key, value if eq else None,
                                                      self.mem)
        hits = set()
        for p in {*self._parked.labels, *map(_LABELS, self._others)} - {0}:
            labels = self._decoded(p)
            if (labels.get(key) == value) if eq else (key in labels):
                hits.add(p)
        return hits

    def group(self, query: GoroutineQuery) -> tuple[int, Counter[str | None]]:
        """How many goroutines match the query's filters, and how many of those have each
        value of its grouping."""
        with _bulk():
            if query.group_by == "label":  # by labels pointer; with no filter, no Goroutine
                labels = ([*self._parked.labels, *map(_LABELS, self._others)]
                          if not query.filters
                          else list(map(_LABELS, self.select(query.filters))))
                return len(labels), Counter(map(self._label_values(query.group_key).get,
                                                labels))
            among = self.select(query.filters)
            return len(among), Counter(group_value(query, _Facts(self, g)) for g in among)

    def _label_values(self, key: str) -> dict[int, str]:
        """labelMap pointer -> its value of label `key`, for every goroutine's labels that
        have it (in bulk for the slice kind, else each distinct labelMap decoded)."""
        arrays = self._label_arrays()
        if arrays is not None:
            return self.reader.label_decoder.values_of(arrays, key, self.mem, self._strings)
        out: dict[int, str] = {}
        for p in {*self._parked.labels, *map(_LABELS, self._others)} - {0}:
            v = self._decoded(p).get(key)
            if v is not None:
                out[p] = v
        return out

    def _decoded(self, p: int) -> Labels:
        """The labels of the labelMap at p, decoded once a stop."""
        got = self._labels.get(p)
        if got is None:
            got = self._labels[p] = self.reader.label_decoder.decode(p, self.mem,
                                                                     self._strings)
        return got

    def _label_arrays(self) -> LabelArrays | None:
        """Every goroutine's label arrays, read in bulk once a stop (None: the labels are
        not of the kind read so)."""
        if self._arrays is False:
            self._arrays = self.reader.label_decoder.arrays(
                chain(self._parked.labels, map(_LABELS, self._others)), self.mem)
        return self._arrays
