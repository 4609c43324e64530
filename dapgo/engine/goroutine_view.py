"""What goroutines look like as DAP threads, and the `dapgo goroutines` console command.

`GoroutineView` holds the launch/attach attributes that decide what the Threads view shows
(`showPprofLabels`, `hideSystemGoroutines`, `goroutineFilters`, `maxGoroutines`) and names
each goroutine's thread; `parse_command` reads the command's arguments (Delve's
`goroutines` syntax plus `-group`, `-chan`, `-exec`, `-labels`) and the view runs it on one
stop's `GoroutineSet` (dapgo.engine.goroutines).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping

import attrs

from dapgo.engine.errors import DebuggerError
from dapgo.engine.goroutine_filters import (
    FilterError,
    GoroutineFilter,
    GoroutineQuery,
    format_filters,
    parse_filters,
    parse_query,
)
from dapgo.engine.goroutines import DEFAULT_MAX_GOROUTINES, Goroutine, GoroutineSet
from dapgo.engine.model import ThreadInfo


@attrs.define
class GoroutineView:
    """How goroutines are shown as threads: the launch/attach attributes `showPprofLabels`,
    `hideSystemGoroutines`, `goroutineFilters`, `maxGoroutines`, and what the last listing
    left out."""

    show_labels: tuple[str, ...] = ()
    hide_system: bool = False
    filters: tuple[GoroutineFilter, ...] = ()
    max_goroutines: int = DEFAULT_MAX_GOROUTINES
    omitted: int = 0  # matching goroutines left out of the last `threads` answer
    matched: int = 0  # goroutines that passed the filters in the last `threads` answer
    last: list[ThreadInfo] | None = None  # the last `threads` answer
    changed: bool = False  # the last command changed what `threads` shows

    def set(self, show_labels: Iterable[str], hide_system: bool, filters: str,
            max_goroutines: int) -> None:
        """Replace every setting; raises FilterError (a DebuggerError) on a bad filter,
        leaving the settings as they were."""
        parsed = parse_filters(filters or "")
        if max_goroutines <= 0:
            raise DebuggerError(f"maxGoroutines must be positive, not {max_goroutines}")
        self.show_labels = tuple(show_labels)
        self.hide_system = hide_system
        self.filters = parsed
        self.max_goroutines = max_goroutines

    def effective_filters(self) -> tuple[GoroutineFilter, ...]:
        extra = (GoroutineFilter("user"),) if self.hide_system else ()
        return (*self.filters, *extra)

    def describe(self) -> str:
        parts = [format_filters(self.effective_filters()) or "(none)"]
        return "filters: " + parts[0] + (
            f"; labels shown: {', '.join(self.show_labels)}" if self.show_labels else "")

    def label_text(self, labels: Mapping[str, str]) -> str:
        """Delve's rule: one key shows its value alone, `*` shows every key:value sorted,
        several keys show key:value for those present."""
        keys = self.show_labels
        if not keys or not labels:
            return ""
        if len(keys) == 1:
            if keys[0] == "*":
                return "".join(f" {k}:{labels[k]}" for k in sorted(labels) if labels[k])
            v = labels.get(keys[0], "")
            return f" {v}" if v else ""
        return "".join(f" {k}:{labels[k]}" for k in keys if labels.get(k))

    def thread_name(self, gs: GoroutineSet, g: Goroutine, selected: bool) -> str:
        """`* [Go 7 team:blue] main.work (Thread 1234)`, as Delve names goroutines."""
        keys = None if "*" in self.show_labels else self.show_labels
        labels = self.label_text(gs.labels(g, keys)) if self.show_labels else ""
        fn = gs.user_location(g).function or "?"
        thread = f" (Thread {g.thread_id})" if g.thread_id else ""
        return f"{'* ' if selected else ''}[Go {g.id}{labels}] {fn}{thread}"

    def choose(self, gs: GoroutineSet, selected: int | None) -> list[Goroutine]:
        """Filter every goroutine, then cap at max_goroutines; the selected goroutine is
        always included. Sets `omitted`/`matched`."""
        self.matched, shown = gs.select_first(self.effective_filters(), self.max_goroutines)
        self.omitted = self.matched - len(shown)
        chosen = gs.get(selected) if selected is not None else None
        if chosen is not None and all(g.id != selected for g in shown):
            shown.append(chosen)
            shown.sort()
        return shown

    def apply_command(self, cmd: GoroutineCommand) -> None:
        _apply_command(self, cmd)

    def report(self, gs: GoroutineSet, cmd: GoroutineCommand, selected: int | None,
               only: frozenset[int] | None = None) -> str:
        """The text of a command; `only`: restrict a listing to these goroutines."""
        return _report(self, gs, cmd, selected, only)

    def listed(self, gs: GoroutineSet, cmd: GoroutineCommand,
               only: frozenset[int] | None = None) -> list[Goroutine]:
        """The goroutines a `-list` (-chan, -exec) command names, in order."""
        q = cmd.query
        among = gs.select(q.filters if q.filters else self.effective_filters())
        among = [g for g in among if only is None or g.id in only]
        return among[:cmd.list_count or DEFAULT_LIST]

    def omitted_message(self) -> str:
        return (f"dapgo: showing {self.matched - self.omitted} of {self.matched} goroutines "
                f"(maxGoroutines is {self.max_goroutines}); narrow the list with the "
                "goroutineFilters attribute or in the Debug Console with "
                "`dapgo goroutines -with label KEY=VALUE` (see `dapgo goroutines -help`)\n")


COMMAND_HELP = """\
dapgo goroutines                        the threads view settings and how many goroutines match
dapgo goroutines -with|-without FILTER  show only the matching goroutines as threads (replaces
                                        the filters; several combine with AND)
