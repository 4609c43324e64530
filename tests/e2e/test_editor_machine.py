"""End to end, over stdio and TCP: the disassembly view and the memory inspector.
disassemble around a stopped pc (Intel and Go syntax, source lines, symbols), an
instruction breakpoint hit, memoryReference on variables and frames, readMemory of a
variable and a writeMemory the program then sees.

Real dapgo processes, the real tests/fixtures/editor program, real ptrace.
"""

from __future__ import annotations

import base64
import itertools
import struct

import fixtures
import pytest
from dapclient import DAPClient, DAPError

from .helpers import (
    TRANSPORTS,
    Message,
    exit_code,
    frame_variables,
    mark,
    output_text,
    resume,
    session,
    set_line_breakpoints,
    top_frame,
    wait_stopped,
)

EDITOR = str(fixtures.FIXTURES / "editor")


def disassemble(c: DAPClient, ref: str, offset: int, count: int) -> list[Message]:
    body = c.request("disassemble", {"memoryReference": ref, "instructionOffset": offset,
                                     "instructionCount": count, "resolveSymbols": True})
    insns: list[Message] = body["body"]["instructions"]
    assert len(insns) == count
    return insns


def contiguous(insns: list[Message]) -> None:
    for a, b in itertools.pairwise(insns):
        size = len(bytes.fromhex(a["instructionBytes"].replace(" ", "")))
        assert int(a["address"], 16) + size == int(b["address"], 16), (a, b)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_disassemble_around_the_pc_and_an_instruction_breakpoint_hit(transport: str) -> None:
    with session(transport) as c:
        caps = c.request("initialize", {"adapterID": "go"})["body"]
        assert caps["supportsDisassembleRequest"] and caps["supportsInstructionBreakpoints"]
        c.request("launch", {"mode": "debug", "program": EDITOR}, timeout=120)
        c.wait_event("initialized")
        set_line_breakpoints(c, "editor", "box_add")
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "breakpoint", after=at)
        frame = top_frame(c, stop["threadId"])
        pc = frame["instructionPointerReference"]
        insns = disassemble(c, pc, -4, 40)
        contiguous(insns)
        assert insns[4]["address"] == pc
        assert insns[4]["symbol"] == "main.(*Box).Add"
        assert insns[4]["line"] == fixtures.line_of("editor", "box_add")[1]
        assert any(i.get("location", {}).get("path", "").endswith("editor/main.go")
                   for i in insns)
        # the Intel text is capstone's; a call names its target
        rets = [i for i in insns[4:] if i["instruction"] == "ret"
                and i.get("symbol") == "main.(*Box).Add"]
        assert rets, insns
        ret = rets[0]["address"]
        bp = c.request("setInstructionBreakpoints", {"breakpoints": [
            {"instructionReference": ret}, {"instructionReference": pc, "offset": 1}]})
        first, bad = bp["body"]["breakpoints"]
        assert first["verified"] and first["instructionReference"] == ret
        assert bad["verified"] is False and "no instruction" in bad["message"]
        stop = resume(c, "continue", stop["threadId"], "instruction breakpoint")
        assert stop["hitBreakpointIds"] == [first["id"]]
        assert top_frame(c, stop["threadId"])["instructionPointerReference"] == ret
        c.request("setInstructionBreakpoints", {"breakpoints": []})
        c.request("setBreakpoints", {"source": {"path": frame["source"]["path"]},
                                     "breakpoints": []})
        c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c) == 0


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_read_memory_of_a_variable_and_a_write_the_program_sees(transport: str) -> None:
    with session(transport) as c:
        caps = c.request("initialize", {"adapterID": "go"})["body"]
        assert caps["supportsReadMemoryRequest"] and caps["supportsWriteMemoryRequest"]
        c.request("launch", {"mode": "debug", "program": EDITOR,
                             "disassembleFlavor": "go"}, timeout=120)
        c.wait_event("initialized")
        set_line_breakpoints(c, "editor", "print_secret")
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "breakpoint", after=at)
        frame = top_frame(c, stop["threadId"])
        secret = frame_variables(c, frame["id"])["secret"]
        assert secret["value"] == "1042"
        ref = secret["memoryReference"]
        got = c.request("readMemory", {"memoryReference": ref, "count": 8})["body"]
        assert int(got["address"], 16) == int(ref, 16)
        assert struct.unpack("<q", base64.b64decode(got["data"]))[0] == 1042
        at = mark(c)
        wrote = c.request("writeMemory", {"memoryReference": ref, "data": base64.b64encode(
            struct.pack("<q", 4242)).decode()})["body"]
        assert wrote["bytesWritten"] == 8
        assert c.wait_event("memory", after=at)["body"]["memoryReference"] == ref
        assert c.wait_event("invalidated", after=at)["body"]["areas"] == ["variables"]
        assert frame_variables(c, top_frame(c, stop["threadId"])["id"])["secret"][
            "value"] == "4242"
        # unreadable memory is counted, not an error; an evaluate result has a reference too
        none = c.request("readMemory", {"memoryReference": "0x0", "count": 16})["body"]
        assert none["unreadableBytes"] == 16 and "data" not in none
        ev = c.request("evaluate", {"expression": "main.Version", "frameId": frame["id"]})
        assert ev["body"]["memoryReference"].startswith("0x")
        with pytest.raises(DAPError, match="not an address"):
            c.request("readMemory", {"memoryReference": "secret", "count": 1})
        # Go syntax (disassembleFlavor "go"), at the frame's pc
        insns = disassemble(c, frame["instructionPointerReference"], 0, 30)
        assert any(i["instruction"].startswith(("MOVQ", "CALL")) for i in insns), insns
        assert any(i["instruction"].startswith("CALL ") and i["instruction"].endswith("(SB)")
                   for i in insns), insns
        c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c) == 0
        assert "editor: secret 4242\n" in output_text(c, "stdout")
