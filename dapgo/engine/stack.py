"""Stack unwinding: Go frames with the runtime's pc->SP-delta tables (pcsp), C frames with
.eh_frame/.debug_frame CFA rules, and the stack switches of cgo calls.

At any pc of a Go function, .gopclntab says how far SP is from the return-address slot; the
caller's frame starts just above it. This is how the Go runtime itself unwinds, and it works
with or without frame pointers, in the prologue as well as the body.

A cgo call runs C on the thread's system stack (g0). Unwinding follows it as Delve does:
- `runtime.asmcgocall` seen on the system stack (C called from Go): the depth of the
  goroutine's SP below its stack top was saved at the C callee's CFA; go back to the
  goroutine's stack there.
- `runtime.cgocallback` seen on the goroutine's stack (Go called back from C): the
  system stack's SP is m.g0.sched.sp (and the previous one, for nested callbacks, is saved
  at that SP); continue with cgocallback's frame on the system stack, into crosscall2 and
  the C code that called it.

A signal handler's frames (runtime.sigtramp, on the thread's signal stack) are followed by
those of the code the signal interrupted, from the kernel's signal frame (the runtime's
async preemption, a core file written as the runtime crashed on a signal).

The runtime also runs on the system stack for a goroutine (runtime.systemstack, mcall,
morestack): those frames end at the switch, and the goroutine's own go on where its stack
was saved when the runtime switched (g.sched).
"""

from __future__ import annotations

import attrs

from dapgo.engine.dwarf import BinaryInfo, Function
from dapgo.engine.dwarf.cfi import RBP
from dapgo.engine.target import Target

# Unwinding stops cleanly at these: the bottom of every goroutine or thread stack.
STACK_ROOTS = frozenset(
    {
        "runtime.goexit",
        "runtime.mstart",
        "runtime.mstart0",
        "runtime.rt0_go",
        "_rt0_amd64",
        "_rt0_amd64_linux",
        "runtime.mcall",
        "runtime.morestack",
    }
)
MAX_FRAMES = 4096
# A signal handler's frame: the kernel's rt_sigframe sits where runtime.sigtramp returns to
# (its return address is sa_restorer); the interrupted registers are in its ucontext's
# mcontext (struct sigcontext), 8 + 40 bytes above that return address.
SIGNAL_TRAMPOLINE = "runtime.sigtramp"
_SIGCONTEXT = 8 + 40
_SIGCONTEXT_RBP = 10 * 8
_SIGCONTEXT_RSP = 15 * 8
_SIGCONTEXT_RIP = 16 * 8
# ... and its siginfo (si_signo first) after the ucontext (flags, link, stack_t, sigcontext,
# the kernel's 8-byte sigset): 8 + 304 bytes above that return address
_SIGINFO = 8 + 304
_CGOCALLBACK = frozenset({"runtime.cgocallback", "runtime.cgocallback_gofunc"})
# The runtime's switches from a goroutine's stack to its thread's system stack (g0), each
# saving where the goroutine was in g.sched: seen on the system stack, such a frame is its
# bottom (systemstack called on g0 or gsignal tail-calls without a frame of its own).
_TO_SYSTEM_STACK = frozenset({"runtime.systemstack", "runtime.mcall", "runtime.morestack"})


@attrs.frozen
class Frame:
    pc: int
    sp: int
    cfa: int | None  # SP just before the call that made this frame (DWARF CFA)
    function: Function | None  # function.go is False for a C function
    file: str | None
    line: int
    system_stack: bool = False  # a frame of the thread's system stack (C code of a cgo call)
    # A call inlined into `physical` (optimized code): the .debug_info offset of its
    # DW_TAG_inlined_subroutine, whose variables are this frame's.
    inlined_scope: int | None = None
    physical: Function | None = None  # the machine function holding an inlined frame's code

    @property
    def code(self) -> Function | None:
        """The machine function whose instructions this frame runs."""
        return self.physical if self.physical is not None else self.function


def through_signal_handler(target: Target, pc: int, sp: int, bp: int, stack_lo: int,
                           stack_hi: int) -> tuple[list[Frame], int] | None:
    """A thread in a Go signal handler (on its gsignal stack: the runtime's async
    preemption, or a crash on a signal) whose goroutine's stack is [stack_lo, stack_hi):
    its frames, from the handler's through to the goroutine's, and the index of the first
    frame of the code the (outermost) signal interrupted. None when the thread is not in a
    signal handler, or the interrupted code is not on that stack."""
    frames = unwind(target, pc, sp, bp=bp)
    names = [f.function.name if f.function else "" for f in frames]
    if SIGNAL_TRAMPOLINE not in names:
        return None
    first = len(names) - names[::-1].index(SIGNAL_TRAMPOLINE)
    if first < len(frames) and stack_lo <= frames[first].sp < stack_hi:
        return frames, first
    return None


