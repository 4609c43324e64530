"""Exceptions the engine raises; each carries a message fit to show a user as-is."""


class DebuggerError(Exception):
    """A request the engine cannot carry out; `str(exc)` is the user-facing message."""


class ProgramNotFoundError(DebuggerError):
    """The program (or package) to debug does not exist."""


class BuildError(DebuggerError):
    """`go build` / `go test -c` failed; the message carries the compiler's output."""


class BinaryFormatError(DebuggerError):
    """The file is not an ELF executable dapgo can debug (not ELF, not x86-64, not Go)."""


class NoDebugInfoError(BinaryFormatError):
    """The Go binary carries no DWARF (built with -ldflags=-w or stripped)."""


class ProcessError(DebuggerError):
    """Launching, attaching to or controlling the process failed."""


class NotStoppedError(DebuggerError):
    """The request needs a stopped program but it is running."""
