"""Source-level stepping (next, step in, step out) that stays on one goroutine.

Runs on the engine's owner thread. The stepping goroutine's thread is single-stepped through its own
function's instructions while every other thread stays stopped; a CALL is never stepped
through: a temporary breakpoint goes on the return address (or, for step-in to user code,
after the callee's prologue) and the whole program runs until *that goroutine* reaches it
at *that frame depth*. Frame depth is measured as `g.stack.hi - CFA`, which stays the same
when the runtime copies the goroutine's stack, so recursion and stack growth are handled.
Step in on a `go f()` line stops in the new goroutine, where it enters f (as Delve).
A goroutine that no thread runs (parked), or whose thread is blocked in a system call, steps
from its first user frame: the program runs until the goroutine returns into that frame,
and the step goes on from there.

The runner (dapgo.engine.runner, through `StepHost`) executes the single steps and the runs
to temporary breakpoints, serving requests meanwhile: a user breakpoint hit on another
goroutine stops there and abandons the step (as Delve does); a pause abandons it too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol

import attrs

from dapgo.engine.dwarf import Function
from dapgo.engine.dwarf.cfi import RBP
from dapgo.engine.goroutines import GoroutineReader
from dapgo.engine.instructions import X86_OP_IMM, disassembler
from dapgo.engine.model import StepKind
from dapgo.engine.outcome import Outcome
from dapgo.engine.stack import Frame
from dapgo.engine.target import Registers, Target

_SYSCALL = b"\x0f\x05"
MAX_STEPS = 20000  # single steps on one line before giving up and stopping where we are
Targets = dict[int, Callable[[int], bool]]


class SteppingError(Exception):
    pass


class StepHost(Protocol):
    """What stepping needs from the engine's runner."""

    def single_step(self, tid: int) -> Outcome | None:
        """Execute one instruction of `tid` (the others stopped); an outcome when something
        else happened (a hit on the same instruction, the program ended, a request)."""
        ...

    def run_to(self, targets: Targets) -> Outcome:
        """Run the whole program until a thread reaches a target address and its predicate
        holds ("arrived": which thread, which target), or until the user must see a stop."""
        ...


@attrs.frozen
class ParkedResume:
    """Where a goroutine that cannot be stepped where it is (parked, or blocked in a system
    call) comes back to its first user frame: the return address into that frame, and the
    frame depth (`g.stack.hi - SP`) right after that return."""

    pc: int
    depth: int


def parked_resume(frames: list[Frame], stack_hi: int) -> ParkedResume | None:
    """For the frames (innermost first) of a goroutine that cannot be stepped where it is
    (parked, or blocked in a system call): where it resumes its first user frame below the
    innermost one; None when there is none."""
    for frame in frames[1:]:
        fn = frame.code
        if fn is not None and fn.go and is_user_function(frame.function or fn):
            return ParkedResume(frame.pc, stack_hi - frame.sp)
    return None


def is_user_function(fn: Function) -> bool:
    """Code a user steps into: not the runtime's, not compiler-generated wrappers."""
    name = fn.name
    return not (
        name.startswith(("runtime.", "internal/", "runtime/internal"))
        or "-fm" in name.rsplit(".", 1)[-1]
        or name.startswith("type:")
    )


