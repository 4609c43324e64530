"""Go expression syntax: tokens, the expression tree, and a Pratt parser.

Covers what a debugger evaluates: operands (identifiers, literals, package-qualified
names including paths with slashes like `net/http.DefaultClient`), selectors, index and
slice expressions, type assertions, calls (builtins and conversions), unary and binary
operators with Go's five precedence levels, and type expressions inside conversions and
assertions (`*main.T`, `[]byte`, `[3]int`, `map[string]int`, `chan int`, `interface {}`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import attrs

from dapgo.engine.limits import MAX_EXPRESSION_LEN


class EvalError(Exception):
    """An expression that is not valid Go, or that cannot be evaluated here."""


# ----- tokens -----

@attrs.frozen
class Token:
    kind: str  # ident int float imag char string op path eof
    text: str
    pos: int


_OPS = sorted(
    ["&&", "||", "==", "!=", "<=", ">=", "<<", ">>", "&^", "...", "+", "-", "*", "/", "%",
     "&", "|", "^", "<", ">", "!", "(", ")", "[", "]", "{", "}", ".", ",", ":", ";", "="],
    key=len, reverse=True,
)
_NUM = re.compile(
    r"0[xX][0-9a-fA-F_]*(?:\.[0-9a-fA-F_]*)?(?:[pP][+-]?\d+)?i?"
    r"|0[bB][01_]+i?|0[oO][0-7_]+i?"
    r"|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?i?"
)
_IDENT = re.compile(r"[^\W\d]\w*")
_PATH = re.compile(r"[A-Za-z_][\w.\-~]*(?:/[\w.\-~]+)+")
_PATH_RUN = re.compile(r"[\w.\-~/]*")  # the characters a package-qualified name may hold
MAX_PATH_LEN = 512  # a package path plus `.Name`, at most (Go's own are far shorter)
MAX_PATH_DOTS = 8  # dots after a path's last slash tried as the `.Name` separator
MAX_DEPTH = 100  # nesting of the expression tree (parentheses, operators, selectors...)


def tokenize(src: str, is_global: Callable[[str], bool] | None = None) -> list[Token]:
    """Split `src` into tokens. A run like `a/b/c.Name` becomes one `path` token (a
    package-qualified global) when `is_global` accepts some `a/b/c.Name` prefix of it."""
    if len(src) > MAX_EXPRESSION_LEN:
        raise EvalError(f"expression too long: {len(src)} characters, the limit is "
                        f"{MAX_EXPRESSION_LEN}")
    out: list[Token] = []
    i, n = 0, len(src)
    # A path token needs a `/` later in the same run of path characters: where that run
    # ends and where its next slash is are found once per run, so tokenizing stays linear
    run_end = next_slash = -1
    while i < n:
        c = src[i]
        if c.isspace():
            i += 1
            continue
        if c.isalpha() or c == "_":
            path = None
            if is_global is not None:
                if i >= run_end:
                    run = _PATH_RUN.match(src, i)
                    assert run is not None
                    run_end = run.end()
                    next_slash = -1
                if next_slash < i:
                    next_slash = src.find("/", i, run_end)
                    if next_slash < 0:
                        next_slash = run_end  # none left in this run
                if next_slash < run_end and next_slash - i < MAX_PATH_LEN:
                    path = _PATH.match(src, i, min(run_end, i + MAX_PATH_LEN))
            if path and is_global is not None:
                got = _split_path(path.group(0), is_global)
                if got is not None:
                    out.append(Token("path", got, i))
                    i += len(got)
                    continue
            m = _IDENT.match(src, i)
            assert m is not None
            out.append(Token("ident", m.group(0), i))
            i = m.end()
            continue
        if c.isdigit() or (c == "." and i + 1 < n and src[i + 1].isdigit()):
            m = _NUM.match(src, i)
            assert m is not None
            text = m.group(0)
            kind = "imag" if text.endswith("i") else (
                "float" if (not text.lower().startswith("0x") and any(ch in text for ch in ".eE"))
                or (text.lower().startswith("0x") and any(ch in text for ch in ".pP"))
                else "int")
            out.append(Token(kind, text, i))
            i = m.end()
            continue
        if c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            if j >= n:
                raise EvalError(f"string literal not terminated at column {i + 1}")
            out.append(Token("string", src[i : j + 1], i))
            i = j + 1
            continue
        if c == "`":
            j = src.find("`", i + 1)
            if j < 0:
                raise EvalError(f"raw string literal not terminated at column {i + 1}")
            out.append(Token("string", src[i : j + 1], i))
            i = j + 1
            continue
        if c == "'":
            j = i + 1
            while j < n and src[j] != "'":
                j += 2 if src[j] == "\\" else 1
            if j >= n:
                raise EvalError(f"rune literal not terminated at column {i + 1}")
            out.append(Token("char", src[i : j + 1], i))
            i = j + 1
            continue
        for op in _OPS:
            if src.startswith(op, i):
                out.append(Token("op", op, i))
                i += len(op)
                break
        else:
            raise EvalError(f"invalid character {c!r} at column {i + 1}")
    out.append(Token("eof", "", n))
    return out


def _split_path(text: str, is_global: Callable[[str], bool]) -> str | None:
    """The longest `pkg/path.Name` prefix of `text` that names a global."""
    slash = text.rfind("/")
    dots = [i for i in range(slash, len(text)) if text[i] == "."][:MAX_PATH_DOTS]
    for d in reversed(dots):
        m = _IDENT.match(text, d + 1)
        if m is None:
            continue
        cand = text[: m.end()]
        if is_global(cand):
            return cand
    return None


# ----- expression tree -----

@attrs.frozen
class Ident:
    name: str


@attrs.frozen
class Global:
    """A package-qualified global written with a package path: `net/http.DefaultClient`."""

    name: str


@attrs.frozen
class Lit:
    kind: str  # int float imag char string
    value: object


@attrs.frozen
class TypeExpr:
    """A type written in an expression: its Go spelling, e.g. `[]main.Point`."""

    name: str


@attrs.frozen
class Selector:
    x: Node
    name: str


@attrs.frozen
class Index:
    x: Node
    index: Node


@attrs.frozen
class Slice:
    x: Node
    lo: Node | None
    hi: Node | None
    max: Node | None


@attrs.frozen
class TypeAssert:
    x: Node
    type: TypeExpr


@attrs.frozen
class Call:
    fun: Node
    args: tuple[Node, ...]


@attrs.frozen
class Unary:
    op: str
    x: Node


@attrs.frozen
class Binary:
    op: str
    x: Node
    y: Node


@attrs.frozen
class Paren:
    x: Node


Node = Ident | Global | Lit | TypeExpr | Selector | Index | Slice | TypeAssert | Call | \
    Unary | Binary | Paren

PRECEDENCE = {
    "||": 1, "&&": 2,
    "==": 3, "!=": 3, "<": 3, "<=": 3, ">": 3, ">=": 3,
    "+": 4, "-": 4, "|": 4, "^": 4,
    "*": 5, "/": 5, "%": 5, "<<": 5, ">>": 5, "&": 5, "&^": 5,
}
UNARY = frozenset({"+", "-", "!", "^", "*", "&"})


# ----- parser -----

class Parser:
    def __init__(self, src: str, is_global: Callable[[str], bool] | None = None) -> None:
        self.src = src
        self.toks = tokenize(src, is_global)
        self.i = 0
        self.depth = 0  # recursion of the parse functions, bounded by MAX_DEPTH

    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def next(self) -> Token:
        t = self.toks[self.i]
        self.i += 1
        return t

    def error(self, what: str) -> EvalError:
        t = self.tok
        found = "end of expression" if t.kind == "eof" else repr(t.text)
        return EvalError(f"invalid expression: {what}, found {found} at column {t.pos + 1}")

    def expect(self, op: str) -> None:
        if self.tok.kind != "op" or self.tok.text != op:
            raise self.error(f"expected {op!r}")
        self.i += 1

    def is_op(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in ops

    def parse(self) -> Node:
        if self.tok.kind == "eof":
            raise EvalError("invalid expression: empty expression")
        node = self.binary(1)
        if self.tok.kind != "eof":
            raise self.error("expected end of expression")
        if tree_depth(node) > MAX_DEPTH:
            raise _too_deep()
        return node

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _too_deep()

    def binary(self, min_prec: int) -> Node:
        self._enter()
        try:
            x = self.unary()
            while self.tok.kind == "op" and PRECEDENCE.get(self.tok.text, 0) >= min_prec:
                op = self.next().text
                y = self.binary(PRECEDENCE[op] + 1)
                x = Binary(op, x, y)
            return x
        finally:
            self.depth -= 1

    def unary(self) -> Node:
        if self.tok.kind == "op" and self.tok.text in UNARY:
            op = self.next().text
            self._enter()
            try:
                return Unary(op, self.unary())
            finally:
                self.depth -= 1
        return self.primary()

    def primary(self) -> Node:
        x = self.operand()
        while True:
            if self.is_op("."):
                self.next()
                if self.is_op("("):
                    self.next()
                    if self.tok.kind == "ident" and self.tok.text == "type":
                        raise self.error("type switches are not expressions")
                    t = self.type_expr()
                    self.expect(")")
                    x = TypeAssert(x, t)
                elif self.tok.kind == "ident":
                    x = Selector(x, self.next().text)
                else:
                    raise self.error("expected selector or type assertion")
            elif self.is_op("["):
                self.next()
                lo = None if self.is_op(":") else self.binary(1)
                if self.is_op("]"):
                    self.next()
                    if lo is None:
                        raise self.error("expected operand")
                    x = Index(x, lo)
                    continue
                self.expect(":")
                hi = None if self.is_op("]", ":") else self.binary(1)
                mx = None
                if self.is_op(":"):
                    self.next()
                    if hi is None:
                        raise self.error("middle index required in 3-index slice")
                    if self.is_op("]"):
                        raise self.error("final index required in 3-index slice")
                    mx = self.binary(1)
                self.expect("]")
                x = Slice(x, lo, hi, mx)
            elif self.is_op("("):
                self.next()
                args: list[Node] = []
                while not self.is_op(")"):
                    args.append(self.binary(1))
                    if not self.is_op(","):
                        break
                    self.next()
                self.expect(")")
                x = Call(x, tuple(args))
            else:
                return x

    def operand(self) -> Node:
        t = self.tok
        if t.kind == "ident":
            if t.text in ("map", "chan", "func", "interface", "struct"):
                return self.type_expr()
            self.next()
            return Ident(t.text)
        if t.kind == "path":
            self.next()
            return Global(t.text)
        if t.kind in ("int", "float", "imag", "char", "string"):
            self.next()
            return Lit(t.kind, literal_value(t))
        if self.is_op("("):
            self.next()
            x = self.binary(1)
            self.expect(")")
            return Paren(x)
        if self.is_op("["):
            return self.type_expr()
        raise self.error("expected operand")

    def type_expr(self) -> TypeExpr:
        return TypeExpr(self._type())

    def _type(self) -> str:
        self._enter()
        try:
            return self._type_inner()
        finally:
            self.depth -= 1

    def _type_inner(self) -> str:
        t = self.tok
        if self.is_op("*"):
            self.next()
            return "*" + self._type()
        if self.is_op("("):
            self.next()
            inner = self._type()
            self.expect(")")
            return inner
        if self.is_op("["):
            self.next()
            if self.is_op("]"):
                self.next()
                return "[]" + self._type()
            if self.tok.kind != "int":
                raise self.error("expected array length")
            n = self.next().text
            self.expect("]")
            return f"[{int(n.replace('_', ''), 0)}]" + self._type()
        if t.kind == "ident" and t.text == "map":
            self.next()
            self.expect("[")
            k = self._type()
            self.expect("]")
            return f"map[{k}]" + self._type()
        if t.kind == "ident" and t.text == "chan":
            self.next()
            return "chan " + self._type()
        if t.kind == "ident" and t.text in ("interface", "struct"):
            self.next()
            self.expect("{")
            self.expect("}")
            return f"{t.text} {{}}"
        if t.kind == "ident" and t.text == "any":
            self.next()
            return "interface {}"
        if t.kind == "path":
            self.next()
            return t.text
        if t.kind == "ident":
            self.next()
            name = t.text
            if self.is_op(".") and self.toks[self.i + 1].kind == "ident":
                self.next()
                name += "." + self.next().text
            return name
        raise self.error("expected type")


def parse(src: str, is_global: Callable[[str], bool] | None = None) -> Node:
    """Parse one Go expression."""
    return Parser(src, is_global).parse()


def _too_deep() -> EvalError:
    return EvalError(f"expression nested too deeply (more than {MAX_DEPTH} levels)")


def tree_depth(node: Node) -> int:
    """How deep the expression tree goes (without recursion: the tree may be deep)."""
    deepest = 0
    stack: list[tuple[Node, int]] = [(node, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        for field in attrs.fields(type(item)):
            child = getattr(item, field.name)
            for c in child if isinstance(child, tuple) else (child,):
                if attrs.has(type(c)) and not isinstance(c, (Lit, TypeExpr)):
                    stack.append((c, depth + 1))
    return deepest


_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
            "\\": "\\", "'": "'", '"': '"'}


def _unescape(body: str, quote: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = body[i + 1 : i + 2]
        if e in _ESCAPES and (e != "'" or quote == "'") and (e != '"' or quote == '"'):
            out.append(_ESCAPES[e])
            i += 2
        elif e == "x":
            out.append(chr(int(body[i + 2 : i + 4], 16)))
            i += 4
        elif e == "u":
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
        elif e == "U":
            out.append(chr(int(body[i + 2 : i + 10], 16)))
            i += 10
        elif e.isdigit():
            out.append(chr(int(body[i + 1 : i + 4], 8)))
            i += 4
        else:
            raise EvalError(f"unknown escape sequence \\{e}")
    return "".join(out)


def literal_value(t: Token) -> object:
    text = t.text.replace("_", "") if t.kind in ("int", "float", "imag") else t.text
    try:
        if t.kind == "int":
            if len(text) > 1 and text[0] == "0" and text[1].isdigit():
                return int(text, 8)
            return int(text, 0)
        if t.kind == "float":
            return float.fromhex(text) if text.lower().startswith("0x") else float(text)
        if t.kind == "imag":
            return complex(0, float(text[:-1]))
    except ValueError as exc:
        raise EvalError(f"invalid number literal {t.text}") from exc
    if t.kind == "char":
        try:
            s = _unescape(text[1:-1], "'")
        except (ValueError, OverflowError) as exc:
            raise EvalError(f"invalid rune literal {t.text[:40]}: {exc}") from None
        if len(s) != 1:
            raise EvalError(f"invalid rune literal {t.text}")
        return ord(s)
    if text.startswith("`"):
        return text[1:-1]
    try:
        return _unescape(text[1:-1], '"')
    except (ValueError, OverflowError) as exc:
        raise EvalError(f"invalid string literal {t.text[:40]}: {exc}") from None
