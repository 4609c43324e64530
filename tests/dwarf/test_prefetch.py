"""ElfImage.prefetch: compressed DWARF sections inflated on a thread of their own give the
same bytes as the ordinary read (pyelftools), and data() never inflates one twice."""

from __future__ import annotations

import threading
from pathlib import Path

import fixtures
import pytest

from dapgo.engine.dwarf.elf import ElfImage

NAMES = (".debug_loc", ".debug_loclists", ".debug_ranges", ".debug_rnglists")


@pytest.mark.parametrize("go", [None, "1.21.13"], ids=["default", "1.21"])
def test_prefetched_sections_are_the_sections(go: str | None) -> None:
    if go is not None and not Path(fixtures.go_binary(go)).exists():
        pytest.skip(f"Go {go} toolchain not installed under .cache/go")
    path = str(fixtures.build("gotypes", go=go))
    plain, ahead = ElfImage(path), ElfImage(path)
    try:
        present = [n for n in NAMES if n in ahead.sections]
        assert len(present) == 2 and all(ahead.sections[n].compressed for n in present)
        ahead.prefetch(NAMES)
        assert any(t.name == "dapgo-inflate" for t in threading.enumerate()) or all(
            n in ahead._data for n in present)
        for name in present:
            assert ahead.data(name) == plain.data(name)
            assert len(ahead.data(name)) == ahead.sections[name].data_size
        assert not ahead._inflating
        ahead.prefetch(NAMES)  # nothing left to do: no thread
        assert not ahead._inflating
    finally:
        plain.close()
        ahead.close()


def test_closing_while_inflating_is_harmless() -> None:
    elf = ElfImage(str(fixtures.build("gotypes")))
    elf.prefetch(NAMES)
    elf.close()
    for t in threading.enumerate():
        if t.name == "dapgo-inflate":
            t.join(10)
    assert not elf._inflating
