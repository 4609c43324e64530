"""Command-line entry point: `dapgo` (stdio), `dapgo --listen [HOST]:PORT`, `dapgo doctor`,
`dapgo trace ...`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from dapgo import __version__
from dapgo.trace import add_trace_subparser, run_trace

LOG_FORMAT = "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dapgo",
        description="A Debug Adapter Protocol server for Go programs on Linux x86-64. "
        "Without --listen it speaks DAP on stdin/stdout.",
    )
    sub = p.add_subparsers(dest="command", metavar="{doctor,trace}")
    sub.add_parser("doctor", help="check what this machine offers dapgo, then exit")
    add_trace_subparser(sub)
    p.add_argument("--version", action="version", version=f"dapgo {__version__}")
    p.add_argument("--listen", metavar="[HOST]:PORT",
                   help="serve DAP over TCP (':4711' binds 127.0.0.1; port 0 picks one)")
    p.add_argument("--log-file", metavar="PATH", help="write the log to PATH")
    p.add_argument("--log-level", default=None,
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                   help="log level (default: INFO with --log-file, WARNING on stderr)")
    return p


def _setup_logging(path: str | None, level: str | None) -> None:
    handler: logging.Handler
    if path:
        handler = logging.FileHandler(path, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level or ("INFO" if path else "WARNING"))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "doctor":
        from dapgo.doctor import main as doctor_main

        return doctor_main()
    _setup_logging(args.log_file, args.log_level)
    if args.command == "trace":
        return run_trace(args)
    from dapgo import server

    try:
        if args.listen is not None:
            try:
                host, port = server.parse_listen(args.listen)
            except ValueError as exc:
                print(f"dapgo: {exc}", file=sys.stderr)
                return 2
            try:
                return asyncio.run(server.serve_tcp(host, port))
            except OSError as exc:
                print(f"dapgo: cannot listen on {args.listen}: {exc.strerror or exc}",
                      file=sys.stderr)
                return 1
        return asyncio.run(server.serve_stdio())
    except KeyboardInterrupt:  # a signal before the handlers were installed
        return 130
