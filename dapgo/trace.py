"""`dapgo trace [--exec BINARY | --pid PID | PACKAGE] REGEX [-- ARGS...]`: eBPF function tracing.

Like `dlv trace --ebpf`: a uprobe after the prologue of every function matching REGEX and on
each of its RET instructions; one line per call and per return, goroutine ids, arguments and
results by name. The program's stdout/stderr pass through untouched; trace lines go to
stderr (or --output). Ctrl-C (SIGINT) removes every probe and the BPF program; with --pid
the program keeps running. A summary line reports records delivered and records lost.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from dapgo.engine.dwarf import BinaryInfo


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
    p.add_argument("--output", "-o", metavar="FILE", help="write trace lines here, not stderr")
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

    from dapgo.engine.bpf.tracer import traceable_functions
    from dapgo.engine.dwarf import BinaryInfo
    from dapgo.engine.errors import DebuggerError

    package, regex, prog_args = _split_args(args)
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
        if not traceable_functions(bi, regex):
            return _fail(f"no function matches {regex!r}"
                         + ("" if args.pid else "; the program was not run"))
        return _trace(args, bi, path, regex, prog_args)
    finally:
        if bi is not None:
            bi.close()
        if tmpdir:
            import shutil
            shutil.rmtree(tmpdir, ignore_errors=True)


def _trace(args: argparse.Namespace, bi: BinaryInfo, path: str, regex: str,
           prog_args: list[str]) -> int:
    from dapgo.engine.bpf.session import BpfSession
    from dapgo.engine.bpf.tracer import FunctionTracer

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
        session = BpfSession(bi, pid, ringbuf_pages=args.buffer_pages)
        tracer = FunctionTracer(session, stack=args.stack, string_cap=args.string_cap)
        t0 = time.monotonic()
        n = tracer.attach(regex)
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
        exited = False
        while not stop:
            recs = session.poll(0.05)
            _emit(tracer, recs, out)
            if child is not None:
                wpid, st = os.waitpid(child, os.WNOHANG)
                if wpid == child:
                    status = os.waitstatus_to_exitcode(st)
                    exited = True
                    break
            elif not os.path.exists(f"/proc/{pid}"):
                exited = True
                break
        _emit(tracer, session.drain(), out)
        delivered, lost = session.reader.delivered, session.lost()
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


def _emit(tracer: object, recs: list, out: TextIO) -> None:
    fmt = tracer.format  # type: ignore[attr-defined]
    lines: list[str] = []
    for r in recs:
        lines.extend(fmt(r))
    if lines:
        out.write("\n".join(lines) + "\n")
        out.flush()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="dapgo")
    sub = ap.add_subparsers(dest="command", required=True)
    add_trace_subparser(sub)
    args = ap.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
