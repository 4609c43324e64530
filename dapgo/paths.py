"""substitutePath: the client's source paths <-> the paths written in the binary.

A binary built elsewhere (in a container, on CI, with `-trimpath`) names its sources by
paths that do not exist here. Delve's launch/attach attribute `substitutePath`, a list of
`{"from": CLIENT_PREFIX, "to": BINARY_PREFIX}`, maps them in both directions, and so does
this: a breakpoint's path goes to the binary's (`to_binary`), and every path shown to the
client (stack frames, breakpoints, logpoint output) comes back (`to_client`). The first rule
whose prefix matches, on a whole path component, wins. An empty binary prefix stands for
the relative paths a `-trimpath` build writes ("runtime/proc.go",
"example.com/m/main.go"): `{"from": "/home/me/m", "to": ""}` is not useful alone, but
`{"from": "/usr/local/go/src", "to": ""}` maps every relative path under GOROOT.

Used by the session (dapgo.session) at its boundary with the client, as LineBase is for
line numbers; `dapgo config substitutePath FROM [TO]` in the Debug Console edits it.
"""

from __future__ import annotations

import posixpath


class PathMap:
    """An ordered list of (client prefix, binary prefix) rules."""

    def __init__(self, rules: list[tuple[str, str]] | None = None) -> None:
        self.rules: list[tuple[str, str]] = [(_clean(a), _clean(b)) for a, b in rules or []]

    def to_binary(self, path: str) -> str:
        """A client path as the binary names it."""
        return _substitute(path, [(c, b) for c, b in self.rules])

    def to_client(self, path: str) -> str:
        """A path from the binary as the client names it."""
        return _substitute(path, [(b, c) for c, b in self.rules])

    def set(self, client: str, binary: str) -> None:
        """Add a rule, or replace the one with the same client prefix (Delve's
        `config substitutePath FROM TO`)."""
        client, binary = _clean(client), _clean(binary)
        for i, (c, _b) in enumerate(self.rules):
            if c == client:
                self.rules[i] = (client, binary)
                return
        self.rules.append((client, binary))

    def remove(self, client: str) -> bool:
        """Remove the rule for a client prefix; False when there is none."""
        client = _clean(client)
        before = len(self.rules)
        self.rules = [(c, b) for c, b in self.rules if c != client]
        return len(self.rules) != before

    def describe(self) -> str:
        if not self.rules:
            return "substitutePath: no rules\n"
        return "substitutePath:\n" + "".join(f"  {c or '(relative paths)'!s} -> "
                                             f"{b or '(relative paths)'}\n"
                                             for c, b in self.rules)


def _clean(prefix: str) -> str:
    """A prefix without trailing separators ("/" stays "/")."""
    stripped = prefix.rstrip("/")
    return stripped if stripped or not prefix else "/"


def _substitute(path: str, rules: list[tuple[str, str]]) -> str:
    for src, dst in rules:
        if src == "":
            if posixpath.isabs(path):
                continue
            return posixpath.join(dst, path) if dst else path
        if path == src:
            return dst
        if src == "/":
            rest = path[1:] if path.startswith("/") else None
        else:
            rest = path[len(src) + 1:] if path.startswith(src + "/") else None
        if rest is None:
            continue
        return posixpath.join(dst, rest) if dst else rest
    return path
