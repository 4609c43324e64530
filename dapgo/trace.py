"""`dapgo trace [--exec BINARY | --pid PID | PACKAGE] REGEX [-- ARGS...]`: eBPF function tracing.

Like `dlv trace --ebpf`: a uprobe after the prologue of every function matching REGEX and on
each of its RET instructions; one line per call and per return, goroutine ids, arguments and
results by name. The program's stdout/stderr pass through untouched; trace lines go to
stderr, or to --output (a FILE.json gets Chrome trace-event JSON for Perfetto or
chrome://tracing instead). --stats times every call in the kernel instead (no record per
call) and prints calls and latency percentiles per function at the end, split by a pprof
label with --by-label KEY. Ctrl-C (SIGINT) removes every probe and the BPF
program; with --pid the program keeps running. A summary line reports records delivered
and records lost.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from dapgo.engine.bpf.ahead import CompileAhead
    from dapgo.engine.bpf.metrics import FunctionStats
    from dapgo.engine.bpf.ringbuf import Record
    from dapgo.engine.bpf.tracer import FunctionTracer
    from dapgo.engine.dwarf import BinaryInfo

log = logging.getLogger("dapgo.trace")


def add_trace_subparser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "trace", help="trace function calls and returns with eBPF (never stops the program)",
        description=__doc__.split("\n\n")[1] if __doc__ else None)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--exec", dest="exec_path", metavar="BINARY",
                     help="run this already-built binary")
    src.add_argument("--pid", type=int, help="trace a running process (left running after)")
    p.add_argument("--stack", type=int, default=0, metavar="N",
                   help="print N stack frames with each line")
    p.add_argument("--output", "-o", metavar="FILE",
                   help="write trace lines here, not stderr; FILE.json: Chrome trace-event "
                        "JSON (one track per goroutine; open in Perfetto or chrome://tracing)")
    p.add_argument("--stats", action="store_true",
                   help="time every call in the kernel (no line per call) and print calls "
                        "and p50/p90/p99/max/mean latency per function at the end")
    p.add_argument("--by-label", metavar="KEY",
                   help="with --stats: split each function's figures by pprof label KEY")
    p.add_argument("--string-cap", type=int, default=64, metavar="BYTES",
                   help="bytes of each string/slice to read (default 64)")
    p.add_argument("--buffer-pages", type=int, default=16384, metavar="PAGES",
                   help="ring buffer size in pages, a power of two (default 16384 = 64 MiB)")
    p.add_argument("rest", nargs=argparse.REMAINDER, metavar="[PACKAGE] REGEX [-- ARGS...]",
                   help="package to build and run (default: .; not with --exec/--pid), the "
                        "functions to trace (Python re.search syntax), program arguments")
    p.set_defaults(func=run_trace)
    return p


def _split_args(args: argparse.Namespace) -> tuple[str | None, str, list[str]]:
    """(package or None, regex, program args) from `[PACKAGE] REGEX [-- ARGS...]`."""
    rest = list(args.rest or [])
    prog_args: list[str] = []
    if "--" in rest:
        i = rest.index("--")
        rest, prog_args = rest[:i], rest[i + 1:]
    if len(rest) == 1:
        return (None if args.exec_path or args.pid else "."), rest[0], prog_args
    if len(rest) == 2 and not (args.exec_path or args.pid):
        return rest[0], rest[1], prog_args
    raise SystemExit("usage: dapgo trace [--exec BINARY | --pid PID | PACKAGE] REGEX "
                     "[-- ARGS...]")


def _build(package: str) -> tuple[str, str | None]:
    from dapgo.engine.build import build
    from dapgo.engine.model import LaunchConfig

    cfg = LaunchConfig(program=package)
    return build(cfg)


def _spawn_stopped(path: str, argv: list[str]) -> int:
    """Fork a child that execs `path` traced, so it stops right after the exec, loaded (its
    load address known) but before its first instruction; `_release` lets it run untraced."""
    from ptrace.binding import func as pt

    pid = os.fork()
    if pid == 0:  # child
        try:
            pt.ptrace_traceme()
            os.execv(path, [path, *argv])
        finally:
            os._exit(127)
    _, status = os.waitpid(pid, 0)
    if not os.WIFSTOPPED(status):
        raise _TraceError(f"{path} did not start (status {status:#x})")
    return pid


def _release(pid: int) -> None:
    """Let a child from `_spawn_stopped` run, no longer traced."""
    from ptrace.binding import func as pt

    pt.ptrace_detach(pid, 0)


def _relocate(bi: BinaryInfo, pid: int) -> None:
    """Apply the process's load bias to a position-independent binary (PIE)."""
    from dapgo.engine.backend import parse_auxv
    from dapgo.engine.loadbias import bias_from_auxv

    if not bi.position_independent:
        return
    with open(f"/proc/{pid}/auxv", "rb") as f:
        bias = bias_from_auxv(parse_auxv(f.read()), bi.static_entry)
    if bias is None:
        raise _TraceError(f"cannot tell where process {pid} has {bi.path} loaded")
    bi.relocate(bias)


