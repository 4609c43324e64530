"""Compiling and loading probe.bpf.c (the only module that imports bcc).

One compile per session (~0.4 s with LLVM): every probe, trace function and logpoint is a
descriptor in the `descs` map, so adding or removing probes never recompiles."""

from __future__ import annotations

import ctypes as C
import os
import threading
from typing import Any

from . import layout as L
from .attach import BPF_TRACE_UPROBE_MULTI

PERF_TYPE_BREAKPOINT = 5
HW_BREAKPOINT_W = 2
HW_BREAKPOINT_RW = 3


class BpfUnavailable(RuntimeError):
    """bcc, kernel headers or BPF itself is missing; the message says what to install."""


def _import_bcc() -> Any:
    try:
        import bcc
    except ImportError as e:
        raise BpfUnavailable(
            "bcc is not importable: install Debian's python3-bpfcc and make the virtualenv "
            "with --system-site-packages (see `dapgo doctor`)") from e
    return bcc


def _check_headers() -> None:
    build = f"/lib/modules/{os.uname().release}/build"
    if not os.path.exists(build):
        raise BpfUnavailable(
            f"no kernel headers at {build}: install linux-headers for this kernel "
            "(or link the nearest Debian ones; see `dapgo doctor`)")


# bcc's compiler (clang in libbcc) is not safe to run on two threads at once: two engines'
# compiles (a followed child's and the program's, or one made ahead) would break each other
_COMPILING = threading.Lock()


class ProbeProgram:
    """The loaded BPF program and its maps."""

    def __init__(self, *, goid_offset: int, ringbuf_pages: int = L.DEFAULT_RINGBUF_PAGES,
                 labels: dict[str, int] | None = None, stop_signal: int = 5) -> None:
        bcc = _import_bcc()
        _check_headers()
        defs = L.defines(goid_offset=goid_offset, ringbuf_pages=ringbuf_pages, labels=labels,
                         stop_signal=stop_signal)
        self.ringbuf_bytes = ringbuf_pages * os.sysconf("SC_PAGE_SIZE")
        try:
            with _COMPILING:
                self._bpf = bcc.BPF(text=L.source().encode(), cflags=L.cflags(defs))
                fn = self._bpf.load_func(b"dapgo_probe", bcc.BPF.KPROBE,
                                         attach_type=BPF_TRACE_UPROBE_MULTI)
        except Exception as e:
            raise BpfUnavailable(f"compiling or loading the BPF program failed: {e}") from e
        self.prog_fd: int = fn.fd
        self._descs = self._bpf[b"descs"]
        self._hits = self._bpf[b"hitcounts"]
        self._lost = self._bpf[b"lost"]
        self._signals = self._bpf[b"signals"]
        self._signal_ips = self._bpf[b"signal_ips"]
        self._watch_fd: int | None = None
        self._metrics = self._bpf[b"metrics"]
        self._mfull = self._bpf[b"mfull"]
        self.events_fd: int = self._bpf[b"events"].map_fd

    # --- descriptors ---------------------------------------------------------------------
    def set_desc(self, addr: int, desc: L.Desc) -> None:
        k = self._descs.Key(addr)
        v = C.cast(C.pointer(desc), C.POINTER(self._descs.Leaf)).contents
        self._descs[k] = v
        hk = self._hits.Key(desc.id)
        if hk not in self._hits:
            self._hits[hk] = self._hits.Leaf(0)

    def del_desc(self, addr: int) -> None:
        try:
            del self._descs[self._descs.Key(addr)]
        except KeyError:
            pass

    def reset_hits(self, probe_id: int) -> None:
        try:
            del self._hits[self._hits.Key(probe_id)]
        except KeyError:
            pass

    def hits(self, probe_id: int) -> int:
        try:
            return int(self._hits[self._hits.Key(probe_id)].value)
        except KeyError:
            return 0

    def lost(self) -> int:
        return int(self._lost[self._lost.Key(0)].value)

    def take_signal(self, tid: int) -> int | None:
        """The id of the probe whose condition is stopping thread `tid` (SIGTRAP), once."""
        key = self._signals.Key(tid)
        try:
            probe_id = int(self._signals[key].value)
        except KeyError:
            return None
        try:
            del self._signals[key]
        except KeyError:
            pass
        return probe_id

    def take_signal_ip(self, tid: int) -> int | None:
        """The probed address of thread `tid`'s last stop, once."""
        key = self._signal_ips.Key(tid)
        try:
            ip = int(self._signal_ips[key].value)
        except KeyError:
            return None
        try:
            del self._signal_ips[key]
        except KeyError:
            pass
        return ip

    def open_watch(self, tid: int, addr: int, size: int, read_too: bool) -> int:
        """A hardware breakpoint perf event on thread `tid` for `size` bytes at `addr`
        (writes, or any access), running `dapgo_watch`: the event's file descriptor (close
        it to remove the breakpoint; the kernel does when dapgo dies)."""
        from bcc import BPF
        from bcc.libbcc import lib
        from bcc.perf import Perf

        assert self._bpf is not None
        if self._watch_fd is None:
            self._watch_fd = self._bpf.load_func(b"dapgo_watch", BPF.PERF_EVENT).fd
        attr = Perf.perf_event_attr()
        attr.type = PERF_TYPE_BREAKPOINT
        attr.size = C.sizeof(attr)
        attr.config = 0
        attr._sample_period_union.sample_period = 1  # every hit
        attr.bp_type = HW_BREAKPOINT_RW if read_too else HW_BREAKPOINT_W
        attr._bp_addr_union.bp_addr = addr
        attr._bp_len_union.bp_len = size
        attr.exclude_kernel = 1
        attr.exclude_hv = 1
        fd = int(lib.bpf_attach_perf_event_raw(self._watch_fd, C.byref(attr), tid, -1,
                                               -1, 0))
        if fd < 0:
            raise OSError(-fd if fd < -1 else C.get_errno(),
                          f"cannot open a hardware breakpoint on thread {tid}")
        return fd

    # --- metrics ----------------------------------------------------------------------------
    def metrics(self, probe_id: int) -> list[tuple[L.MKey, L.MVal]]:
        """Every key of metric `probe_id` with its counters, as the kernel has them now."""
        return [(k, v) for k, v in self.all_metrics() if k.id == probe_id]

    def all_metrics(self) -> list[tuple[L.MKey, L.MVal]]:
        return [(L.MKey.from_buffer_copy(k), L.MVal.from_buffer_copy(v))
                for k, v in self._metrics.items()]

    def reset_metrics(self, probe_id: int) -> None:
        for k in [k for k in self._metrics.keys() if k.id == probe_id]:
            try:
                del self._metrics[k]
            except KeyError:
                pass

    def metrics_full(self) -> int:
        """Metric hits the kernel could not count: no room for a new key."""
        return int(self._mfull[self._mfull.Key(0)].value)

    def close(self) -> None:
        """Unload the program and free its maps (probes must be closed first)."""
        bpf, self._bpf = self._bpf, None
        if bpf is not None:
            bpf.cleanup()