dapgo goroutines -clear                 show every goroutine again
dapgo goroutines -labels KEY[,KEY...]   pprof labels shown in thread names (`*`: all; `-`: none)
dapgo goroutines [FILTER...] -group label KEY
                                        count goroutines per label value (also -group userloc,
                                        curloc, goloc, startloc, running, user); FILTERs given
                                        here restrict the count only
dapgo goroutines [FILTER...] -list [N]  print the first N (50) matching goroutines
dapgo goroutines [FILTER...] -chan EXPR only the goroutines waiting on channel EXPR (listed)
dapgo goroutines [FILTER...] -exec CMD  run the console command CMD (e.g. `stack`) on each
                                        matching goroutine
FILTER: label KEY=VALUE | label KEY | userloc|curloc|goloc|startloc SUBSTRING | running | user
"""
DEFAULT_LIST = 50
MAX_GROUPS_SHOWN = 200


@attrs.frozen
class GoroutineCommand:
    """A parsed `dapgo goroutines` command line."""

    query: GoroutineQuery = attrs.field(factory=GoroutineQuery)
    filters_given: bool = False
    clear: bool = False
    labels: tuple[str, ...] | None = None
    list_count: int | None = None
    help: bool = False
    chan: str | None = None  # -chan EXPR: goroutines waiting on this channel
    exec_command: str | None = None  # -exec CMD: a console command for each goroutine

    @property
    def reports_only(self) -> bool:
        """-group/-list: the filters restrict the report, the view is not changed."""
        return (self.query.group_by is not None or self.list_count is not None
                or self.chan is not None or self.exec_command is not None)

    @property
    def sets_view(self) -> bool:
        return (self.clear or self.labels is not None
                or (self.filters_given and not self.reports_only))


def parse_command(args: str) -> GoroutineCommand:
    """Parse the arguments of `dapgo goroutines` (a leading `goroutines` word is skipped);
    raises FilterError (a DebuggerError) saying what is wrong."""
    try:
        tokens = shlex.split(args)
    except ValueError as exc:
        raise FilterError(f"cannot parse {args!r}: {exc}") from exc
    if tokens and tokens[0] == "goroutines":
        tokens = tokens[1:]
    rest: list[str] = []
    clear = help_ = False
    labels: tuple[str, ...] | None = None
    list_count: int | None = None
    chan: str | None = None
    exec_command: str | None = None
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t == "-exec":
            exec_command = " ".join(shlex.quote(x) for x in tokens[i + 1:])
            if not exec_command:
                raise FilterError("-exec must be followed by a command, e.g. -exec stack")
            break
        if t == "-chan":
            if i + 1 >= len(tokens):
                raise FilterError("-chan must be followed by a channel expression")
            i += 1
            chan = tokens[i]
        elif t in ("-h", "-help", "--help", "help"):
            help_ = True
        elif t == "-clear":
            clear = True
        elif t == "-labels":
            if i + 1 >= len(tokens):
                raise FilterError("-labels must be followed by KEY[,KEY...], `*` or `-`")
            i += 1
            spec = tokens[i]
            labels = () if spec == "-" else tuple(k for k in spec.split(",") if k)
        elif t == "-list":
            list_count = DEFAULT_LIST
            if i + 1 < len(tokens) and tokens[i + 1].isdigit():
                i += 1
                list_count = int(tokens[i])
        else:
            rest.append(t)
        i += 1
    query = parse_query(" ".join(shlex.quote(t) for t in rest))
    if clear and query.filters and not (query.group_by or list_count is not None):
        raise FilterError("-clear removes the filters: give it without -with/-without")
    if (chan is not None or exec_command is not None) and list_count is None:
        list_count = DEFAULT_LIST if exec_command is None else 1 << 30
    return GoroutineCommand(query, bool(query.filters), clear, labels, list_count, help_,
                            chan, exec_command)


def _apply_command(view: GoroutineView, cmd: GoroutineCommand) -> None:
    if cmd.clear:
        view.filters = ()
        view.hide_system = False
    elif cmd.filters_given and not cmd.reports_only:
        view.filters = cmd.query.filters
    if cmd.labels is not None:
        view.show_labels = cmd.labels
    view.changed = True


def _describe_goroutine(view: GoroutineView, gs: GoroutineSet, g: Goroutine,
                        selected: bool) -> str:
    loc = gs.user_location(g)
    labels = gs.labels(g)
    text = (f"{'*' if selected else ' '} Goroutine {g.id} - User: {loc.file or '?'}:{loc.line} "
            f"{loc.function or '?'} ({loc.pc:#x})")
    if g.thread_id:
        text += f" (thread {g.thread_id})"
    if labels:
        text += " [" + " ".join(f"{k}:{v}" for k, v in sorted(labels.items())) + "]"
    return text


def _report(view: GoroutineView, gs: GoroutineSet, cmd: GoroutineCommand,
            selected: int | None, only: frozenset[int] | None = None) -> str:
    total = len(gs)
    q = cmd.query
    if q.group_by is not None:
        matched, counts = gs.group(q)
        what = f"label {q.group_key}" if q.group_by == "label" else q.group_by
        scope = f" matching {format_filters(q.filters)}" if q.filters else ""
        lines = [f"{matched} of {total} goroutines{scope}, {len(counts)} groups "
                 f"by {what}:"]
        ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0] is None, kv[0] or ""))
        for value, n in ordered[:MAX_GROUPS_SHOWN]:
            if value is None:
                name = f"(no label {q.group_key})" if q.group_by == "label" else "(none)"
            else:
                name = f"{q.group_key}={value}" if q.group_by == "label" else value
            lines.append(f"  {name}: {n}")
        if len(ordered) > MAX_GROUPS_SHOWN:
            lines.append(f"  ... and {len(ordered) - MAX_GROUPS_SHOWN} more groups")
        return "\n".join(lines) + "\n"
    if cmd.list_count is not None:
        filters = q.filters if q.filters else view.effective_filters()
        among = [g for g in gs.select(filters) if only is None or g.id in only]
        lines = [_describe_goroutine(view, gs, g, g.id == selected)
                 for g in among[:cmd.list_count]]
        more = len(among) - len(lines)
        tail = f"[{len(among)} of {total} goroutines match"
        tail += f" {format_filters(filters)}" if filters else ""
        tail += f"; {more} not listed]" if more > 0 else "]"
        return "\n".join([*lines, tail]) + "\n"
    matched = len(gs.select(view.effective_filters()))
    shown = min(matched, view.max_goroutines)
    return (f"{view.describe()}\n{matched} of {total} goroutines match; the threads list "
            f"shows {shown} (maxGoroutines {view.max_goroutines}) plus the stopped one\n")