def _fail(msg: str) -> int:
    print(f"dapgo trace: {msg}", file=sys.stderr)
    return 1


def _one_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    return "; ".join(lines)


def _resolve_binary(args: argparse.Namespace, package: str | None
                    ) -> tuple[str, str | None] | str:
    """(binary path, temporary build directory or None), or an error message."""
    from dapgo.engine.errors import BuildError, DebuggerError

    if args.pid:
        try:
            return os.readlink(f"/proc/{args.pid}/exe"), None
        except OSError as e:
            return f"no process {args.pid}: {e.strerror}"
    if package is None:
        path = os.path.abspath(args.exec_path)
        if not os.path.isfile(path):
            return f"{args.exec_path}: no such file"
        if not os.access(path, os.X_OK):
            return f"{args.exec_path}: not executable"
        return path, None
    try:
        return _build(package)
    except BuildError as e:
        detail = str(e).split("\n", 1)[1] if "\n" in str(e) else str(e)
        return f"building {package} failed: {_one_line(detail) or str(e)}"
    except DebuggerError as e:
        return f"cannot build {package}: {_one_line(str(e))}"


def run_trace(args: argparse.Namespace) -> int:
    import re

    from dapgo.engine.bpf.ahead import CompileAhead
    from dapgo.engine.bpf.tracer import traceable_functions
    from dapgo.engine.dwarf import BinaryInfo
    from dapgo.engine.errors import DebuggerError

    _phase("imported the engine")

    package, regex, prog_args = _split_args(args)
    if args.stats and args.output:
        return _fail("--stats counts in the kernel and writes no per-call records: use it "
                     "without --output")
    if args.by_label and not args.stats:
        return _fail("--by-label KEY splits the figures of --stats: add --stats")
    try:
        re.compile(regex)
    except re.error as e:
        return _fail(f"invalid regular expression {regex!r}: {e}")
    got = _resolve_binary(args, package)
    if isinstance(got, str):
        return _fail(got)
    path, tmpdir = got
    bi: BinaryInfo | None = None
    try:
        try:
            bi = BinaryInfo.open(path)
        except (DebuggerError, OSError, ValueError) as e:
            what = f"process {args.pid} ({path})" if args.pid else path
            return _fail(f"{what} is not a Go program dapgo can trace: {_one_line(str(e))}")
        _phase("opened the binary")
        # bcc compiles the BPF program (the slowest step) while the DWARF is read
        compiling = CompileAhead(bi, args.buffer_pages, signal.SIGTRAP, on_done=lambda: _phase(
            "compiled the BPF program (on its own thread)"))
        try:
            if not traceable_functions(bi, regex):
                return _fail(f"no function matches {regex!r}"
                             + ("" if args.pid else "; the program was not run"))
            _phase("matched the functions")
            return _trace(args, bi, path, regex, prog_args, compiling)
        finally:
            compiling.discard()
    finally:
        if bi is not None:
            bi.close()
        if tmpdir:
            import shutil
            shutil.rmtree(tmpdir, ignore_errors=True)


_T0 = time.monotonic()


def _phase(what: str) -> None:
    """Where `dapgo trace`'s start-up time goes (--log-level DEBUG)."""
    log.debug("%.3f s: %s", time.monotonic() - _T0, what)


