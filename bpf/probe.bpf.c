// dapgo's one BPF program for every trace probe, logpoint and in-kernel condition.
//
// Compiled once (bcc, at run time); every probe site runs the same code, driven by a
// descriptor in the `descs` hash map keyed by the probe's address. A descriptor says which
// values to read (register, SP-relative stack slot, or fixed address pieces; a chain of
// pointer dereferences; string/slice contents up to a cap), an optional condition (a tiny
// stack-machine program over those values), a hit condition, and what to do on a match:
// write one record to the `events` ring buffer, and/or stop the thread with SIGTRAP.
// A metric descriptor (mflags != 0) does none of that: it counts the hit, or measures a
// call's latency (entry to RET, per goroutine), into the `metrics` map under a key made
// of the probe id and, if asked, the goroutine id or one pprof label's value.
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
    u8 mflags;         // MF_COUNT / MF_LAT_BEGIN / MF_LAT_END, with MF_BY_GOID / MF_BY_LABEL
    u8 mkeylen;        // MF_BY_LABEL: the label key's length, and its bytes
    u16 pad3;
    u32 pad4;
    u8 mkey[MLABEL_LEN];
};

// A metric's key: probe id, what it measures, and what splits it
struct mkey {
    u32 id;
    u16 kind;          // MK_COUNT / MK_LATENCY
    u16 label_len;     // the label value's full length (its bytes are cut at MLABEL_LEN)
    u64 goid;          // MF_BY_GOID
    u8 label[MLABEL_LEN];
};

// hits (and, for latency, nanoseconds) under one key; hist[i]: durations in [2^i, 2^(i+1))
struct mval {
    u64 count;
    u64 sum;
    u64 max;
    u64 hist[HIST_BUCKETS];
};