def signal_number(target: Target, frame: Frame) -> int | None:
    """The signal a runtime.sigtramp frame handles (from the kernel's signal frame)."""
    if frame.function is None or frame.function.name != SIGNAL_TRAMPOLINE or frame.cfa is None:
        return None
    try:
        return target.uint(frame.cfa - 8 + _SIGINFO, 4)
    except OSError:
        return None


@attrs.frozen
class GoroutineStack:
    """The goroutine whose stack is unwound, for following cgo stack switches."""

    g_addr: int
    stack_lo: int
    stack_hi: int
    saved_pc: int = 0  # where the scheduler (or a system call) saved it
    saved_sp: int = 0

    def holds(self, sp: int) -> bool:
        return self.stack_lo <= sp <= self.stack_hi


@attrs.frozen
class _Offsets:
    g_stack_lo: int
    g_stack_hi: int
    g_m: int
    g_sched_sp: int
    m_g0: int


_OFFSETS: dict[str, _Offsets | None] = {}


def _offsets(binary: BinaryInfo) -> _Offsets | None:
    if binary.build_id not in _OFFSETS:
        g = binary.field_offsets("runtime.g", ("stack.lo", "stack.hi", "m", "sched.sp"))
        m = binary.field_offsets("runtime.m", ("g0",))
        got = None
        if g is not None and m is not None:
            try:
                got = _Offsets(g[1]["stack.lo"], g[1]["stack.hi"], g[1]["m"],
                               g[1]["sched.sp"], m[1]["g0"])
            except KeyError:
                got = None
        _OFFSETS[binary.build_id] = got
    return _OFFSETS[binary.build_id]


def goroutine_stack(target: Target, g_addr: int, saved_pc: int = 0, saved_sp: int = 0
                    ) -> GoroutineStack | None:
    """The stack bounds of the goroutine at g_addr (None when they cannot be read), and
    the pc/sp it was saved at."""
    off = _offsets(target.binary)
    if off is None or not g_addr:
        return None
    try:
        return GoroutineStack(g_addr, target.u64(g_addr + off.g_stack_lo),
                              target.u64(g_addr + off.g_stack_hi), saved_pc, saved_sp)
    except OSError:
        return None


def _g0_sched_sp(target: Target, g: GoroutineStack) -> int:
    off = _offsets(target.binary)
    if off is None:
        return 0
    try:
        m = target.u64(g.g_addr + off.g_m)
        g0 = target.u64(m + off.m_g0) if m else 0
        return target.u64(g0 + off.g_sched_sp) if g0 else 0
    except OSError:
        return 0


_SUB_RDI_RDX = bytes.fromhex("4829d7")
_DEPTH_SLOTS: dict[tuple[str, int], int | None] = {}


def _depth_slot(binary: BinaryInfo, fn: Function) -> int | None:
    """Where runtime.asmcgocall saves the goroutine's stack depth, relative to SP at its
    call of C: the `MOVQ DI, n(SP)` after `SUBQ DX, DI` (n is 0x28 up to Go 1.2x, 0 once
    asmcgocall_landingpad exists)."""
    key = (binary.build_id, fn.entry)
    if key not in _DEPTH_SLOTS:
        code = binary.read_text(fn.entry, fn.end - fn.entry) or b""
        i = code.find(_SUB_RDI_RDX)
        got: int | None = None
        if i >= 0:
            mov = code[i + 3:i + 8]
            if mov[:4] == bytes.fromhex("48893c24"):  # mov [rsp], rdi
                got = 0
            elif mov[:4] == bytes.fromhex("48897c24"):  # mov [rsp + disp8], rdi
                got = mov[4]
        _DEPTH_SLOTS[key] = got
    return _DEPTH_SLOTS[key]