def _trace(args: argparse.Namespace, bi: BinaryInfo, path: str, regex: str,
           prog_args: list[str], compiling: CompileAhead) -> int:
    from dapgo.engine.bpf.metrics import FunctionStats
    from dapgo.engine.bpf.session import BpfSession
    from dapgo.engine.bpf.tracer import FunctionTracer, traceable_functions

    out: TextIO = open(args.output, "w") if args.output else sys.stderr
    child: int | None = None
    held = False  # the child is stopped after its exec, waiting for the probes
    released = False
    stop = False

    def on_sigint(_sig: int, _frm: object) -> None:
        nonlocal stop
        stop = True

    old_int = signal.signal(signal.SIGINT, on_sigint)
    old_term = signal.signal(signal.SIGTERM, on_sigint)
    session: BpfSession | None = None
    status = 0
    try:
        if args.pid:
            pid = args.pid
        else:
            child = _spawn_stopped(path, prog_args)
            held = True
            pid = child
        _relocate(bi, pid)
        session = BpfSession(bi, pid, program=compiling.take())
        chrome = bool(args.output and args.output.endswith(".json"))
        tracer = FunctionTracer(session, stack=args.stack, string_cap=args.string_cap,
                                labels=chrome and session.labels_readable)
        stats = FunctionStats(session, args.by_label) if args.stats else None
        sink = _Sink(tracer, out, pid, path, chrome=chrome, stats=stats)
        t0 = time.monotonic()
        n = stats.attach(traceable_functions(bi, regex)) if stats else tracer.attach(regex)
        _phase(f"attached {n} probes")
        if stats is not None:
            tracer.functions, tracer.skipped = stats.functions, stats.skipped
        print(f"dapgo trace: {len(tracer.functions)} functions, {n} probes "
              f"({time.monotonic() - t0:.2f} s)", file=sys.stderr)
        for msg in tracer.skipped[:10]:
            print(f"dapgo trace: skipped {msg}", file=sys.stderr)
        if n == 0:
            raise _TraceError(f"none of the functions matching {regex!r} can be traced"
                              + ("" if args.pid else "; the program was not run"))
        if held and child is not None:
            _release(child)
            held = False
            released = True
            _phase("started the program")
        exited = False
        while not stop:
            sink.emit(session.poll(0.05))
            if child is not None:
                wpid, st = os.waitpid(child, os.WNOHANG)
                if wpid == child:
                    status = os.waitstatus_to_exitcode(st)
                    exited = True
                    break
            elif not os.path.exists(f"/proc/{pid}"):
                exited = True
                break
        sink.emit(session.drain())
        delivered, lost = session.reader.delivered, session.lost()
        sink.close(delivered, lost)  # --stats reads the kernel's counters: before closing
        session.close()
        session = None
        print(f"dapgo trace: {delivered} records delivered, {lost} lost"
              + (" (ring buffer full: raise --buffer-pages)" if lost else "")
              + ("" if exited else "; probes removed, program left running"
                 if args.pid else "; probes removed"), file=sys.stderr)
        if child is not None and not exited:
            os.kill(child, signal.SIGINT)
            _, st = os.waitpid(child, 0)
            status = os.waitstatus_to_exitcode(st)
        child = None
        if status < 0:
            return 128 - status
        return status
    except Exception as e:  # one line, never a traceback; the program never runs untraced
        msg = str(e) or type(e).__name__
        print(f"dapgo trace: {_one_line(msg) or msg}"
              + ("; the program was not run" if child is not None and not released
                 and not isinstance(e, _TraceError) else ""), file=sys.stderr)
        return 1
    finally:
        if child is not None:  # dapgo started it and is not tracing it: never leave it running
            try:
                os.kill(child, signal.SIGKILL)
                os.waitpid(child, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        if session is not None:
            session.close()
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
        if args.output:
            out.close()
        else:
            out.flush()


class _TraceError(Exception):
    """A reason to stop tracing, said in one line."""


class _Sink:
    """Where records go: text lines or Chrome trace JSON; or, with --stats, no records but
    a table read from the kernel's counters at the end."""

    def __init__(self, tracer: FunctionTracer, out: TextIO, pid: int, program: str, *,
                 chrome: bool, stats: FunctionStats | None) -> None:
        from dapgo.engine.labels import LabelDecoder
        from dapgo.trace_chrome import ChromeTrace
        from dapgo.trace_labels import CallLabels

        self.tracer = tracer
        self.out = out
        self.chrome = ChromeTrace(out, pid, program) if chrome else None
        self.stats = stats
        self.labels = CallLabels(LabelDecoder(tracer.bi), pid) if (
            chrome and tracer.labels_read) else None

    def emit(self, recs: list[Record]) -> None:
        if self.chrome is None:
            text = [ln for r in recs for ln in self.tracer.format(r)]
            if text:
                self.out.write("\n".join(text) + "\n")
                self.out.flush()
            return
        if self.labels is not None:
            self.labels.batch()
        for r in recs:
            got = self.tracer.values(r)
            if got is None:
                continue
            site, parts = got
            if site.is_return:
                self.chrome.ret(r.goid, site.fn.name, r.ktime, [t for _, t in parts])
            else:
                labels = None if self.labels is None else self.labels.labels(
                    r.goid, self.tracer.labels_pointer(r))
                self.chrome.call(r.goid, site.fn.name, r.ktime, parts, labels)

    def close(self, delivered: int, lost: int) -> None:
        if self.chrome is not None:
            self.chrome.close(delivered=delivered, lost=lost)
        if self.labels is not None:
            self.labels.close()
            if self.labels.missed:
                print(f"dapgo trace: {self.labels.missed} calls without their pprof labels "
                      "(not readable when their records arrived)", file=sys.stderr)
        if self.stats is not None:
            print(self.stats.table(), file=sys.stderr)
            full = self.stats.s.program.metrics_full()
            if full:
                print(f"dapgo trace: {full} calls not counted: too many distinct label "
                      "values", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="dapgo")
    sub = ap.add_subparsers(dest="command", required=True)
    add_trace_subparser(sub)
    args = ap.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
