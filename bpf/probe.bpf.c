// dapgo's one BPF program for every trace probe, logpoint and in-kernel condition.
//
// Compiled once (bcc, at run time); every probe site runs the same code, driven by a
// descriptor in the `descs` hash map keyed by the probe's address. A descriptor says which
// values to read (register, SP-relative stack slot, or fixed address pieces; a chain of
// pointer dereferences; string/slice contents up to a cap), an optional condition (a tiny
// stack-machine program over those values), a hit condition, and what to do on a match:
// write one record to the `events` ring buffer, and/or stop the thread with SIGTRAP.
//
// The record layout (struct rec_hdr, struct rec_val) is mirrored in layout.py; a test checks
// that the two agree field by field. Constants come in as -D flags from layout.py.
#include <uapi/linux/ptrace.h>
#include <uapi/linux/bpf_perf_event.h>

struct piece {
    u8 src;        // SRC_NONE / SRC_REG / SRC_SP / SRC_ADDR
    u8 reg;        // index of the register in struct pt_regs (8-byte words)
    u16 size;      // bytes
    u32 dst;       // byte offset in the value's raw buffer
    s64 off;       // SRC_SP: offset from SP; SRC_ADDR: the address
};

struct valspec {
    struct piece pieces[MAX_PIECES];
    s64 deref_off[MAX_DEREF];   // step i: raw = *(raw[0:8] + deref_off[i]) (deref_size[i] bytes)
    u16 deref_size[MAX_DEREF];
    u8 npieces;
    u8 nderef;
    u8 kind;                    // VK_PLAIN / VK_STRING / VK_SLICE
    u8 sext;                    // signed ints narrower than 8 bytes: their size (conditions)
    u16 elem_size;              // slices: bytes per element
    u16 data_cap;               // max bytes of string/slice contents to copy
    u32 pad1;
};

struct condop {
    u8 op;
    u8 arg;        // value index (OP_VAL, OP_STREQ) or string index (OP_STREQ: const index)
    u16 pad;
    u32 pad2;
    s64 imm;       // OP_CONST
};

struct desc {
    u32 id;            // reported in each record (trace probe / logpoint id)
    u16 nvals;
    u8 flags;          // DF_EMIT | DF_SIGNAL | DF_COND | DF_AT_RET
    u8 hit_op;         // HIT_NONE / HIT_EQ / HIT_GE / HIT_GT / HIT_MOD / ...
    u64 hit_n;
    u16 ncond;
    u16 nstack;        // frames to record (0: none)
    u32 pad;
    struct valspec vals[MAX_VALS];
    struct condop cond[MAX_COND];
    u8 strs[MAX_CSTR][CSTR_LEN];   // string literals of the condition
    u16 strlen[MAX_CSTR];
};

struct rec_hdr {
    u32 id;
    u16 nvals;
    u16 nstack;
    u64 goid;
    u64 ip;
    u64 ktime;
    u32 tid;
    u32 size;          // bytes of the whole record
    u64 hits;          // hit count of this probe id, this hit included
};

struct rec_val {
    u16 raw_len;       // bytes of raw storage that follow (rounded up to 8 in the record)
    u16 data_len;      // bytes of string/slice contents that follow raw (rounded up to 8)
    u8 err;            // VE_* (0: ok)
    u8 kind;
    u16 pad;
    u64 full_len;      // string/slice length in bytes before the cap
};

struct scratch {
    u64 regs[REGS_WORDS];
    s64 ints[MAX_VALS];        // each value's first up-to-8 raw bytes, for conditions
    u16 voff[MAX_VALS];        // where each value starts in buf
    u64 nrec;                  // records written by this CPU (consumer wake-ups: batched)
    s64 stk[COND_STACK];       // condition evaluation stack
    u32 top, off, roff, rawlen, dlen, eq, cerr, errmask;
    u8 buf[SCRATCH_SIZE + SCRATCH_SLACK];
};

BPF_F_TABLE("hash", u64, struct desc, descs, MAX_PROBES, BPF_F_NO_PREALLOC);
BPF_F_TABLE("hash", u32, u64, hitcounts, MAX_PROBES, BPF_F_NO_PREALLOC);
BPF_ARRAY(lost, u64, 1);
// thread id -> probe id of the condition that is stopping it (read and deleted by the
// ptrace side when the SIGTRAP arrives: which breakpoint stopped which thread)
BPF_F_TABLE("hash", u32, u32, signals, MAX_SIGNALS, BPF_F_NO_PREALLOC);
// the probed address of that stop (the thread stands after its instruction)
BPF_F_TABLE("hash", u32, u64, signal_ips, MAX_SIGNALS, BPF_F_NO_PREALLOC);
BPF_PERCPU_ARRAY(scratchmap, struct scratch, 1);
BPF_RINGBUF_OUTPUT(events, RINGBUF_PAGES);

