"""Session lifecycle requests: initialize, launch, attach, configurationDone, disconnect,
terminate.

Order of a session, as dapgo runs it: `initialize` response; `launch`/`attach` response,
then the `initialized` event (breakpoints need the program, so configuration requests are
invited only once it is loaded; Delve does the same); the client's breakpoint requests;
`configurationDone`, which starts the program or reports a stop on entry.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shlex
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from dapgo.engine.api import (
    DEFAULT_EXCEPTION_FILTERS,
    EXCEPTION_FILTERS,
    MAX_GOROUTINES,
    Debugger,
    DebuggerError,
    clamp,
)
from dapgo.handlers.base import Args, Body, Call, Handler, RequestError
from dapgo.handlers.options import OPTIONS
from dapgo.paths import PathMap
from dapgo.protocol.errors import ErrorId

if TYPE_CHECKING:
    from dapgo.engine.model import LaunchConfig, RunInTerminal

log = logging.getLogger(__name__)

PID_MAX = (1 << 31) - 1  # a pid_t

CAPABILITIES: Body = {
    "supportsConfigurationDoneRequest": True,
    "supportsFunctionBreakpoints": True,
    "supportsConditionalBreakpoints": True,
    "supportsHitConditionalBreakpoints": True,
    "supportsEvaluateForHovers": True,
    "supportsClipboardContext": True,  # "Copy Value": the evaluateName, evaluated whole
    "supportsSetVariable": True,
    "supportsLogPoints": True,
    "supportsTerminateRequest": True,
    "supportsRestartRequest": True,
    "supportTerminateDebuggee": True,
    "supportsDelayedStackTraceLoading": True,
    "supportsSteppingGranularity": True,
    "supportsDataBreakpoints": True,
    "supportsExceptionInfoRequest": True,
    "supportsDisassembleRequest": True,
    "supportsInstructionBreakpoints": True,
    "supportsReadMemoryRequest": True,
    "supportsWriteMemoryRequest": True,
    "exceptionBreakpointFilters": [
        {"filter": f, "label": label, "default": f in DEFAULT_EXCEPTION_FILTERS}
        for f, (_fn, _id, label) in EXCEPTION_FILTERS.items()
    ],
}

# what a session running its program without debugging still does
NO_DEBUG_CAPABILITIES = ("supportsTerminateRequest", "supportTerminateDebuggee",
                         "supportsRestartRequest", "supportsConfigurationDoneRequest")
LAUNCH_MODES = ("debug", "exec", "test", "core")
CONSOLES = ("internalConsole", "integratedTerminal", "externalTerminal")


async def initialize(call: Call) -> Body:
    session, args = call.session, call.args
    if session.initialized:
        raise RequestError(ErrorId.INVALID_REQUEST, "initialize: the session is already "
                           "initialized")
    args.opt_str("adapterID")
    lines_at_1 = args.opt_bool("linesStartAt1", True)
    columns_at_1 = args.opt_bool("columnsStartAt1", True)
    path_format = args.opt_str("pathFormat") or "path"
    if path_format != "path":
        raise args.bad("pathFormat", f"is {path_format!r}, but dapgo supports only 'path'")
    session.client = dict(args.raw)
    session.lines.line = 1 if lines_at_1 else 0
    session.lines.column = 1 if columns_at_1 else 0
    session.initialized = True
    return dict(CAPABILITIES)


def launch_config(args: Args) -> tuple[LaunchConfig, bool]:
    """Check vscode-go/Delve launch arguments and map them to the engine's LaunchConfig."""
    from dapgo.engine.model import LaunchConfig  # the model loads with the first launch

    mode = args.opt_str("mode") or "debug"
    if mode == "auto":  # vscode-go's default: a _test.go file means the package's tests
        program = args.raw.get("program")
        mode = "test" if isinstance(program, str) and program.endswith("_test.go") else "debug"
    if mode not in LAUNCH_MODES:
        raise args.bad("mode", f"is {mode!r}; dapgo supports 'debug', 'exec', 'test' and "
                       "'core'")
    program = args.req_str("program")
    program_args = args.opt_str_list("args") or []
    env = _env_file(args) + _env(args)  # env wins over envFile, as in vscode-go
    cwd = args.opt_str("cwd")
    output = args.opt_str("output")
    stop_on_entry = args.opt_bool("stopOnEntry", False)
    flags = _build_flags(args)
    console = args.opt_str("console") or "internalConsole"
    if console not in CONSOLES:
        raise args.bad("console", f"is {console!r}; it is one of {', '.join(CONSOLES)}")
    if flags and mode in ("exec", "core"):
        raise args.bad("buildFlags", f"cannot be used with mode {mode!r} (nothing is built)")
    core_file = args.opt_str("coreFilePath")
    if mode == "core" and not core_file:
        raise args.bad("coreFilePath", "is required with mode 'core' (the core file to open)")
    _no_nul(args, "program", [program])
    _no_nul(args, "args", program_args)
    _no_nul(args, "cwd", [cwd or ""])
    _no_nul(args, "output", [output or ""])
    _no_nul(args, "buildFlags", flags)
    _no_nul(args, "env", [text for pair in env for text in pair if text is not None])
    for name, _ in env:
        if not name or "=" in name:
            raise args.bad("env", f"has an invalid variable name {name!r}")
    cfg = LaunchConfig(
        program=program,
        mode=mode,  # type: ignore[arg-type]  # checked against LAUNCH_MODES above
        args=tuple(program_args),
        env=env,
        cwd=cwd or None,
        build_flags=flags,
        output=output or None,
        core_file=core_file or None,
        debug_info_dirs=tuple(args.opt_str_list("debugInfoDirectories") or ()),
        no_debug=args.opt_bool("noDebug", False),
        console=console,  # type: ignore[arg-type]  # checked against CONSOLES above
    )
    return cfg, stop_on_entry