struct skey {
    u64 goid;
    u32 id;
    u32 pad;
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
BPF_F_TABLE("hash", struct mkey, struct mval, metrics, MAX_METRIC_KEYS, BPF_F_NO_PREALLOC);
BPF_ARRAY(mzero, struct mval, 1);   // never written: the initial value of a new key
// when each goroutine entered each latency-measured function (an entry whose RET never
// comes, e.g. a panic, is overwritten by the next call or evicted)
BPF_TABLE("lru_hash", struct skey, u64, starts, MAX_STARTS);
BPF_ARRAY(mfull, u64, 1);           // metric hits not counted because the map was full

// The label `d->mkey` of the string header at `kaddr` (ptr, len) matches: copy the value
// of the string header at `vaddr` into k->label.
static __always_inline int label_match(struct desc *d, u64 kaddr, u64 vaddr, struct mkey *k) {
    u64 ks[2] = {};
    if (bpf_probe_read_user(ks, 16, (void *)kaddr) < 0 || ks[1] != d->mkeylen)
        return 0;
    u64 kb[MLABEL_LEN / 8] = {};
    u32 n = d->mkeylen;
    if (n > MLABEL_LEN)
        return 0;
    if (n && bpf_probe_read_user(kb, n, (void *)ks[0]) < 0)
        return 0;
    u64 diff = 0;
    #pragma unroll
    for (u32 w = 0; w < MLABEL_LEN / 8; w++)
        diff |= kb[w] ^ *(u64 *)&d->mkey[w * 8];
    if (diff)
        return 0;
    u64 vs[2] = {};
    if (bpf_probe_read_user(vs, 16, (void *)vaddr) < 0)
        return 1;
    u64 vn = vs[1];
    k->label_len = vn > 0xffff ? 0xffff : vn;
    if (vn > MLABEL_LEN)
        vn = MLABEL_LEN;
    if (vn)
        bpf_probe_read_user(k->label, vn, (void *)vs[0]);
    return 1;
}

// The value of pprof label `d->mkey` of goroutine g (nothing when it has none).
static __always_inline void read_label(struct desc *d, u64 g, struct mkey *k) {
#if LABELS_MODE != 0
    u64 lm = 0;
    if (!g || bpf_probe_read_user(&lm, 8, (void *)(g + G_LABELS_OFFSET)) < 0 || !lm)
        return;
#endif
#if LABELS_MODE == 1
    // labelMap{ []label } (Go 1.24+): a slice of {key, value string}
    u64 sl[2] = {};
    if (bpf_probe_read_user(sl, 16, (void *)(lm + LM_SLICE_OFF)) < 0)
        return;
    for (u32 i = 0; i < MAX_LABEL_SCAN; i++) {
        if (i >= sl[1])
            break;
        u64 e = sl[0] + i * LBL_SIZE;
        if (label_match(d, e + LBL_KEY_OFF, e + LBL_VAL_OFF, k))
            return;
    }
#elif LABELS_MODE == 2
    // labelMap map[string]string (Go <= 1.23): the first buckets of the hash map
    u64 h = 0;
    if (bpf_probe_read_user(&h, 8, (void *)lm) < 0 || !h)
        return;
    u8 b = 0;
    u64 buckets = 0;
    bpf_probe_read_user(&b, 1, (void *)(h + HM_B_OFF));
    bpf_probe_read_user(&buckets, 8, (void *)(h + HM_BUCKETS_OFF));
    u32 nb = b >= 2 ? 4 : 1u << b;
    for (u32 i = 0; i < 4; i++) {
        if (i >= nb || !buckets)
            break;
        u64 bk = buckets + i * BKT_SIZE;
        u8 top[8] = {};
        bpf_probe_read_user(top, 8, (void *)bk);
        for (u32 j = 0; j < 8; j++) {
            if (top[j] < MIN_TOP_HASH)
                continue;
            if (label_match(d, bk + BKT_KEYS_OFF + j * 16, bk + BKT_VALUES_OFF + j * 16, k))
                return;
        }
    }
#endif
}

static __always_inline u32 log2_u64(u64 v) {
    u32 r = 0;
    if (v >> 32) { v >>= 32; r += 32; }
    if (v >> 16) { v >>= 16; r += 16; }
    if (v >> 8) { v >>= 8; r += 8; }
    if (v >> 4) { v >>= 4; r += 4; }
    if (v >> 2) { v >>= 2; r += 2; }
    if (v >> 1) { r += 1; }
    return r;
}

static __always_inline int metric(struct pt_regs *ctx, struct desc *d) {
    // only what this metric needs: a plain count reads neither the clock nor the goroutine
    u8 mf = d->mflags;
    u64 g = ctx->r14;   // the goroutine, under Go's register ABI
    u64 goid = 0;
    if (g && (mf & (MF_LAT_BEGIN | MF_LAT_END | MF_BY_GOID)))
        bpf_probe_read_user(&goid, 8, (void *)(g + G_GOID_OFFSET));
    u64 dur = 0;
    // A goroutine's slot in `starts` is made once and then written in place: a lookup
    // takes no lock, an update or a delete does (and LRU list work); 0 means "no call".
    if (mf & MF_LAT_BEGIN) {
        struct skey sk = {.goid = goid, .id = d->id};
        u64 now = bpf_ktime_get_ns();
        u64 *slot = starts.lookup(&sk);
        if (slot)
            *slot = now;
        else
            starts.update(&sk, &now);
        return 0;
    }
    if (mf & MF_LAT_END) {
        struct skey sk = {.goid = goid, .id = d->id};
        u64 *t0 = starts.lookup(&sk);
        if (!t0 || !*t0)
            return 0;   // the call began before the probes (or this RET's call ended)
        dur = bpf_ktime_get_ns() - *t0;
        *t0 = 0;
    }
    struct mkey k = {};
    k.id = d->id;
    k.kind = (mf & MF_LAT_END) ? MK_LATENCY : MK_COUNT;
    if (mf & MF_BY_GOID)
        k.goid = goid;
    if (mf & MF_BY_LABEL)
        read_label(d, g, &k);
    struct mval *v = metrics.lookup(&k);
    if (!v) {
        u32 zero = 0;
        struct mval *z = mzero.lookup(&zero);
        if (!z)
            return 0;
        metrics.update(&k, z);   // fails only when another CPU made it first, or full
        v = metrics.lookup(&k);
        if (!v) {
            u64 *f = mfull.lookup(&zero);
            if (f)
                __sync_fetch_and_add(f, 1);
            return 0;
        }
    }
    __sync_fetch_and_add(&v->count, 1);
    if (k.kind == MK_LATENCY) {
        __sync_fetch_and_add(&v->sum, dur);
        __sync_fetch_and_add(&v->hist[log2_u64(dur) & (HIST_BUCKETS - 1)], 1);
        u64 m = v->max;
        for (u32 i = 0; i < 8; i++) {
            if (dur <= m)
                break;
            u64 old = __sync_val_compare_and_swap(&v->max, m, dur);
            if (old == m)
                break;
            m = old;
        }
    }
    return 0;
}

int dapgo_probe(struct pt_regs *ctx) {
    u64 ip = PT_REGS_IP(ctx) - IP_ADJUST;
    struct desc *d = descs.lookup(&ip);
    if (!d)
        return 0;
    if (d->mflags)
        return metric(ctx, d);
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