class Stepper:
    def __init__(self, target: Target, goroutines: GoroutineReader, host: StepHost) -> None:
        self.target = target
        self.binary = target.binary
        self.goroutines = goroutines
        self.host = host

    # ----- identity -----

    def _goid(self, tid: int) -> int:
        g = self.goroutines.of_thread(tid)
        return g.id if g is not None else 0

    def _depth(self, tid: int, cfa: int) -> int:
        g = self.goroutines.of_thread(tid)
        return (g.stack_hi - cfa) if g is not None else -cfa

    def _cfa(self, tid: int) -> int:
        regs = self.target.registers(tid)
        off = self.binary.sp_offset(regs.pc)
        return regs.sp + (off or 0) + 8

    def _at_depth(self, goid: int, depth: int) -> Callable[[int], bool]:
        """Has thread t, just returned from a call, come back to goroutine goid's frame at
        `depth`? (after a return, SP equals the callee's CFA)"""
        return lambda t: (
            self._goid(t) == goid and self._depth(t, self.target.registers(t).sp) == depth
        )

    # ----- entry point -----

    def run(self, tid: int, kind: StepKind, instruction: bool = False) -> Outcome:
        """Step; "arrived" when the step is done (on which thread)."""
        if instruction and kind != "out":
            return self._one_instruction(tid) or Outcome("arrived", tid=tid)
        if kind == "out":
            pc = self.target.registers(tid).pc
            fn = self.binary.function_for_pc(pc)
            chain = self._chain(fn, pc) if fn is not None else ()
            if chain:  # out of a call inlined here: on until its code is left behind
                return self._step_lines(tid, into=False, out_of_inlined=True)
            out = self._step_out(tid)
            if out.kind == "arrived" and out.tid is not None and self._in_deferreturn(out.tid):
                # out of a deferred call: on out of the runtime's defer loop, into the
                # function that deferred it, where it returns (as Delve)
                return self._step_out(out.tid)
            return out
        return self._step_lines(tid, into=(kind == "in"))

    def run_parked(self, goid: int, resume: ParkedResume, kind: StepKind) -> Outcome:
        """Step goroutine `goid`, which no thread runs (parked in a channel operation, a
        sleep, a lock) or whose thread is blocked in a system call (single steps would wait
        for it with every other thread stopped): the program runs until the goroutine comes
        back to its first user frame, then the step goes on from there as on a running
        goroutine: next and step in to that frame's next line, step out of it."""
        out = self.host.run_to({resume.pc: self._at_depth(goid, resume.depth)})
        if out.kind != "arrived":
            return out
        if kind == "out":
            return self._step_out(out.tid)
        return self._step_lines(out.tid, into=(kind == "in"))

    def _one_instruction(self, tid: int) -> Outcome | None:
        """Execute `tid`'s next instruction; an outcome when something else happened. A
        SYSCALL runs with every thread going (a single step would wait for the call with
        the others stopped, and a read waiting for another goroutine would never end): the
        program runs until this thread comes back from it."""
        pc = self.target.registers(tid).pc
        if self.binary.read_text(pc, 2) != _SYSCALL:
            return self.host.single_step(tid)
        out = self.host.run_to({pc + len(_SYSCALL): lambda t: t == tid})
        return None if out.kind == "arrived" and out.tid == tid else out

    def _chain(self, fn: Function, pc: int) -> tuple[int, ...]:
        """The inlined calls (their DIE offsets, outermost first) that pc is in."""
        return tuple(c.die_offset for c in self.binary.inline_chain(fn, pc))

    def _return_slot(self, regs: Registers) -> tuple[int, int] | None:
        """Where the frame at `regs` keeps its return address, and its CFA: from .gopclntab
        for Go code, from the CFA rules for C code (cgo)."""
        off = self.binary.sp_offset(regs.pc)
        if off is not None:
            return regs.sp + off, regs.sp + off + 8
        rule = self.binary.cfa_rule(regs.pc) if self.binary.has_cgo else None
        if rule is None:
            return None
        cfa = (regs.bp if rule.reg == RBP else regs.sp) + rule.offset
        return cfa + rule.ra_offset, cfa

    def _step_out(self, tid: int) -> Outcome:
        regs = self.target.registers(tid)
        slot = self._return_slot(regs)
        if slot is None:
            raise SteppingError("cannot find the caller of this frame")
        ret = self.target.u64(slot[0])
        goid = self._goid(tid)
        caller_depth = self._depth(tid, slot[1])  # SP after return == this CFA
        targets = {ret: self._at_depth(goid, caller_depth)}
        panic = self._gopanic_entry()
        out = self.host.run_to({**targets, **({panic: self._on_goroutine(goid)}
                                              if panic is not None else {})})
        fn = self.binary.function_for_pc(regs.pc)
        if out.kind == "arrived" and out.addr == panic and fn is not None:
            return self._after_panic(goid, fn, targets, {})
        return out

    def _step_lines(self, tid: int, into: bool, out_of_inlined: bool = False) -> Outcome:
        """next (into False) or step in, line by line in the goroutine's frame. In optimized
        code a call inlined at the line is stepped over by next (its lines are deeper in the
        inline chain) and entered by step in; `out_of_inlined` (pc is in an inlined call):
        the step ends at the first statement of the function it is inlined in."""
        pc = self.target.registers(tid).pc
        fn = self.binary.function_for_pc(pc)
        start = self.binary.line_for_pc(pc)
        if fn is None or start is None:
            c_fn = self.binary.any_function_for_pc(pc)
            if c_fn is not None:
                raise SteppingError(f"next and step in are not supported in C code "
                                    f"({c_fn.name}): step out, or continue")
            raise SteppingError("no source line information at the current location")
        stmts = {
            addr: (file, line)
            for addr, file, line, is_stmt, _ in self.binary.lines_for_function(fn)
            if is_stmt
        }
        goid = self._goid(tid)
        depth = self._depth(tid, self._cfa(tid))
        fn_return = self._frame_return(tid, goid)
        start_chain = self._chain(fn, pc)
        for _ in range(MAX_STEPS):
            stepped = self._one_instruction(tid)
            if stepped is not None:
                return stepped
            regs = self.target.registers(tid)
            pc = regs.pc
            nfn = self.binary.function_for_pc(pc)
            if nfn is not None and pc == nfn.entry:  # a call
                ret = self.target.u64(regs.sp)
                ret_depth = self._depth(tid, regs.sp + 8)
                if nfn.name == "runtime.gopanic":  # this very frame panics
                    return self._after_panic(goid, fn, {}, fn_return)
                if into and nfn.name == "runtime.newproc":  # a `go` statement
                    started = self._into_new_goroutine(regs.values["rax"], start)
                    if started is not None:
                        return started
                if into and is_user_function(nfn) and self.binary.line_for_pc(pc):
                    dest = self.binary.first_pc_after_prologue(nfn)
                    if dest == pc:  # no prologue (a leaf function): already there
                        return Outcome("arrived", tid=tid)
                    return self.host.run_to({dest: self._on_goroutine(goid)})
                panic = self._gopanic_entry()
                targets = {ret: self._at_depth(goid, ret_depth)}
                if panic is not None:
                    targets[panic] = self._on_goroutine(goid)
                deferred: dict[int, Callable[[int], bool]] = {}
                if nfn.name == "runtime.deferreturn":  # the frame's deferred calls run now
                    deferred = self._deferred_calls(tid, goid, regs.sp + 8)
                out = self.host.run_to({**deferred, **targets})
                if out.kind != "arrived":
                    return out
                if out.addr == panic:  # the callee panicked: follow the unwinding
                    return self._after_panic(goid, fn, {ret: targets[ret]}, fn_return)
                if out.addr in deferred:  # stop in the deferred call, as Delve's next does
                    return out
                tid = out.tid
                pc = self.target.registers(tid).pc
                nfn = self.binary.function_for_pc(pc)
            if nfn != fn:  # returned to the caller (or unwound)
                if nfn is not None and not is_user_function(nfn):
                    return self._out_to_user_code(tid)  # e.g. a deferred call returning
                return Outcome("arrived", tid=tid)
            if self._depth(tid, self._cfa(tid)) != depth:
                continue
            here = stmts.get(pc)
            if here is None:
                continue
            if out_of_inlined:
                # in the caller itself: not in that call, nor in another one inlined
                # after it at the same depth
                if len(self._chain(fn, pc)) < len(start_chain):
                    return Outcome("arrived", tid=tid)
                continue
            if here != start:
                if not into:
                    chain, n = self._chain(fn, pc), len(start_chain)
                    if len(chain) > n and chain[:n] == start_chain:
                        continue  # inside a call inlined at this line: next steps over it
                return Outcome("arrived", tid=tid)
        return Outcome("arrived", tid=tid)

    def _into_new_goroutine(self, funcval: int, go_line: tuple[str, int]) -> Outcome | None:
        """Step in on a `go f()` line (Delve's step into a new goroutine): stop where the
        goroutine it starts enters f's code. `funcval` is runtime.newproc's argument; a
        compiler wrapper for a call with arguments (`main.main.gowrap1`; before Go 1.22 a
        `main.main.func1` whose every line is the `go` line) is looked through to the
        user function it calls."""
        try:
            code = self.target.u64(funcval)
        except OSError:
            return None
        fn = self.binary.function_for_pc(code)
        if fn is None:
            return None
        if re.search(r"\.gowrap\d+$", fn.name) or (
                re.search(r"\.func\d+$", fn.name)
                and {(f, ln) for _a, f, ln, _s, _p in self.binary.lines_for_function(fn)}
                <= {go_line}):
            fn = self._called_user_function(fn) or fn
        if not is_user_function(fn):
            return None
        existing = {g.id for g in self.goroutines.snapshot().goroutines}
        dest = self.binary.first_pc_after_prologue(fn)
        return self.host.run_to({dest: lambda t: self._goid(t) not in existing})

    def _called_user_function(self, wrapper: Function) -> Function | None:
        """The first user function `wrapper` calls (from its code)."""
        code = self.binary.read_text(wrapper.entry, wrapper.end - wrapper.entry) or b""
        for insn in disassembler().disasm(code, wrapper.entry):
            if insn.mnemonic != "call" or not insn.operands:
                continue
            target = insn.operands[0].imm if insn.operands[0].type == X86_OP_IMM else None
            callee = self.binary.function_for_pc(target) if target else None
            if callee is not None and callee.entry == target and is_user_function(callee):
                return callee
        return None

    def _in_deferreturn(self, tid: int) -> bool:
        fn = self.binary.function_for_pc(self.target.registers(tid).pc)
        return fn is not None and fn.name == "runtime.deferreturn"

    def _out_to_user_code(self, tid: int) -> Outcome:
        """Step out of runtime frames (runtime.deferreturn after a deferred call, ...) until
        the goroutine is back in user code."""
        for _ in range(16):
            fn = self.binary.function_for_pc(self.target.registers(tid).pc)
            if fn is None or is_user_function(fn):
                break
            out = self._step_out(tid)
            if out.kind != "arrived":
                return out
            tid = out.tid
        return Outcome("arrived", tid=tid)

    # ----- deferred calls and panics during a step -----

    def _deferred_calls(self, tid: int, goid: int, frame_sp: int
                        ) -> dict[int, Callable[[int], bool]]:
        """Targets after the prologue of every function the frame at `frame_sp` deferred,
        from the goroutine's _defer chain (field offsets from DWARF)."""
        g_lay = self.binary.struct_layout("runtime.g")
        d_lay = self.binary.struct_layout("runtime._defer")
        g = self.goroutines.of_thread(tid)
        if g_lay is None or d_lay is None or g is None:
            return {}
        out: dict[int, Callable[[int], bool]] = {}
        d = self.target.u64(g.addr + g_lay.offset("_defer"))
        for _ in range(256):  # a chain longer than this is not a frame's defers
            if not d:
                break
            if self.target.u64(d + d_lay.offset("sp")) == frame_sp:
                funcval = self.target.u64(d + d_lay.offset("fn"))
                code = self.target.u64(funcval) if funcval else 0
                fn = self.binary.function_for_pc(code) if code else None
                if fn is not None:
                    out[self.binary.first_pc_after_prologue(fn)] = self._on_goroutine(goid)
            d = self.target.u64(d + d_lay.offset("link"))
        return out

    def _on_goroutine(self, goid: int) -> Callable[[int], bool]:
        return lambda t: self._goid(t) == goid

    def _gopanic_entry(self) -> int | None:
        fn = self.binary.function("runtime.gopanic")
        return fn.entry if fn is not None else None

    def _frame_return(self, tid: int, goid: int) -> dict[int, Callable[[int], bool]]:
        """Where the current frame returns to, as a target (empty when unknown)."""
        regs = self.target.registers(tid)
        off = self.binary.sp_offset(regs.pc)
        if off is None:
            return {}
        cfa = regs.sp + off + 8
        return {self.target.u64(regs.sp + off): self._at_depth(goid, self._depth(tid, cfa))}

    def _after_panic(
        self, goid: int, fn: Function, targets: dict[int, Callable[[int], bool]],
        fn_return: dict[int, Callable[[int], bool]],
    ) -> Outcome:
        """The stepping goroutine panicked: stop where it comes back to user code: in a
        deferred closure of the stepping function (where a recover would be), or where a
        frame returns after a recovery. An unrecovered panic meets the exception breakpoint."""
        closures = {
            self.binary.first_pc_after_prologue(c): self._on_goroutine(goid)
            for c in self.binary.functions_matching("^" + re.escape(fn.name) + r"\.func\d+$")
        }
        return self.host.run_to({**closures, **targets, **fn_return})
