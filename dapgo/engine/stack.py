"""Stack unwinding through Go frames with the runtime's own pc->SP-delta tables (pcsp).

At any pc of a Go function, .gopclntab says how far SP is from the return-address slot; the
caller's frame starts just above it. This is how the Go runtime itself unwinds, and it works
with or without frame pointers, in the prologue as well as the body.
"""

from __future__ import annotations

import attrs

from dapgo.engine.dwarf import BinaryInfo, Function
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
_SIGCONTEXT_RSP = 15 * 8
_SIGCONTEXT_RIP = 16 * 8
# ... and its siginfo (si_signo first) after the ucontext (flags, link, stack_t, sigcontext,
# the kernel's 8-byte sigset): 8 + 304 bytes above that return address
_SIGINFO = 8 + 304


@attrs.frozen
class Frame:
    pc: int
    sp: int
    cfa: int | None  # SP just before the call that made this frame (DWARF CFA)
    function: Function | None
    file: str | None
    line: int


def signal_number(target: Target, frame: Frame) -> int | None:
    """The signal a runtime.sigtramp frame handles (from the kernel's signal frame)."""
    if frame.function is None or frame.function.name != SIGNAL_TRAMPOLINE or frame.cfa is None:
        return None
    try:
        return target.uint(frame.cfa - 8 + _SIGINFO, 4)
    except OSError:
        return None


def unwind(target: Target, pc: int, sp: int, limit: int = MAX_FRAMES) -> list[Frame]:
    """Frames from innermost to the goroutine's start, at most `limit`; a signal handler's
    frames are followed by those of the code the signal interrupted."""
    binary: BinaryInfo = target.binary
    frames: list[Frame] = []
    interrupted = True  # frame 0, and a frame a signal interrupted: pc is not a return
    for _depth in range(limit):
        fn = binary.function_for_pc(pc)
        # the pc of a caller frame is a return address: its call is the instruction before
        lookup_pc = pc if interrupted else pc - 1
        interrupted = False
        loc = binary.line_for_pc(lookup_pc)
        off = binary.sp_offset(pc) if fn is not None else None
        cfa = sp + off + 8 if off is not None else None
        frames.append(
            Frame(pc=pc, sp=sp, cfa=cfa, function=fn,
                  file=loc[0] if loc else None, line=loc[1] if loc else 0)
        )
        if fn is None or off is None or fn.name in STACK_ROOTS:
            break
        try:
            if fn.name == SIGNAL_TRAMPOLINE:  # on to the code the signal interrupted
                ctx = sp + off + _SIGCONTEXT
                pc, sp = target.u64(ctx + _SIGCONTEXT_RIP), target.u64(ctx + _SIGCONTEXT_RSP)
                interrupted = True
                continue
            ret = target.u64(sp + off)
        except OSError:
            break
        if ret == 0:
            break
        pc, sp = ret, sp + off + 8
    return frames