def _no_nul(args: Args, name: str, texts: list[str] | tuple[str, ...]) -> None:
    """Paths, arguments and the environment go to the kernel as C strings: no NUL byte."""
    if any("\0" in text for text in texts):
        raise args.bad(name, "must not contain a NUL byte")


def _env(args: Args) -> tuple[tuple[str, str | None], ...]:
    raw: Any = args.raw.get("env")
    if raw is None:
        return ()
    if not isinstance(raw, dict) or not all(
        isinstance(v, str) or v is None for v in raw.values()
    ):
        raise args.bad("env", "must be an object mapping names to strings or null")
    return tuple(raw.items())


def _env_file(args: Args) -> tuple[tuple[str, str | None], ...]:
    """vscode-go's `envFile`: one path or a list, lines of NAME=VALUE (dotenv style:
    blank lines and # comments skipped, optional `export`, optional quotes)."""
    raw: Any = args.raw.get("envFile")
    if raw is None:
        return ()
    paths = [raw] if isinstance(raw, str) else raw
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise args.bad("envFile", "must be a path or a list of paths")
    _no_nul(args, "envFile", paths)
    out: list[tuple[str, str | None]] = []
    for path in paths:
        try:
            text = open(os.path.expanduser(path), encoding="utf-8").read()
        except OSError as exc:
            raise args.bad("envFile", f"cannot read {path}: {exc.strerror or exc}") from None
        for n, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            line = line.removeprefix("export ").strip()
            name, sep, value = line.partition("=")
            if not sep or not name.strip():
                raise args.bad("envFile", f"{path}:{n} is not NAME=VALUE")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            out.append((name.strip(), value))
    return tuple(out)


def _build_flags(args: Args) -> tuple[str, ...]:
    """`go build` arguments, quoted once as a shell would: a string is split with shell
    rules (`-ldflags='-X main.Version=1.2'` is one argument), a list is taken as the
    arguments themselves (Delve's two forms)."""
    raw: Any = args.raw.get("buildFlags")
    if raw is None:
        return ()
    if isinstance(raw, str):
        try:
            return tuple(shlex.split(raw))
        except ValueError as exc:
            raise args.bad("buildFlags", f"cannot be split into flags: {exc}") from None
    if isinstance(raw, list) and all(isinstance(f, str) for f in raw):
        return tuple(f for f in raw if f)
    raise args.bad("buildFlags", "must be a string or a list of strings")


