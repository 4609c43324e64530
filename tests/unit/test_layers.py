"""Imports go one way (docs/ARCHITECTURE.md): no module imports a higher layer.

Every `import` in dapgo/ is read from the source (function-level and TYPE_CHECKING imports
included: a lazy import is still a dependency) and checked against the layers:

    protocol  <-  session, outbox, handlers, convert  <-  engine api
    server (makes the real engine: the facade)
    engine api  <-  facade (family.py over debugger.py)  <-  owner/core and the parts
        <-  engine core
    engine core  <-  dwarf / ptrace / bpf (the backends never import each other)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "dapgo"

# the DAP side: what of the engine it may import (the server, at the top, also makes the
# real engine: it alone may import the facade)
DAP_SIDE = ("dapgo.session", "dapgo.outbox", "dapgo.handlers", "dapgo.convert", "dapgo.paths")
FACADE = ("dapgo.engine.family", "dapgo.engine.debugger")
ENGINE_FOR_DAP = ("dapgo.engine.api", "dapgo.engine.model", "dapgo.engine.errors",
                  "dapgo.engine.exception_filters", "dapgo.engine.limits")
# modules of the engine the backends and leaves may use
ENGINE_LEAVES = ("dapgo.engine.errors", "dapgo.engine.instructions", "dapgo.engine.backend",
                 "dapgo.engine.model")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every dapgo module `path` imports, at any depth of its code."""
    tree = ast.parse(path.read_text(), str(path))
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)  # `from pkg import module`
    return {m for m in out if m == "dapgo" or m.startswith("dapgo.")}


MODULES = {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def _under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_higher_layer(module: str) -> None:
    imported = {m for m in MODULES[module] if m in MODULES}
    bad: set[str] = set()
    if _under(module, "dapgo.protocol"):
        bad = {m for m in imported if not _under(m, "dapgo.protocol")}
    elif _under(module, *DAP_SIDE):
        bad = {m for m in imported if _under(m, "dapgo.engine")
               and not _under(m, *ENGINE_FOR_DAP)}
    elif module == "dapgo.server":
        bad = {m for m in imported if _under(m, "dapgo.engine")
               and not _under(m, *ENGINE_FOR_DAP, *FACADE)}
    elif _under(module, "dapgo.engine"):
        # the engine never imports the DAP side
        bad = {m for m in imported if not _under(m, "dapgo.engine") and m != "dapgo.bpf"}
        if _under(module, "dapgo.engine.dwarf"):
            bad |= {m for m in imported if _under(m, "dapgo.engine")
                    and not _under(m, "dapgo.engine.dwarf", *ENGINE_LEAVES)}
        elif _under(module, "dapgo.engine.ptrace"):
            bad |= {m for m in imported if _under(m, "dapgo.engine")
                    and not _under(m, "dapgo.engine.ptrace", *ENGINE_LEAVES)}
        elif _under(module, "dapgo.engine.bpf"):
            bad |= {m for m in imported if _under(m, "dapgo.engine.ptrace",
                                                    "dapgo.engine.debugger", "dapgo.engine.api",
                                                    "dapgo.engine.core", "dapgo.engine.owner")}
        elif module == "dapgo.engine.api":
            bad |= {m for m in imported if _under(m, "dapgo.engine")
                    and not _under(m, *ENGINE_FOR_DAP)}
        elif module not in FACADE:
            # the core: never the facade or the API above it, never a backend directly
            bad |= {m for m in imported if _under(m, "dapgo.engine.debugger", "dapgo.engine.api",
                                                    "dapgo.engine.ptrace")}
    assert not bad, f"{module} imports a higher layer: {sorted(bad)}"


def test_only_the_facade_chooses_a_backend() -> None:
    users = sorted(m for m, imported in MODULES.items()
                   if any(_under(i, "dapgo.engine.ptrace") for i in imported)
                   and not _under(m, "dapgo.engine.ptrace"))
    assert users == ["dapgo.engine.debugger"]


def test_the_check_sees_imports() -> None:
    """The reader finds what these modules are known to import (so the test can fail)."""
    assert "dapgo.engine.api" in MODULES["dapgo.session"]
    assert "dapgo.engine.ptrace.process" in MODULES["dapgo.engine.debugger"]
    assert "dapgo.engine.model" in MODULES["dapgo.handlers.breakpoints"]  # a lazy import
    assert "dapgo.engine.backend" in MODULES["dapgo.engine.ptrace.process"]
