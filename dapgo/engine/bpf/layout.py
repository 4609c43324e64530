"""The shapes shared by bpf/probe.bpf.c and Python: constants (passed to the C compiler as -D
flags), and ctypes mirrors of the C structs (descriptors written into the `descs` map,
records read from the `events` ring buffer).

tests/bpf/test_layout.py compiles the C structs and checks every field's offset and size
against these mirrors, so a change on one side only cannot go unnoticed."""

from __future__ import annotations

import ctypes as C
from importlib.resources import files

# The checkout's top-level bpf/ folder is installed as the package dapgo.bpf (pyproject.toml
# maps it): the file sits inside the installed package in a wheel, and in bpf/ of the
# checkout under an editable install.
C_SOURCE = files("dapgo.bpf") / "probe.bpf.c"

# --- sizes -------------------------------------------------------------------------------
MAX_VALS = 16        # values read per probe hit (power of two: used as a mask in C)
MAX_PIECES = 4       # DW_OP_piece parts per value
MAX_DEREF = 4        # pointer dereferences per value
MAX_COND = 8         # condition program length (verifier cost grows fast with it)
COND_STACK = 8       # condition evaluation stack (power of two)
MAX_CSTR = 4         # string literals per condition (power of two)
CSTR_LEN = 32        # bytes per string literal
MAX_STACK = 16       # stack frames per record (power of two)
RAW_MAX = 64         # bytes of one value's own storage (power of two)
DATA_MAX = 512       # bytes of string/slice contents per value (power of two; as much as
                     # dapgo.engine.values shows of a string by default)
SCRATCH_SIZE = 16384  # largest record (power of two; MAX_VALS full values fit)
SCRATCH_SLACK = 1024
REGS_WORDS = 32      # pt_regs copied as 8-byte words (21 used; power of two for masking)
PT_REGS_BYTES = 21 * 8
MAX_PROBES = 65536
MAX_SIGNALS = 65536  # threads a condition may be stopping at one moment
DEFAULT_RINGBUF_PAGES = 16384  # 64 MiB: 200,000 small records fit even if the reader stalls
WAKEUP_EVERY = 256  # records per CPU between consumer wake-ups (it also polls on a timer)
MLABEL_LEN = 32      # bytes of a pprof label key or value a metric is split by
HIST_BUCKETS = 64    # log2 latency buckets (power of two)
MAX_METRIC_KEYS = 16384  # distinct (metric, goroutine or label value) keys
MAX_STARTS = 65536   # goroutines inside latency-measured calls at one moment (LRU)
MAX_LABEL_SCAN = 16  # labels of a goroutine looked at for the one a metric is split by
MIN_TOP_HASH = 5     # runtime/map.go (Go <= 1.23): tophash below it marks an empty cell

# --- enumerations ------------------------------------------------------------------------
SRC_NONE, SRC_REG, SRC_SP, SRC_ADDR = 0, 1, 2, 3
VK_PLAIN, VK_STRING, VK_SLICE = 0, 1, 2
VE_OK, VE_READ, VE_NIL, VE_UNAVAILABLE = 0, 1, 2, 3
DF_EMIT, DF_SIGNAL, DF_COND, DF_AT_RET = 1, 2, 4, 8  # DF_AT_RET: return address at SP
MF_COUNT, MF_LAT_BEGIN, MF_LAT_END, MF_BY_GOID, MF_BY_LABEL = 1, 2, 4, 8, 16
MK_COUNT, MK_LATENCY = 1, 2
LABELS_NONE, LABELS_SLICE, LABELS_MAP = 0, 1, 2
HIT_NONE, HIT_EQ, HIT_GE, HIT_GT, HIT_LE, HIT_LT, HIT_MOD = 0, 1, 2, 3, 4, 5, 6
(OP_VAL, OP_CONST, OP_STREQ, OP_NOT, OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_AND,
 OP_OR, OP_ULT, OP_UGT) = range(1, 15)

# struct pt_regs (x86-64) word indexes
PTREGS = {"r15": 0, "r14": 1, "r13": 2, "r12": 3, "bp": 4, "bx": 5, "r11": 6, "r10": 7,
          "r9": 8, "r8": 9, "ax": 10, "cx": 11, "dx": 12, "si": 13, "di": 14,
          "orig_ax": 15, "ip": 16, "cs": 17, "flags": 18, "sp": 19, "ss": 20}
# DWARF register number (amd64) -> pt_regs word
DWARF_TO_PTREGS = {0: 10, 1: 12, 2: 11, 3: 5, 4: 13, 5: 14, 6: 4, 7: 19, 8: 9, 9: 8,
                   10: 7, 11: 6, 12: 3, 13: 2, 14: 1, 15: 0}