int dapgo_probe(struct pt_regs *ctx) {
    u64 ip = PT_REGS_IP(ctx) - IP_ADJUST;
    struct desc *d = descs.lookup(&ip);
    if (!d)
        return 0;
    u32 zero = 0;
    struct scratch *s = scratchmap.lookup(&zero);
    if (!s)
        return 0;
    bpf_probe_read_kernel(&s->regs, PT_REGS_BYTES, ctx);
    u64 sp = s->regs[REG_SP];

    struct rec_hdr *h = (struct rec_hdr *)s->buf;
    u16 nvals = d->nvals;
    if (nvals > MAX_VALS)
        nvals = MAX_VALS;
    // Loop-carried state lives in the per-CPU map value, not in registers: the verifier
    // then sees unknown scalars at each loop head and prunes instead of exploring every
    // path through every iteration.
    s->off = sizeof(struct rec_hdr);
    s->errmask = 0;
    for (u32 i = 0; i < MAX_VALS; i++) {
        if (i >= *(volatile u16 *)&d->nvals)
            break;
        struct valspec *vs = &d->vals[i & (MAX_VALS - 1)];
        u32 off = s->off & SCRATCH_MASK;
        s->voff[i & (MAX_VALS - 1)] = off;
        struct rec_val *rv = (struct rec_val *)&s->buf[off];
        rv->kind = vs->kind;
        rv->err = 0;
        rv->data_len = 0;
        rv->full_len = 0;
        s->roff = (off + sizeof(struct rec_val)) & SCRATCH_MASK;
        s->rawlen = 0;
        *(u64 *)&s->buf[s->roff & SCRATCH_MASK] = 0;  // narrow values: clean upper bytes
        // 1. assemble the value's storage from its pieces
        for (u32 p = 0; p < MAX_PIECES; p++) {
            if (p >= vs->npieces)
                break;
            struct piece *pc = &vs->pieces[p & (MAX_PIECES - 1)];
            u32 dst = pc->dst & (RAW_MAX - 1);
            u32 sz = pc->size & (RAW_MAX - 1 + RAW_MAX);
            if (dst + sz > s->rawlen)
                s->rawlen = dst + sz;
            u8 *raw = &s->buf[s->roff & SCRATCH_MASK];
            int rc = 0;
            if (pc->src == SRC_REG)
                rc = bpf_probe_read_kernel(raw + dst, sz & 15,
                                           &s->regs[pc->reg & (REGS_WORDS - 1)]);
            else if (pc->src == SRC_SP)
                rc = bpf_probe_read_user(raw + dst, sz, (void *)(sp + pc->off));
            else if (pc->src == SRC_ADDR)
                rc = bpf_probe_read_user(raw + dst, sz, (void *)pc->off);
            else
                rc = -1;
            if (rc < 0)
                rv->err = pc->src == SRC_NONE ? VE_UNAVAILABLE : VE_READ;
        }
        // 2. follow pointers: each step reads at *(u64 *)raw + offset
        for (u32 k = 0; k < MAX_DEREF; k++) {
            if (k >= vs->nderef || rv->err)
                break;
            u8 *raw = &s->buf[s->roff & SCRATCH_MASK];
            u64 ptr = *(u64 *)raw;
            if (ptr == 0) {
                rv->err = VE_NIL;
                break;
            }
            u32 sz = vs->deref_size[k & (MAX_DEREF - 1)] & (RAW_MAX - 1 + RAW_MAX);
            s->rawlen = sz;
            *(u64 *)raw = 0;
            if (bpf_probe_read_user(raw, sz, (void *)(ptr + vs->deref_off[k & (MAX_DEREF - 1)])) < 0)
                rv->err = VE_READ;
        }
        u32 rawlen = s->rawlen;
        if (rawlen > RAW_MAX)
            rawlen = RAW_MAX;
        rv->raw_len = rawlen;
        u8 *raw = &s->buf[s->roff & SCRATCH_MASK];
        s64 iv = *(s64 *)raw;
        if (vs->sext == 1)
            iv = (s8)iv;
        else if (vs->sext == 2)
            iv = (s16)iv;
        else if (vs->sext == 4)
            iv = (s32)iv;
        s->ints[i & (MAX_VALS - 1)] = iv;
        // 3. string / slice contents
        u32 doff = (s->roff + ((rawlen + 7) & ~7)) & SCRATCH_MASK;
        s->dlen = 0;
        if (!rv->err && (vs->kind == VK_STRING || vs->kind == VK_SLICE)) {
            u64 ptr = *(u64 *)raw;
            u64 n = *(u64 *)(raw + 8);
            if (vs->kind == VK_SLICE)
                n *= vs->elem_size;
            rv->full_len = n;
            u64 cap = vs->data_cap;
            if (n > cap)
                n = cap;
            if (n > DATA_MAX)
                n = DATA_MAX;
            if (n > 0 && ptr != 0) {
                if (bpf_probe_read_user(&s->buf[doff], n & (DATA_MAX - 1 + DATA_MAX),
                                        (void *)ptr) < 0)
                    rv->err = VE_READ;
                else
                    s->dlen = n;
            }
        }
        u32 dlen = s->dlen & (DATA_MAX - 1 + DATA_MAX);
        rv->data_len = dlen;
        s->errmask |= (u32)(rv->err != 0) << (i & (MAX_VALS - 1));
        s->off = doff + ((dlen + 7) & ~7);
    }
    u32 off = s->off;

    // condition: a stack machine over the values (ints / string equality); its stack and
    // stack pointer live in the map value for the same reason as above
    // a value the condition uses could not be read (nil pointer on the way, bad memory):
    // like the ptrace path, a condition that cannot be evaluated counts as met, and the
    // hit is not counted
    s->cerr = 0;
    if (d->flags & DF_COND) {
        s->top = 0;
        s->stk[0] = 0;
        for (u32 c = 0; c < MAX_COND; c++) {
            if (c >= d->ncond)
                break;
            struct condop *op = &d->cond[c & (MAX_COND - 1)];
            u32 a = op->arg;
            u32 top = s->top;
            s64 r = 0;
            if (op->op == OP_VAL) {
                s->cerr |= (s->errmask >> (a & (MAX_VALS - 1))) & 1;
                s->stk[top & (COND_STACK - 1)] = s->ints[a & (MAX_VALS - 1)];
                s->top = top + 1;
                continue;
            }
            if (op->op == OP_CONST) {
                s->stk[top & (COND_STACK - 1)] = op->imm;
                s->top = top + 1;
                continue;
            }
            if (op->op == OP_STREQ) {
                // value `a` (a string) == literal number imm; pushes 0/1
                u32 vi = a & (MAX_VALS - 1);
                u32 si = op->imm & (MAX_CSTR - 1);
                u32 vo = s->voff[vi] & SCRATCH_MASK;
                struct rec_val *rv = (struct rec_val *)&s->buf[vo];
                u64 want = d->strlen[si] & (CSTR_LEN - 1 + CSTR_LEN);
                u32 dpos = (vo + sizeof(struct rec_val) + ((rv->raw_len + 7) & ~7))
                           & SCRATCH_MASK;
                s->cerr |= (s->errmask >> vi) & 1;
                u64 diff = rv->err != 0 || rv->full_len != want;
                // compare 8 bytes at a time, masked to the literal's length: no branches
                #pragma unroll
                for (u32 w = 0; w < CSTR_LEN / 8; w++) {
                    u64 dw = *(u64 *)&s->buf[dpos + w * 8];
                    u64 lw = *(u64 *)&d->strs[si][w * 8];
                    s64 left = (s64)want - w * 8;
                    u64 mask = left >= 8 ? ~0ULL : left <= 0 ? 0 : (1ULL << (left * 8)) - 1;
                    diff |= (dw ^ lw) & mask;
                }
                s->eq = diff == 0;
                s->stk[top & (COND_STACK - 1)] = s->eq;
                s->top = top + 1;
                continue;
            }
            if (op->op == OP_NOT) {
                s->stk[(top - 1) & (COND_STACK - 1)] = !s->stk[(top - 1) & (COND_STACK - 1)];
                continue;
            }
            s64 y = s->stk[(top - 1) & (COND_STACK - 1)];
            s64 x = s->stk[(top - 2) & (COND_STACK - 1)];
            switch (op->op) {
            case OP_EQ: r = x == y; break;
            case OP_NE: r = x != y; break;
            case OP_LT: r = x < y; break;
            case OP_LE: r = x <= y; break;
            case OP_GT: r = x > y; break;
            case OP_GE: r = x >= y; break;
            case OP_AND: r = x && y; break;
            case OP_OR: r = x || y; break;
            case OP_ULT: r = (u64)x < (u64)y; break;
            case OP_UGT: r = (u64)x > (u64)y; break;
            }
            s->stk[(top - 2) & (COND_STACK - 1)] = r;
            s->top = top - 1;
        }
        if (!s->stk[0] && !s->cerr)
            return 0;
    }

    u32 id = d->id;
    u64 one = 1;
    u64 hits = 0;
    u64 *hc = hitcounts.lookup(&id);
    if (s->cerr) {
        if (hc)
            hits = *hc;
    } else if (hc) {
        hits = __sync_fetch_and_add(hc, 1) + 1;
    } else {
        hits = 1;
        hitcounts.update(&id, &one);
    }
    if (d->hit_op != HIT_NONE && !s->cerr) {
        u64 n = d->hit_n;
        int ok = 0;
        switch (d->hit_op) {
        case HIT_EQ: ok = hits == n; break;
        case HIT_GE: ok = hits >= n; break;
        case HIT_GT: ok = hits > n; break;
        case HIT_LE: ok = hits <= n; break;
        case HIT_LT: ok = hits < n; break;
        case HIT_MOD: ok = n != 0 && hits % n == 0; break;
        }
        if (!ok)
            return 0;
    }

    if (d->flags & DF_EMIT) {
        // the goroutine: g is in R14 under Go's register ABI
        u64 g = s->regs[REG_R14];
        u64 goid = 0;
        if (g)
            bpf_probe_read_user(&goid, 8, (void *)(g + G_GOID_OFFSET));
        h->id = id;
        h->nvals = nvals;
        h->goid = goid;
        h->ip = ip;
        h->ktime = bpf_ktime_get_ns();
        h->tid = (u32)bpf_get_current_pid_tgid();
        h->hits = hits;
        u16 nstack = d->nstack;
        if (nstack > MAX_STACK)
            nstack = MAX_STACK;
        h->nstack = 0;
        off &= SCRATCH_MASK;
        if (nstack) {
            // frame pointers: at a RET the frame is already popped, and a frameless function
            // never pushed one (DF_AT_RET for both): the return address is at SP and BP is
            // the caller's; elsewhere it is at BP+8 and BP links to the caller's BP
            u64 *st = (u64 *)&s->buf[off];
            u64 bp = s->regs[REG_BP];
            u32 n = 0;
            st[0] = ip;
            n = 1;
            if (d->flags & DF_AT_RET) {
                u64 ra = 0;
                bpf_probe_read_user(&ra, 8, (void *)sp);
                st[1] = ra;
                n = 2;
            }
            for (u32 k = 0; k < MAX_STACK; k++) {
                if (n >= nstack || bp == 0)
                    break;
                u64 fr[2] = {};
                if (bpf_probe_read_user(fr, 16, (void *)bp) < 0 || fr[1] == 0)
                    break;
                st[n & (MAX_STACK - 1)] = fr[1];
                n++;
                bp = fr[0];
            }
            if (n > MAX_STACK)
                n = MAX_STACK;
            h->nstack = n;
            off += n * 8;
        }
        if (off > SCRATCH_SIZE)
            off = SCRATCH_SIZE;
        h->size = off;
        off &= (SCRATCH_SIZE * 2 - 1);
        s->nrec++;
        u64 wake = !(s->nrec % WAKEUP_EVERY) ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
        int rc = events.ringbuf_output(&s->buf, off, wake);
        if (rc < 0) {
            u64 *l = lost.lookup(&zero);
            if (l)
                __sync_fetch_and_add(l, 1);
        }
    }
    if (d->flags & DF_SIGNAL) {
        // which probe stops this thread: written before the signal is sent
        u32 tid = (u32)bpf_get_current_pid_tgid();
        signals.update(&tid, &id);
        signal_ips.update(&tid, &ip);
        // SIGTRAP for a launched program; SIGURG for an attached one, which a Go program
        // ignores when no tracer is left to take it (dapgo killed)
        bpf_send_signal_thread(STOP_SIGNAL);
    }
    return 0;
}

// A data breakpoint of an attached program: a hardware breakpoint perf event (owned by
// dapgo's file descriptor, so the kernel removes it when dapgo dies) runs this after the
// watched write; it stops the thread with the harmless STOP_SIGNAL and says which address.
int dapgo_watch(struct bpf_perf_event_data *ctx) {
    u32 tid = (u32)bpf_get_current_pid_tgid();
    u32 id = WATCH_SIGNAL_ID;
    u64 addr = ctx->addr;
    signals.update(&tid, &id);
    signal_ips.update(&tid, &addr);
    bpf_send_signal_thread(STOP_SIGNAL);
    return 0;
}
