"""Function tracing (`dapgo trace`): a probe after the prologue of every matching function
for its arguments, and one on every RET instruction for its results (never uretprobes).

Deferred calls run before the function's RET (also after a recovered panic: the frame then
resumes at its runtime.deferreturn call, which falls through to a RET), so RET probes see the
final results; probing the deferreturn call sites as well would report those returns twice.
"""

from __future__ import annotations

import attrs

from dapgo.engine.dwarf import BinaryInfo, Function
from dapgo.engine.instructions import frame_push_site, ret_sites

from . import layout as L
from .reads import NotReadable, ValueRead, arg_reads, format_value, result_reads
from .ringbuf import Record
from .session import BpfSession, g_labels_offset

TRACE_GROUP = 1


@attrs.define
class Site:
    fn: Function
    is_return: bool
    reads: list[tuple[str, ValueRead | NotReadable]]
    labels: bool = False  # the record's last value is the goroutine's g.labels pointer


def ret_addresses(bi: BinaryInfo, fn: Function) -> list[int]:
    code = bi.read_text(fn.entry, fn.end - fn.entry)
    if not code:
        return []
    return ret_sites(code, fn.entry)


def call_site(bi: BinaryInfo, fn: Function) -> int | None:
    """Where a probe sees each call of `fn` once, cheaply: its frame's `PUSH RBP` (an
    instruction the kernel emulates: ~0.5 us instead of a ~16 us single step), with the
    arguments still in their ABI registers. None when the function has no such instruction."""
    code = bi.read_text(fn.entry, min(48, fn.end - fn.entry))
    return frame_push_site(code, fn.entry) if code else None


def labels_pointer_read(g_labels_offset: int) -> L.ValSpec:
    """The running goroutine's g.labels (its pprof labelMap pointer): g is in R14 under Go's
    register ABI."""
    v = L.ValSpec()
    v.npieces = 1
    v.pieces[0].src = L.SRC_REG
    v.pieces[0].reg = L.PTREGS["r14"]
    v.pieces[0].size = 8
    v.nderef = 1
    v.deref_off[0] = g_labels_offset
    v.deref_size[0] = 8
    v.kind = L.VK_PLAIN
    return v


def _desc(site: Site, flags: int, nstack: int, labels: L.ValSpec | None = None) -> L.Desc:
    d = L.Desc()
    d.flags = flags
    d.nstack = min(nstack, L.MAX_STACK)
    n = 0
    for _name, r in site.reads:
        if isinstance(r, ValueRead) and n < L.MAX_VALS:
            d.vals[n] = r.valspec()
            n += 1
    if labels is not None and n < L.MAX_VALS:
        d.vals[n] = labels
        n += 1
        site.labels = True
    d.nvals = n
    return d


def traceable_functions(bi: BinaryInfo, regex: str) -> list[Function]:
    """The functions `regex` selects (re.search on the name); runtime internals only when
    the regex asks for them explicitly. re.error for an invalid regex."""
    explicit = regex.startswith(("^runtime", "runtime"))
    return [fn for fn in bi.functions_matching(regex)
            if explicit or not fn.name.startswith(("runtime.", "internal/", "type:"))]