# where a goroutine's pprof labels are, for metrics split by a label (-D names of the C
# source; LABELS_MODE says which of the two layouts, LABELS_NONE: the program has none)
LABEL_DEFINES = ("LABELS_MODE", "G_LABELS_OFFSET", "LM_SLICE_OFF", "LBL_SIZE", "LBL_KEY_OFF",
                 "LBL_VAL_OFF", "HM_B_OFF", "HM_BUCKETS_OFF", "BKT_SIZE", "BKT_KEYS_OFF",
                 "BKT_VALUES_OFF")


def defines(*, goid_offset: int, ringbuf_pages: int = DEFAULT_RINGBUF_PAGES,
            ip_adjust: int = 0, labels: dict[str, int] | None = None) -> dict[str, int]:
    """Every -D the C source needs."""
    d: dict[str, int] = {
        k: v for k, v in globals().items()
        if k.isupper() and isinstance(v, int) and not k.startswith("DEFAULT")
    }
    d.update(
        G_GOID_OFFSET=goid_offset, RINGBUF_PAGES=ringbuf_pages, IP_ADJUST=ip_adjust,
        SCRATCH_MASK=SCRATCH_SIZE - 1, REG_SP=PTREGS["sp"], REG_BP=PTREGS["bp"],
        REG_R14=PTREGS["r14"],
    )
    d.update(dict.fromkeys(LABEL_DEFINES, 0))
    d.update(labels or {})
    return d


def cflags(defs: dict[str, int]) -> list[str]:
    return [f"-D{k}={v}" for k, v in defs.items()]


def source() -> str:
    return C_SOURCE.read_text()


# --- ctypes mirrors ----------------------------------------------------------------------
class Piece(C.Structure):
    _fields_ = [("src", C.c_uint8), ("reg", C.c_uint8), ("size", C.c_uint16),
                ("dst", C.c_uint32), ("off", C.c_int64)]


class ValSpec(C.Structure):
    _fields_ = [("pieces", Piece * MAX_PIECES), ("deref_off", C.c_int64 * MAX_DEREF),
                ("deref_size", C.c_uint16 * MAX_DEREF), ("npieces", C.c_uint8),
                ("nderef", C.c_uint8), ("kind", C.c_uint8), ("sext", C.c_uint8),
                ("elem_size", C.c_uint16), ("data_cap", C.c_uint16), ("pad1", C.c_uint32)]


class CondOp(C.Structure):
    _fields_ = [("op", C.c_uint8), ("arg", C.c_uint8), ("pad", C.c_uint16),
                ("pad2", C.c_uint32), ("imm", C.c_int64)]


class Desc(C.Structure):
    _fields_ = [("id", C.c_uint32), ("nvals", C.c_uint16), ("flags", C.c_uint8),
                ("hit_op", C.c_uint8), ("hit_n", C.c_uint64), ("ncond", C.c_uint16),
                ("nstack", C.c_uint16), ("pad", C.c_uint32),
                ("vals", ValSpec * MAX_VALS), ("cond", CondOp * MAX_COND),
                ("strs", (C.c_uint8 * CSTR_LEN) * MAX_CSTR),
                ("strlen", C.c_uint16 * MAX_CSTR), ("mflags", C.c_uint8),
                ("mkeylen", C.c_uint8), ("pad3", C.c_uint16), ("pad4", C.c_uint32),
                ("mkey", C.c_uint8 * MLABEL_LEN)]


class MKey(C.Structure):
    _fields_ = [("id", C.c_uint32), ("kind", C.c_uint16), ("label_len", C.c_uint16),
                ("goid", C.c_uint64), ("label", C.c_uint8 * MLABEL_LEN)]


class MVal(C.Structure):
    _fields_ = [("count", C.c_uint64), ("sum", C.c_uint64), ("max", C.c_uint64),
                ("hist", C.c_uint64 * HIST_BUCKETS)]


class SKey(C.Structure):
    _fields_ = [("goid", C.c_uint64), ("id", C.c_uint32), ("pad", C.c_uint32)]


class RecHdr(C.Structure):
    _fields_ = [("id", C.c_uint32), ("nvals", C.c_uint16), ("nstack", C.c_uint16),
                ("goid", C.c_uint64), ("ip", C.c_uint64), ("ktime", C.c_uint64),
                ("tid", C.c_uint32), ("size", C.c_uint32), ("hits", C.c_uint64)]


class RecVal(C.Structure):
    _fields_ = [("raw_len", C.c_uint16), ("data_len", C.c_uint16), ("err", C.c_uint8),
                ("kind", C.c_uint8), ("pad", C.c_uint16), ("full_len", C.c_uint64)]


MIRRORS: dict[str, type[C.Structure]] = {
    "piece": Piece, "valspec": ValSpec, "condop": CondOp, "desc": Desc,
    "rec_hdr": RecHdr, "rec_val": RecVal, "mkey": MKey, "mval": MVal, "skey": SKey,
}
