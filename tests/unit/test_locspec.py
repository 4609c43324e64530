"""Go function symbols taken apart for Delve's location specs (dapgo.engine.locspec)."""

from __future__ import annotations

import pytest

from dapgo.engine.locspec import FuncName, _matches, _spec_names, split_name


@pytest.mark.parametrize(("name", "parts"), [
    ("main.main", ("main", "", "main")),
    ("main.(*Box).Add", ("main", "Box", "Add")),
    ("main.Box.handle", ("main", "Box", "handle")),
    ("net/http.(*Client).Do", ("net/http", "Client", "Do")),
    ("example.com/a.b/pkg.F", ("example.com/a.b/pkg", "", "F")),
    ("main.(*List[...]).Push", ("main", "List", "Push")),
    ("main.main.func1", ("main", "main", "func1")),
])
def test_split_name(name: str, parts: tuple[str, str, str]) -> None:
    assert split_name(name) == FuncName(*parts)


@pytest.mark.parametrize(("spec", "name", "hit"), [
    ("Add", "main.(*Box).Add", True),
    ("(*Box).Add", "main.(*Box).Add", True),
    ("Box.Add", "main.(*Box).Add", True),
    ("main.Box.Add", "main.(*Box).Add", True),
    ("main.Add", "main.(*Box).Add", False),  # pkg.f names a function, not a method
    ("http.(*Client).Do", "net/http.(*Client).Do", True),
    ("net/http.Get", "net/http.Get", True),
    ("ttp.Get", "net/http.Get", False),  # a package path suffix ends at a /
    ("Push", "main.(*List[...]).Push", True),
    ("List.Push", "main.(*List[...]).Push", True),
])
def test_spec_matches(spec: str, name: str, hit: bool) -> None:
    assert any(_matches(split_name(name), w) for w in _spec_names(spec)) is hit