def unwind(target: Target, pc: int, sp: int, limit: int = MAX_FRAMES, *, bp: int = 0,
           g: GoroutineStack | None = None) -> list[Frame]:
    """Frames from innermost to the goroutine's start, at most `limit`. With `g`, cgo stack
    switches are followed (the walk may start on the system stack, in C code). A signal
    handler's frames are followed by those of the code the signal interrupted."""
    binary: BinaryInfo = target.binary
    frames: list[Frame] = []
    system = g is not None and not g.holds(sp)
    g0_sp: int | None = None  # the next system-stack SP to switch to at a cgocallback
    interrupted = True  # frame 0, and a frame a signal interrupted: pc is not a return
    for depth in range(limit):
        fn = binary.any_function_for_pc(pc)
        # the pc of a caller frame is a return address: its call is the instruction before
        first, interrupted = interrupted, False
        lookup_pc = pc if first else pc - 1
        if not first and (fn is None or (not fn.go and pc == fn.entry)):
            # a call to a function that does not return can be a C function's last
            # instruction: the return address is past its end
            fn = binary.any_function_for_pc(lookup_pc) or fn
        loc = binary.any_line_for_pc(lookup_pc)
        file, line = (loc[0], loc[1]) if loc else (None, 0)
        try:
            if fn is not None and fn.go:
                off = binary.sp_offset(pc)
                cfa = sp + off + 8 if off is not None else None
                # calls inlined at this pc are frames of their own, innermost first; the
                # machine function's frame is at the outermost call's line
                for call in reversed(binary.inline_chain(fn, lookup_pc)):
                    frames.append(Frame(pc, sp, cfa, Function(call.name, fn.entry, fn.end),
                                        file, line, system, call.die_offset, fn))
                    file, line = call.call_file or file, call.call_line
                frames.append(Frame(pc, sp, cfa, fn, file, line, system))
                if system and fn.name in _TO_SYSTEM_STACK and g is not None \
                        and g.saved_pc and g.holds(g.saved_sp):
                    # the bottom of the system stack the runtime switched to for the
                    # goroutine: on where the goroutine's own stack was saved
                    pc, sp, system, interrupted = g.saved_pc, g.saved_sp, False, True
                    continue
                if off is None or fn.name in STACK_ROOTS:
                    break
                if fn.name == SIGNAL_TRAMPOLINE:  # on to the code the signal interrupted
                    ctx = sp + off + _SIGCONTEXT
                    pc, sp = target.u64(ctx + _SIGCONTEXT_RIP), target.u64(ctx + _SIGCONTEXT_RSP)
                    bp = target.u64(ctx + _SIGCONTEXT_RBP)
                    system = g is not None and not g.holds(sp)
                    interrupted = True
                    continue
                if g is not None and not first and fn.name == "runtime.asmcgocall" and system:
                    # [sp + slot] (sp: the C callee's CFA) = g.stack.hi - asmcgocall's SP
                    # on the goroutine's stack, after its frame-pointer push (`off`)
                    slot = _depth_slot(binary, fn)
                    if slot is None:
                        break
                    gsp = g.stack_hi - target.u64(sp + slot)
                    if not g.holds(gsp):
                        break
                    pc, sp, system = target.u64(gsp + off), gsp + off + 8, False
                    continue
                if g is not None and not first and fn.name in _CGOCALLBACK and not system:
                    if g0_sp is None:
                        g0_sp = _g0_sched_sp(target, g)
                    if not g0_sp:
                        break
                    sys_sp, g0_sp = g0_sp, target.u64(g0_sp)
                    pc, sp, system = target.u64(sys_sp + off), sys_sp + off + 8, True
                    continue
                ret = target.u64(sp + off)
                pc, sp = ret, sp + off + 8
            else:
                rule = binary.cfa_rule(lookup_pc) if binary.has_cgo else None
                if rule is None:
                    frames.append(Frame(pc, sp, None, fn, file, line, system))
                    if depth == 0 and system and g is not None and g.saved_sp:
                        # code nothing describes (a shared library's) on the system stack:
                        # go on where the goroutine's stack was saved, as Delve does
                        pc, sp, system = g.saved_pc, g.saved_sp, False
                        continue
                    break
                base = sp if rule.reg != RBP else bp
                cfa = base + rule.offset
                frames.append(Frame(pc, sp, cfa, fn, file, line, system))
                ret = target.u64(cfa + rule.ra_offset)
                if rule.bp_offset is not None:
                    bp = target.u64(cfa + rule.bp_offset)
                pc, sp = ret, cfa
        except OSError:
            break
        if pc == 0:
            break
    return frames