class FunctionTracer:
    """Builds and attaches the probes for a function regex; formats the records."""

    def __init__(self, session: BpfSession | None, *, stack: int = 0, string_cap: int = 64,
                 bi: BinaryInfo | None = None, labels: bool = False) -> None:
        """`session` None: only to `plan` (over `bi`), never to attach. `labels`: each call's
        record also carries the goroutine's pprof labels pointer (`labels_pointer`)."""
        self.s = session
        if session is not None:
            self.bi = session.bi
        elif bi is not None:
            self.bi = bi
        else:
            raise ValueError("FunctionTracer needs a session or a binary")
        self.stack = stack
        self.string_cap = string_cap
        self.sites: dict[int, Site] = {}
        self.functions: list[Function] = []
        self.skipped: list[str] = []
        # no emulated instruction to probe their calls at (no PUSH RBP, or their arguments
        # do not all read there)
        self.slow_entries: list[str] = []
        off = g_labels_offset(self.bi) if labels else None
        self.labels_read = labels_pointer_read(off) if off is not None else None

    def plan(self, regex: str) -> dict[int, L.Desc]:
        descs: dict[int, L.Desc] = {}
        bi = self.bi
        for fn in traceable_functions(bi, regex):
            try:
                entry, args = self._entry(fn)
                rets = [a for a in ret_addresses(bi, fn) if a != entry]
                site = Site(fn, False, args)
                # a frameless function (nothing pushed at this pc: no frame pointer of its
                # own) has its return address at SP, like a RET; BP is still the caller's
                frameless = bi.sp_offset(entry) == 0
                descs[entry] = _desc(site, L.DF_EMIT | (L.DF_AT_RET if frameless else 0),
                                     self.stack, self.labels_read)
                self.sites[entry] = site
                for ra in rets:
                    res = result_reads(bi, fn, ra, string_cap=self.string_cap)
                    rsite = Site(fn, True, [(r.name if isinstance(r, ValueRead) else "?", r)
                                            for r in res])
                    descs[ra] = _desc(rsite, L.DF_EMIT | L.DF_AT_RET, self.stack)
                    self.sites[ra] = rsite
                self.functions.append(fn)
            except (NotReadable, KeyError, ValueError) as e:
                self.skipped.append(f"{fn.name}: {e}")
        return descs

    def _entry(self, fn: Function) -> tuple[int, list[tuple[str, ValueRead | NotReadable]]]:
        """The entry probe's address and the argument reads there: the frame's PUSH RBP
        when every argument reads there as after the prologue, else the first instruction
        after the prologue (a single-stepped probe: such functions are listed in
        `slow_entries`)."""
        after = self.bi.first_pc_after_prologue(fn)
        late = arg_reads(self.bi, fn, after, string_cap=self.string_cap)
        push = call_site(self.bi, fn)
        if push is not None and push != after:
            early = arg_reads(self.bi, fn, push, string_cap=self.string_cap)
            if [n for n, _ in early] == [n for n, _ in late] and not any(
                    isinstance(r, NotReadable) for _, r in early):
                return push, early
        if push != after:  # no PUSH RBP, or the arguments do not all read there
            self.slow_entries.append(fn.name)
        return after, late

    def attach(self, regex: str) -> int:
        descs = self.plan(regex)
        if descs:
            assert self.s is not None
            self.s.add_group(TRACE_GROUP, descs)
        return len(descs)

    def values(self, rec: Record) -> tuple[Site, list[tuple[str, str]]] | None:
        """The site a record came from and its values as Go text, by name; None for a
        record of no traced site."""
        site = self.sites.get(rec.ip)
        if site is None:
            return None
        vals = iter(rec.values)
        parts: list[tuple[str, str]] = []
        for name, r in site.reads:
            if isinstance(r, NotReadable):
                text = f"(unreadable {r})"
            else:
                v = next(vals, None)
                text = "?" if v is None else format_value(self.bi, r.type, v.err, v.raw,
                                                          v.data, v.full_len)
            parts.append((name, text))
        return site, parts

    def labels_pointer(self, rec: Record) -> int | None:
        """The g.labels pointer a call's record carries (0: no labels); None when it has
        none or the kernel could not read it."""
        site = self.sites.get(rec.ip)
        if site is None or not site.labels or not rec.values:
            return None
        v = rec.values[-1]
        if v.err or len(v.raw) < 8:
            return None
        return int.from_bytes(v.raw[:8], "little")

    def format(self, rec: Record) -> list[str]:
        got = self.values(rec)
        if got is None:
            return []
        site, parts = got
        if site.is_return:
            shown = ", ".join(text for _, text in parts)
            line = f">> goroutine({rec.goid}): {site.fn.name} => ({shown})"
        else:
            shown = ", ".join(f"{name}={text}" for name, text in parts)
            line = f"> goroutine({rec.goid}): {site.fn.name}({shown})"
        out = [line]
        for i, pc in enumerate(rec.stack):
            look = pc if i == 0 else pc - 1
            f = self.bi.function_for_pc(look)
            loc = self.bi.line_for_pc(look)
            where = f"{loc[0]}:{loc[1]}" if loc else "?"
            out.append(f"\t{i:2d}  {pc:#x} in {f.name if f else '?'}\n\t        at {where}")
        return out