async def apply_display_options(call: Call, debugger: Debugger) -> None:
    """Launch/attach attributes that shape what the user sees (vscode-go/Delve names):
    showPprofLabels, hideSystemGoroutines, goroutineFilters, maxGoroutines, maxStringLen,
    maxArrayValues, showGlobalVariables, showRegisters; and followExec, followExecRegex. A bad
    value fails the request before anything starts."""
    args = call.args
    labels = args.opt_str_list("showPprofLabels") or []
    hide = args.opt_bool("hideSystemGoroutines", False)
    filters = args.opt_str("goroutineFilters") or ""
    # limits larger than the engine's bounds are clamped to them (dapgo.engine.limits)
    max_goroutines = clamp(args.opt_int("maxGoroutines", minimum=1), MAX_GOROUTINES) or 1024
    call.session.show_registers = args.opt_bool("showRegisters", True)
    follow = args.opt_bool("followExec", False)
    regex = args.opt_str("followExecRegex") or None
    if regex is not None:
        try:
            re.compile(regex)
        except re.error as exc:
            raise args.bad("followExecRegex", f"is not a regular expression: {exc}") from None
    if follow:
        await call.session.engine(debugger.set_follow_exec(follow, regex))
    options = call.session.options
    for name, option in OPTIONS.items():
        raw = args.raw.get(name)
        if raw is None:
            continue
        if option.kind not in (bool, int, str):
            options.set(name, raw)  # structured: as given (the option checks it itself)
            continue
        if type(raw) is not option.kind:
            raise args.bad(name, f"must be a {option.kind.__name__}")
        try:
            options.set(name, option.parse(str(raw)) if option.kind is not bool else raw)
        except ValueError as exc:
            raise args.bad(name, str(exc)) from None
    try:
        await call.session.engine(debugger.set_goroutine_options(labels, hide, filters,
                                                                 max_goroutines))
    except DebuggerError as exc:
        raise args.bad("goroutineFilters", str(exc)) from None
    # (the engine clamps limits larger than its bounds: dapgo.engine.limits)
    await call.session.engine(debugger.set_value_limits(options.max_string_len,
                                                        options.max_array_values))


def substitute_path(args: Args) -> PathMap:
    """Delve's `substitutePath`: a list of {"from": client prefix, "to": binary prefix}."""
    raw: Any = args.raw.get("substitutePath")
    if raw is None:
        return PathMap()
    if not isinstance(raw, list):
        raise args.bad("substitutePath", 'must be a list of {"from": ..., "to": ...}')
    rules: list[tuple[str, str]] = []
    for i, item in enumerate(raw):
        if not (isinstance(item, dict) and isinstance(item.get("from"), str)
                and isinstance(item.get("to"), str)):
            raise args.bad("substitutePath", f'entry {i} must be {{"from": STRING, '
                           f'"to": STRING}}, not {item!r}')
        rules.append((item["from"], item["to"]))
    return PathMap(rules)


async def launch(call: Call) -> None:
    session, args = call.session, call.args
    cfg, stop_on_entry = launch_config(args)
    session.paths = substitute_path(args)
    debugger = session.create_debugger()
    session.target = "launch"
    session.launched = (cfg, stop_on_entry)
    try:
        await apply_display_options(call, debugger)
        await session.engine(debugger.launch(cfg, stop_on_entry, _terminal(call, cfg)))
    except Exception:
        await _abandon(call, debugger, terminate=True)
        raise
    if cfg.no_debug:
        # running already; no `initialized`: there is nothing to configure (Delve). What
        # needs a debugged program is off for this session: say so.
        call.then(lambda: session.send_event("capabilities", {"capabilities": {
            name: False for name, value in CAPABILITIES.items()
            if value is True and name not in NO_DEBUG_CAPABILITIES}}))
        return
    call.then(lambda: session.send_event("initialized"))


