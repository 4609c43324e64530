"""The Debug Console's `dapgo ...` commands (an `evaluate` in the "repl" context).

Each command is an async function registered with `@command(name, usage, summary)`: it
gets a `Console` (the session, the frame the editor had selected, the debugger) and the
rest of the line, and returns the text to print. `dapgo help` lists every registered one,
`dapgo help NAME` shows one's usage. To add a command from another module, decorate a
function there with `@command(...)` and import that module in dapgo/handlers/__init__.py
(it registers on import); nothing here changes.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from dapgo.engine.api import Debugger
from dapgo.handlers.base import Call, RequestError
from dapgo.handlers.options import OPTIONS
from dapgo.protocol.errors import ErrorId

if TYPE_CHECKING:
    from dapgo.session import Session

PREFIX = "dapgo "
MAX_SOURCES = 500


class Console:
    """What a command runs with."""

    def __init__(self, call: Call, frame: tuple[int, int] | None) -> None:
        self.call = call
        self.session: Session = call.session
        self.frame = frame  # (goroutine, frame index) the editor had selected, if any
        self.threads_changed = False  # the threads view must be refreshed

    @property
    def debugger(self) -> Debugger:
        return self.session.require_debugger()

    def goroutine(self) -> int:
        if self.frame is None:
            raise fail("select a frame (the editor passes it with the command) or name a "
                       "goroutine with -g ID")
        return self.frame[0]


Run = Callable[[Console, str], Awaitable[str]]


class Command:
    __slots__ = ("name", "run", "summary", "usage")

    def __init__(self, name: str, usage: str, summary: str, run: Run) -> None:
        self.name = name
        self.usage = usage
        self.summary = summary
        self.run = run


COMMANDS: dict[str, Command] = {}


def command(name: str, usage: str, summary: str) -> Callable[[Run], Run]:
    """Register `dapgo NAME`: `usage` is its full help text, `summary` one line for help."""
    def register(run: Run) -> Run:
        COMMANDS[name] = Command(name, usage, summary, run)
        return run
    return register


def fail(message: str) -> RequestError:
    return RequestError(ErrorId.INVALID_ARGUMENTS, message)


async def run(call: Call, text: str, frame: tuple[int, int] | None) -> tuple[str, bool]:
    """Run one console line (without its `dapgo ` prefix): (text, threads view changed)."""
    console = Console(call, frame)
    out = await run_line(console, text)
    return out, console.threads_changed


async def run_line(console: Console, text: str) -> str:
    name, _, rest = text.strip().partition(" ")
    cmd = COMMANDS.get(name or "help")
    if cmd is None:
        raise fail(f"unknown command {name!r}; `dapgo help` lists them: "
                   f"{', '.join(sorted(COMMANDS))}")
    return await cmd.run(console, rest.strip())


# ----- the commands -----

@command("help", "dapgo help [COMMAND]\n    every command, or one command's usage",
         "list the commands, or show one's usage")
async def _help(console: Console, args: str) -> str:
    if args:
        cmd = COMMANDS.get(args.removeprefix(PREFIX).strip())
        if cmd is None:
            raise fail(f"no command {args!r}; `dapgo help` lists them")
        if not cmd.usage:  # it tells its own usage
            return await cmd.run(console, "-help")
        return cmd.usage.rstrip("\n") + "\n"
    width = max(len(n) for n in COMMANDS)
    lines = [f"dapgo {c.name:<{width}}  {c.summary}" for c in sorted(
        COMMANDS.values(), key=lambda c: c.name)]
    return "\n".join([*lines, "`dapgo help COMMAND` shows a command's usage"]) + "\n"


@command("goroutines", "", "list, count, filter goroutines; -chan EXPR, -exec CMD")
async def _goroutines(console: Console, args: str) -> str:
    answer = await console.session.engine(console.debugger.goroutine_command(
        args, console.frame))
    console.threads_changed = console.threads_changed or answer.threads_changed
    try:
        words = shlex.split(args)
    except ValueError:
        words = []
    if "-exec" not in words:
        return answer.text
    inner = " ".join(shlex.quote(w) for w in words[words.index("-exec") + 1:])
    out = []
    for gid in answer.goroutines:
        sub = Console(console.call, (gid, 0))
        out.append(f"Goroutine {gid}:\n{await run_line(sub, inner)}")
    return "".join(out) or "no goroutine matches\n"


@command("metrics", "", "the metric points' figures ({#count}, {#latency} logpoints)")
async def _metrics(console: Console, args: str) -> str:
    answer = await console.session.engine(console.debugger.metrics_command(args))
    console.threads_changed = console.threads_changed or answer.threads_changed
    return answer.text


@command("config", "dapgo config [-list]\n    list the session's options and their values\n"
         "dapgo config NAME VALUE\n    set one (as the launch attribute NAME would)\n"
         "dapgo config substitutePath FROM TO\n    map the editor's path prefix FROM to the "
         "binary's TO (and back; quote paths with spaces); FROM alone removes that rule",
         "list or set the session's options (as dlv config)")
async def _config(console: Console, args: str) -> str:
    session = console.session
    words = args.split(None, 1)
    if not words or words == ["-list"]:  # Delve's `config -list` too
        width = max(len(n) for n in OPTIONS)
        return "".join(f"{o.name:<{width}}  {o.show(session.options.get(o.name))}  # {o.help}\n"
                       for o in OPTIONS.values()) + session.paths.describe()
    if words[0] == "substitutePath":
        return _substitute_path(console, words[1] if len(words) > 1 else "")
    option = OPTIONS.get(words[0])
    if option is None:
        raise fail(f"no option {words[0]!r}; `dapgo config` lists them")
    if len(words) < 2:
        return f"{option.name} = {option.show(session.options.get(option.name))}\n"
    try:
        value = option.parse(words[1].strip())
    except ValueError as exc:
        raise fail(str(exc)) from None
    session.options.set(option.name, value)
    if option.apply is not None:
        await option.apply(session, value)
    console.threads_changed = True  # what is shown may have changed
    return f"{option.name} = {option.show(value)}\n"


@command("sources", "dapgo sources [REGEX]\n    the program's source files (matching REGEX)",
         "list the program's source files")
async def _sources(console: Console, args: str) -> str:
    try:
        rx = re.compile(args or ".")
    except re.error as exc:
        raise fail(f"bad regular expression {args!r}: {exc}") from None
    files = [f for f in await console.session.engine(console.debugger.source_files())
             if rx.search(f)]
    shown = files[:MAX_SOURCES]
    more = f"... and {len(files) - len(shown)} more\n" if len(files) > len(shown) else ""
    return "".join(f + "\n" for f in shown) + more + (f"{len(files)} files\n" if files
                                                      else "no source file matches\n")


@command("stack", "dapgo stack [-full] [-g GOROUTINE] [DEPTH]\n    the stack of the selected "
         "(or given) goroutine, DEPTH frames (default 50); -full: with each frame's "
         "arguments and locals", "print a goroutine's stack (-full: with variables)")
async def _stack(console: Console, args: str) -> str:
    words = args.split()
    full = "-full" in words
    words = [w for w in words if w != "-full"]
    goroutine: int | None = None
    if "-g" in words:
        i = words.index("-g")
        if i + 1 >= len(words) or not words[i + 1].isdigit():
            raise fail("-g must be followed by a goroutine id")
        goroutine = int(words[i + 1])
        del words[i:i + 2]
    if len(words) > 1 or (words and not words[0].isdigit()):
        raise fail("usage: " + COMMANDS["stack"].usage.splitlines()[0])
    depth = int(words[0]) if words else 50
    gid = goroutine if goroutine is not None else console.goroutine()
    debugger = console.debugger
    frames, total = await console.session.engine(debugger.stack_trace(gid, 0, depth))
    lines = []
    for i, f in enumerate(frames):
        lines.append(f"{i:2d}  0x{f.pc:016x} in {f.function}\n    at {f.path or '?'}:{f.line}")
        if full:
            for scope in await console.session.engine(debugger.scopes(gid, i, False)):
                if scope.presentation_hint not in ("arguments", "locals") or \
                        scope.handle is None:
                    continue
                for var in await console.session.engine(debugger.variables(scope.handle,
                                                                           None, None)):
                    lines.append(f"        {var.name} = {var.value}")
    if total > len(frames):
        lines.append(f"    ... {total - len(frames)} more frames")
    return "\n".join(lines) + "\n"


def _substitute_path(console: Console, text: str) -> str:
    """Delve's `config substitutePath FROM [TO]`: breakpoints set from now on use the rules;
    frames show them at once."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise fail(f"dapgo config: {exc}") from None
    paths = console.session.paths
    if not words or words == ["-list"]:
        return paths.describe()
    if len(words) > 2:
        raise fail("usage: dapgo config substitutePath FROM [TO]")
    if len(words) == 2:
        paths.set(words[0], words[1])
    elif not paths.remove(words[0]):
        raise fail(f"dapgo config: no substitutePath rule for {words[0]!r}\n"
                   + paths.describe())
    call = console.call
    call.then(lambda: call.session.send_event("invalidated", {"areas": ["stacks"]}))
    return paths.describe()


@command("dump", "dapgo dump PATH\n    write an ELF core file of the stopped program (it "
         "keeps running when continued); open it with launch mode 'core'",
         "write a core file of the stopped program (as dlv dump)")
async def _dump(console: Console, args: str) -> str:
    path = args.strip()
    if not path:
        raise fail("usage: dapgo dump PATH (the core file to write)")
    answer = await console.session.engine(console.debugger.dump(path))
    return answer.text
