"""Go's .gopclntab (Go 1.20+ layout, magic 0xFFFFFFF1/0xFFFFFFF0/0xFFFFFFFA): function table,
names, pc->file/line and pc->SP-delta tables, read straight from the section bytes.

Format: src/runtime/symtab.go (pcHeader, _func) and src/debug/gosym/pclntab.go."""

from __future__ import annotations

import bisect
import re
import struct
from collections.abc import Iterator

import attrs

from dapgo.engine.errors import BinaryFormatError

from .leb128 import uleb
from .model import Function

_MAGICS = {0xFFFFFFF1: "1.20", 0xFFFFFFF0: "1.18", 0xFFFFFFFA: "1.16"}
_FUNC = struct.Struct("<IiiIIIIIIiBBBB")
_PCDATA_INL_TREE_INDEX = 2


@attrs.frozen
class FuncRecord:
    """The parts of runtime._func a debugger needs."""

    name: str
    entry: int
    end: int
    name_off: int
    pcsp: int
    pcfile: int
    pcln: int
    cu_offset: int
    start_line: int
    func_id: int
    npcdata: int
    nfuncdata: int
    func_off: int


class PcLnTab:
    """Reader for one module's pclntab. `text_start` is runtime.text (moduledata.text)."""

    def __init__(self, data: bytes, text_start: int) -> None:
        if len(data) < 8:
            raise BinaryFormatError(".gopclntab is truncated")
        magic = struct.unpack_from("<I", data, 0)[0]
        if magic not in _MAGICS or _MAGICS[magic] == "1.16":
            raise BinaryFormatError(
                f"unsupported .gopclntab format (magic {magic:#x}); Go 1.18 or later is needed")
        self.data = data
        self.min_lc = data[6]
        ptr = data[7]
        if ptr != 8:
            raise BinaryFormatError("not a 64-bit Go program")
        fields = struct.unpack_from("<8Q", data, 8)
        self.nfunc, self.nfiles, _text, funcname_off, cu_off, filetab_off, pctab_off, \
            pcln_off = fields
        self.text_start = text_start
        if magic == 0xFFFFFFF0 and _text:  # Go 1.18/1.19 still stored textStart
            self.text_start = _text
        self.funcnametab = funcname_off
        self.cutab = cu_off
        self.filetab = filetab_off
        self.pctab = pctab_off
        self.functab = pcln_off
        # functab: nfunc+1 pairs (entryoff, funcoff); the last entryoff is the end of text.
        n = self.nfunc + 1
        raw = struct.unpack_from(f"<{2 * n}I", data, self.functab)
        self._entries: list[int] = [text_start + e for e in raw[0::2]]
        self._funcoffs: tuple[int, ...] = raw[1::2]
        self._records: dict[int, FuncRecord] = {}
        self._by_name: dict[str, int] | None = None

    # --- function table ------------------------------------------------------------------
    def index_for_pc(self, pc: int) -> int | None:
        i = bisect.bisect_right(self._entries, pc) - 1
        if i < 0 or i >= self.nfunc:
            return None
        return i

    def record(self, i: int) -> FuncRecord:
        rec = self._records.get(i)
        if rec is not None:
            return rec
        off = self.functab + self._funcoffs[i]
        (entry_off, name_off, _args, _defer, pcsp, pcfile, pcln, npcdata, cu_offset,
         start_line, func_id, _flag, _pad, nfuncdata) = _FUNC.unpack_from(self.data, off)
        rec = FuncRecord(self.name_at(name_off), self.text_start + entry_off,
                         self._entries[i + 1], name_off, pcsp, pcfile, pcln, cu_offset,
                         start_line, func_id, npcdata, nfuncdata, off)
        self._records[i] = rec
        return rec

    def has_inlined(self, rec: FuncRecord) -> bool:
        """Does the function hold inlined calls? (its PCDATA_InlTreeIndex table, index 2 of
        the pcdata offsets after the _func header, is present)"""
        if rec.npcdata <= _PCDATA_INL_TREE_INDEX:
            return False
        at = rec.func_off + _FUNC.size + 4 * _PCDATA_INL_TREE_INDEX
        return bool(struct.unpack_from("<I", self.data, at)[0])

    def text_range(self) -> tuple[int, int]:
        """[entry of the first function, end of the last)."""
        return self._entries[0], self._entries[self.nfunc]

    def name_at(self, name_off: int) -> str:
        start = self.funcnametab + name_off
        end = self.data.index(b"\0", start)
        return self.data[start:end].decode("utf-8", "replace")

    def func_for_pc(self, pc: int) -> FuncRecord | None:
        i = self.index_for_pc(pc)
        if i is None:
            return None
        rec = self.record(i)
        return rec if rec.entry <= pc < rec.end else None

    def names(self) -> dict[str, int]:
        """Name -> function index for every function (built once; ~nfunc string reads)."""
        if self._by_name is None:
            data = self.data
            base = self.funcnametab
            by_name: dict[str, int] = {}
            for i, foff in enumerate(self._funcoffs[: self.nfunc]):
                name_off = struct.unpack_from("<i", data, self.functab + foff + 4)[0]
                start = base + name_off
                end = data.index(b"\0", start)
                by_name.setdefault(data[start:end].decode("utf-8", "replace"), i)
            self._by_name = by_name
        return self._by_name

    def func_by_name(self, name: str) -> FuncRecord | None:
        i = self.names().get(name)
        return None if i is None else self.record(i)

    def functions_matching(self, pattern: str) -> list[Function]:
        rx = re.compile(pattern)
        out = []
        for name, i in self.names().items():
            if rx.search(name):
                r = self.record(i)
                out.append(Function(r.name, r.entry, r.end))
        out.sort(key=lambda f: f.entry)
        return out

    # --- pc-value tables -----------------------------------------------------------------
    def pcvalue_iter(self, table_off: int, entry: int) -> Iterator[tuple[int, int, int]]:
        """Yield (start_pc, end_pc, value) runs of a pc-value table."""
        if table_off == 0:
            return
        data = self.data
        pos = self.pctab + table_off
        val = -1
        pc = entry
        first = True
        while True:
            uv, pos = uleb(data, pos)
            if uv == 0 and not first:
                return
            first = False
            val += -((uv >> 1) + 1) if uv & 1 else uv >> 1
            pcd, pos = uleb(data, pos)
            end = pc + pcd * self.min_lc
            yield pc, end, val
            pc = end

    def pcvalue(self, table_off: int, entry: int, pc: int) -> int | None:
        for start, end, val in self.pcvalue_iter(table_off, entry):
            if start <= pc < end:
                return val
            if pc < start:
                break
        return None

    def file_name(self, rec: FuncRecord, fileno: int) -> str | None:
        if fileno < 0:
            return None
        off = struct.unpack_from("<I", self.data, self.cutab + (rec.cu_offset + fileno) * 4)[0]
        if off == 0xFFFFFFFF:
            return None
        start = self.filetab + off
        end = self.data.index(b"\0", start)
        return self.data[start:end].decode("utf-8", "replace")

    def line_for_pc(self, rec: FuncRecord, pc: int) -> tuple[str, int] | None:
        fileno = self.pcvalue(rec.pcfile, rec.entry, pc)
        line = self.pcvalue(rec.pcln, rec.entry, pc)
        if fileno is None or line is None:
            return None
        f = self.file_name(rec, fileno)
        return None if f is None else (f, line)

    def sp_offset(self, rec: FuncRecord, pc: int) -> int | None:
        return self.pcvalue(rec.pcsp, rec.entry, pc)

    def all_files(self) -> list[str]:
        """Every distinct file name in the file table."""
        out: list[str] = []
        data = self.data
        pos = self.filetab
        end = self.pctab if self.pctab > self.filetab else len(data)
        for _ in range(self.nfiles):
            if pos >= end:
                break
            e = data.index(b"\0", pos)
            out.append(data[pos:e].decode("utf-8", "replace"))
            pos = e + 1
        return sorted(set(f for f in out if f))
