"""Machine-level requests: disassemble, setInstructionBreakpoints, readMemory, writeMemory
(VS Code's disassembly view and memory inspector).

Memory and instruction references are addresses written as hexadecimal strings ("0x4a3b20",
as `memoryReference` on variables and `instructionPointerReference` on frames); decimal is
taken too. After writeMemory the client is told that values may have changed (`memory` and
`invalidated` events).
"""

from __future__ import annotations

import base64
import binascii
from typing import Literal

from dapgo import convert
from dapgo.handlers.base import Args, Body, Call, Handler


def reference(args: Args, name: str) -> int:
    text = args.req_str(name).strip()
    try:
        value = int(text, 0)  # 0x... too
    except ValueError:
        raise args.bad(name, f"is {text!r}, not an address") from None
    if value < 0:
        raise args.bad(name, "must not be negative")
    return value


async def disassemble(call: Call) -> Body:
    session, args = call.session, call.args
    address = reference(args, "memoryReference") + (args.opt_int("offset") or 0)
    instruction_offset = args.opt_int("instructionOffset") or 0
    count = args.req_int("instructionCount", minimum=0)
    resolve = args.opt_bool("resolveSymbols", True)
    debugger = session.require_debugger()
    flavor: Literal["go", "intel"] = "go" if session.options.disassemble_flavor == "go" else "intel"
    insns = await session.engine(debugger.disassemble(
        address, instruction_offset, min(count, 100_000), flavor))
    out: list[Body] = []
    last_path: str | None = None
    for i in insns:
        body: Body = {"address": f"0x{i.address:x}", "instruction": i.text}
        if i.data:
            body["instructionBytes"] = i.data.hex(" ")
        if not i.valid:
            body["presentationHint"] = "invalid"
        if resolve and i.symbol:
            body["symbol"] = i.symbol
        if i.path is not None and i.line is not None:
            if i.path != last_path:
                body["location"] = convert.source(i.path, session.paths)
                last_path = i.path
            body["line"] = session.lines.to_client(i.line)
        out.append(body)
    return {"instructions": out}


async def read_memory(call: Call) -> Body:
    session, args = call.session, call.args
    address = reference(args, "memoryReference") + (args.opt_int("offset") or 0)
    count = args.req_int("count", minimum=0)
    debugger = session.require_debugger()
    data, unreadable = await session.engine(debugger.read_memory(address, count))
    body: Body = {"address": f"0x{address:x}"}
    if data:
        body["data"] = base64.b64encode(data).decode("ascii")
    if unreadable:
        body["unreadableBytes"] = unreadable
    return body


async def write_memory(call: Call) -> Body:
    session, args = call.session, call.args
    ref = args.req_str("memoryReference")
    offset = args.opt_int("offset") or 0
    address = reference(args, "memoryReference") + offset
    allow_partial = args.opt_bool("allowPartial", False)
    try:
        data = base64.b64decode(args.opt_str("data") or "", validate=True)
    except (binascii.Error, ValueError):
        raise args.bad("data", "is not base64") from None
    debugger = session.require_debugger()
    written = await session.engine(debugger.write_memory(address, data, allow_partial))

    def changed() -> None:
        session.send_event("memory", {"memoryReference": ref, "offset": offset,
                                      "count": written})
        session.send_event("invalidated", {"areas": ["variables"]})

    call.then(changed)
    return {"bytesWritten": written}


async def set_instruction_breakpoints(call: Call) -> Body:
    from dapgo.engine.model import InstructionBreakpointSpec

    session, args = call.session, call.args
    specs = []
    for item in args.opt_obj_list("breakpoints") or []:
        specs.append(InstructionBreakpointSpec(
            address=reference(item, "instructionReference") + (item.opt_int("offset") or 0),
            condition=item.opt_str("condition") or None,
            hit_condition=item.opt_str("hitCondition") or None,
        ))
    debugger = session.require_debugger()
    statuses = await session.engine(debugger.set_instruction_breakpoints(specs))
    return {"breakpoints": [convert.breakpoint(s, session.lines) for s in statuses]}


HANDLERS: dict[str, Handler] = {
    "disassemble": disassemble,
    "readMemory": read_memory,
    "writeMemory": write_memory,
    "setInstructionBreakpoints": set_instruction_breakpoints,
}