def _terminal(call: Call, cfg: LaunchConfig) -> RunInTerminal | None:
    """How the engine asks the client to start the program in its terminal (`console`
    integratedTerminal/externalTerminal, DAP runInTerminal); None for the debug console,
    also when the client cannot (it did not say supportsRunInTerminalRequest)."""
    session = call.session
    if cfg.console == "internalConsole":
        return None
    if not session.client.get("supportsRunInTerminalRequest"):
        session.send_event("output", {"category": "console", "output": (
            f"dapgo: console {cfg.console!r} needs a client that runs programs in a terminal "
            "(runInTerminal); the program's output goes to the debug console and its stdin "
            "is empty\n")})
        return None
    loop = asyncio.get_running_loop()
    kind = "external" if cfg.console == "externalTerminal" else "integrated"

    async def ask(argv: list[str], cwd: str, env: dict[str, str | None]) -> None:
        try:
            await session.reverse_request("runInTerminal", {
                "kind": kind, "title": f"dapgo: {os.path.basename(cfg.program) or cfg.program}",
                "cwd": cwd, "args": argv, "env": env})
        except RequestError as exc:
            raise DebuggerError(str(exc)) from None

    def run(argv: list[str], cwd: str, env: dict[str, str | None]) -> Future[None]:
        return asyncio.run_coroutine_threadsafe(ask(argv, cwd, env), loop)

    return run


async def restart(call: Call) -> None:
    """Build and start the launched program again, with the same launch arguments or the
    new ones in `arguments`; breakpoints are kept (placed again, same ids)."""
    session, args = call.session, call.args
    debugger = session.require_debugger()
    if session.target != "launch" or session.launched is None:
        raise RequestError(ErrorId.INVALID_REQUEST, "restart: only a launched program can be "
                           "restarted; detach and attach again instead")
    new = args.opt_obj("arguments")
    cfg, stop_on_entry = launch_config(new) if new is not None else session.launched
    if new is not None:
        await apply_display_options(Call(session, call.command, new), debugger)
    session.launched = (cfg, stop_on_entry)
    session.reset_handles()
    await session.engine(debugger.restart(cfg, stop_on_entry, _terminal(call, cfg)))


async def attach(call: Call) -> None:
    session, args = call.session, call.args
    mode = args.opt_str("mode") or "local"
    if mode == "remote":
        raise args.bad("mode", "is 'remote', but dapgo attaches only to local processes "
                       "(mode 'local'); run dapgo on the remote machine instead")
    if mode != "local":
        raise args.bad("mode", f"is {mode!r}; dapgo supports only 'local'")
    pid = _pid(args)
    session.paths = substitute_path(args)
    stop_on_entry = args.opt_bool("stopOnEntry", False)
    debugger = session.create_debugger()
    session.target = "attach"
    try:
        await apply_display_options(call, debugger)
        await session.engine(debugger.attach(pid, stop_on_entry))
    except Exception:
        await _abandon(call, debugger, terminate=False)
        raise
    call.then(lambda: session.send_event("initialized"))


async def _abandon(call: Call, debugger: Debugger, terminate: bool) -> None:
    """After a failed launch/attach: release whatever the engine set up, forget it."""
    session = call.session
    if session.debugger is not debugger or session.engine_disconnected:
        return  # a concurrent disconnect already took care of it
    session.drop_debugger()
    try:
        await session.engine(debugger.disconnect(terminate))
    except Exception:
        log.exception("%s: cleanup after a failed %s", session.name, call.command)


def _pid(args: Args) -> int:
    raw: Any = args.raw.get("processId")
    if raw is None:
        raise args.bad("processId", "is required")
    if isinstance(raw, str) and raw.strip().isdigit() and len(raw.strip()) <= 10:
        raw = int(raw.strip())
    if type(raw) is not int:
        raise args.bad("processId", "must be a process id (an integer)")
    if not 0 < raw <= PID_MAX:
        raise args.bad("processId", f"must be a process id between 1 and {PID_MAX}")
    return raw


async def configuration_done(call: Call) -> None:
    session = call.session
    debugger = session.require_debugger()
    session.reset_handles()
    await session.engine(debugger.configuration_done())


async def disconnect(call: Call) -> None:
    session, args = call.session, call.args
    terminate = args.opt_bool("terminateDebuggee", session.target != "attach")
    call.then(session.end)  # the session ends after this response, even if the engine failed
    debugger = session.debugger
    if debugger is None or session.engine_disconnected:
        return
    session.engine_disconnected = True
    await session.engine(debugger.disconnect(terminate))


async def terminate(call: Call) -> None:
    session = call.session
    debugger = session.require_debugger()
    await session.engine(debugger.terminate())


HANDLERS: dict[str, Handler] = {
    "initialize": initialize,
    "launch": launch,
    "attach": attach,
    "configurationDone": configuration_done,
    "restart": restart,
    "disconnect": disconnect,
    "terminate": terminate,
}
