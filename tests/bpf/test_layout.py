"""The C structs in probe.bpf.c and their ctypes mirrors in layout.py agree field by field."""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dapgo.engine.bpf import layout as L

_TYPES = """typedef unsigned char u8; typedef unsigned short u16; typedef unsigned int u32;
typedef unsigned long long u64; typedef signed long long s64; typedef int s32;
#include <stddef.h>
#include <stdio.h>
"""


def _struct_sources() -> str:
    src = L.C_SOURCE.read_text()
    blocks = re.findall(r"^struct \w+ \{.*?^\};", src, re.S | re.M)
    return "\n".join(blocks)


def test_c_and_python_records_agree(tmp_path: Path) -> None:
    cc = shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    lines = []
    for cname, mirror in L.MIRRORS.items():
        lines.append(f'printf("{cname} size %zu\\n", sizeof(struct {cname}));')
        for fname, _t in mirror._fields_:  # type: ignore[misc]
            lines.append(f'printf("{cname}.{fname} %zu %zu\\n", '
                         f'offsetof(struct {cname}, {fname}), '
                         f'sizeof(((struct {cname} *)0)->{fname}));')
    defs = "".join(f"#define {k} {v}\n" for k, v in L.defines(goid_offset=0).items())
    prog = _TYPES + defs + _struct_sources() + "\nint main(void) {\n" + "\n".join(
        lines) + "\nreturn 0;\n}\n"
    c = tmp_path / "layout.c"
    c.write_text(prog)
    exe = tmp_path / "layout"
    subprocess.run([cc, "-o", str(exe), str(c)], check=True)
    got = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    want = []
    for cname, mirror in L.MIRRORS.items():
        want.append(f"{cname} size {ctypes.sizeof(mirror)}")
        for fname, _t in mirror._fields_:  # type: ignore[misc]
            f = getattr(mirror, fname)
            want.append(f"{cname}.{fname} {f.offset} {f.size}")
    assert got.split("\n")[:-1] == want
    # every C field has a mirror (no field only on the C side)
    for cname, mirror in L.MIRRORS.items():
        body = re.search(rf"^struct {cname} \{{(.*?)^\}};", L.C_SOURCE.read_text(),
                         re.S | re.M)
        assert body is not None
        c_fields = re.findall(r"^\s+[\w ]+?\s\**(\w+)(?:\[[^\]]*\])*;", body.group(1), re.M)
        assert c_fields == [f for f, _t in mirror._fields_], cname  # type: ignore[misc]
