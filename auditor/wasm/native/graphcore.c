/* The item graph's hot loops, compiled to WebAssembly: the edges of every function body
   from the (opcode, value) pairs the code pass kept, the data -> data pointer edges,
   the graph's CSR arrays, its dominator tree with retained sizes, and the reachability
   walks of `garbage` and `paths`.

   Freestanding C (no libc), built by scripts/build-native.sh with clang-16 into
   graphcore.wasm, which auditor/wasm/native/graph.py runs in wasmtime. Every function
   here is a transcription of the Python code it replaces (auditor/wasm/analysis/
   items.py, refs.py, dominators.py, reach.py, core.py), which stays as the fallback and
   as the reference the tests compare with (tests/test_native_graph.py): same answers,
   same orders.

   Memory: the loader asks `alloc` for every input buffer and writes into it; a call
   allocates its outputs and scratch with the same bump allocator (growing the memory as
   needed) and leaves pointers to its outputs in `result`. `reset` frees everything. A
   refused memory.grow makes a call return 0: the caller then uses the Python code.
   Inputs are checked before they index anything (an id out of range makes the call
   return 0), so no input can make a read or write stray. */

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef int i32;
typedef unsigned long long u64;
typedef long long i64;

#define VERSION 1u

extern u8 __heap_base;

static u32 heap_top;  /* next free byte (0: not set up) */
static u32 result[16];

__attribute__((export_name("version"))) u32 version(void) { return VERSION; }
__attribute__((export_name("result_ptr"))) u32 *result_ptr(void) { return result; }

__attribute__((export_name("reset"))) void reset(void) {
    heap_top = ((u32)(unsigned long)&__heap_base + 15u) & ~15u;
}

/* `n` bytes, 16-aligned, zeroed only if the memory is new (callers initialise what they
   read); 0 when the memory cannot grow. */
__attribute__((export_name("alloc"))) u32 alloc(u32 n) {
    if (!heap_top) reset();
    u64 end = (u64)heap_top + (((u64)n + 15u) & ~15ull);
    if (end > 0xFFFF0000ull) return 0;
    u64 have = (u64)__builtin_wasm_memory_size(0) << 16;
    if (end > have) {
        u64 pages = (end - have + 0xFFFFu) >> 16;
        u64 more = have >> 17;  /* grow by half again at least: few grow calls */
        if (more > pages && have + (more << 16) <= 0xFFFF0000ull &&
            __builtin_wasm_memory_grow(0, (unsigned long)more) != (unsigned long)-1) {
            pages = 0;
        }
        if (pages && __builtin_wasm_memory_grow(0, (unsigned long)pages) == (unsigned long)-1) return 0;
    }
    u32 at = heap_top;
    heap_top = (u32)end;
    return at;
}

#define NEW(type, count) ((type *)(unsigned long)alloc((u32)((u64)(count) * sizeof(type))))

/* the last k with starts[k] <= x (bisect_right - 1), or -1 */
static i32 place(const i64 *starts, u32 n, i64 x) {
    u32 lo = 0, hi = n;
    while (lo < hi) {
        u32 mid = lo + (hi - lo) / 2;
        if (starts[mid] <= x) lo = mid + 1; else hi = mid;
    }
    return (i32)lo - 1;
}

/* place() for many x in [lo, hi): a table of place(lo + (b << shift)) per bucket b
   (about four buckets per range), then a step or two forward. */
typedef struct {
    const i64 *starts;
    u32 n, shift;
    i64 lo;
    u32 *tab;
    u32 ntab;
} Index;

static int index_init(Index *ix, const i64 *starts, u32 n, i64 lo, i64 hi) {
    ix->starts = starts;
    ix->n = n;
    ix->lo = lo;
    ix->shift = 0;
    ix->tab = 0;
    ix->ntab = 0;
    if (!n || hi <= lo) return 1;
    u64 span = (u64)(hi - lo);
    while ((span >> ix->shift) > 4ull * n + 16) ix->shift++;
    ix->ntab = (u32)(span >> ix->shift) + 1;
    ix->tab = NEW(u32, ix->ntab);
    if (!ix->tab) return 0;
    u32 k = 0;
    for (u32 b = 0; b < ix->ntab; b++) {
        i64 x = lo + ((i64)b << ix->shift);
        while (k + 1 < n && starts[k + 1] <= x) k++;
        ix->tab[b] = k;  /* starts[0] = lo <= x */
    }
    return 1;
}

/* place(starts, n, x) for lo <= x < hi */
static inline i32 index_place(const Index *ix, i64 x) {
    u32 k = ix->tab[(u64)(x - ix->lo) >> ix->shift];
    while (k + 1 < ix->n && ix->starts[k + 1] <= x) k++;
    return (i32)k;
}

/* -- edges of the bodies (items.py `_edges_from_parse`) ------------------------------ */

/* Roles of an opcode in `flat` (the loader's ROLES, from refs.py's opcodes). */
enum { P_NONE, P_CALL, P_INDIRECT, P_REF_FUNC, P_GLOBAL, P_CONST, P_GROW, P_TABLE };
/* Edge kinds (items.py `Edge`). */
enum {
    E_CALL = 0, E_CALL_INDIRECT = 1, E_REF_FUNC = 2, E_GLOBAL_ACCESS = 7, E_DATA_REF = 8, E_DATA_POINTER = 14,
    E_TABLE_ACCESS = 15
};

typedef struct {
    i64 lo, hi;          /* data addresses: the signed constants in [lo, hi) */
    const u32 *flat;     /* opcode, value, opcode, value, ... */
    const u32 *starts;   /* per body: its first u32 in flat */
    u32 nflat, nbodies;
    u32 f0;              /* function index (= item id) of the first body */
    u32 nf, nt, ng, t0, gl0, d0;
    u32 full;            /* 1: globals and data addresses too */
    const u8 *roles;     /* 256 roles */
    const i64 *rstart, *rend;
    const u32 *rseg;
    u32 nranges;
    u32 nitems;          /* every target is below */
} BodyArgs;

/* Every body's edges as (source item, target << 4 | kind) pairs, in body order, and the
   data addresses each names (signed i32, body order, repeats kept). result: [0] pairs,
   [1] src, [2] keys, [3] per body flags (1: memory.grow), [4] addresses, [5] per-body
   address counts, [6] addresses written. */
__attribute__((export_name("body_edges"))) u32 body_edges(const BodyArgs *a) {
    u32 nb = a->nbodies, nflat = a->nflat & ~1u;
    u32 npairs_max = nflat / 2;
    u32 *src = NEW(u32, npairs_max + 1), *key = NEW(u32, npairs_max + 1);
    u8 *flags = NEW(u8, nb + 1);
    i32 *addr = NEW(i32, npairs_max + 1);
    u32 *acount = NEW(u32, nb + 1);
    /* a body's distinct edges: stamp[target] = body + 1 when `kinds[target]` holds the
       kinds it has of that target already */
    u32 ntargets = a->nitems;
    if (ntargets >= (1u << 28)) return 0;
    u32 *stamp = NEW(u32, ntargets);
    u16 *seen = NEW(u16, ntargets);
    if (!src || !key || !flags || !addr || !acount || !stamp || !seen) return 0;
    for (u32 t = 0; t < ntargets; t++) stamp[t] = 0;
    const u8 *roles = a->roles;
    u32 nf = a->nf, nt = a->nt, ng = a->ng, t0 = a->t0, gl0 = a->gl0, d0 = a->d0, full = a->full;
    i64 lo = a->lo, hi = a->hi;
    int consts = full && hi > lo;
    /* constants are in [lo, hi) = [lowest start, highest end) (the loader's window): the
       index covers it */
    Index ix;
    if (consts && a->nranges && a->rstart[0] == lo) {
        if (!index_init(&ix, a->rstart, a->nranges, lo, hi)) return 0;
    } else {
        ix.tab = 0;
    }
    u32 np = 0, na = 0;
    for (u32 k = 0; k < nb; k++) {
        u32 b0 = a->starts[k], b1 = k + 1 < nb ? a->starts[k + 1] : nflat;
        if (b1 > nflat) b1 = nflat;
        if (b0 > b1 || (b0 & 1)) return 0;
        u32 item = a->f0 + k;
        u8 fl = 0;
        u32 a0 = na;
        for (u32 p = b0; p + 1 < b1; p += 2) {
            u32 op = a->flat[p], v = a->flat[p + 1];
            u32 role = op < 256 ? roles[op] : P_NONE;
            u32 kk;
            switch (role) {
            case P_CALL:
                if (v >= nf) continue;
                kk = v << 4 | E_CALL;
                break;
            case P_INDIRECT:
                if (v >= nt) continue;
                kk = (t0 + v) << 4 | E_CALL_INDIRECT;
                break;
            case P_TABLE:
                if (v >= nt) continue;
                kk = (t0 + v) << 4 | E_TABLE_ACCESS;
                break;
            case P_REF_FUNC:
                if (v >= nf) continue;
                kk = v << 4 | E_REF_FUNC;
                break;
            case P_GLOBAL:
                if (!full || v >= ng) continue;
                kk = (gl0 + v) << 4 | E_GLOBAL_ACCESS;
                break;
            case P_CONST: {
                if (!consts) continue;
                i64 c = (i64)(i32)v;
                if (c < lo || c >= hi) continue;
                addr[na++] = (i32)c;
                i32 at = ix.tab ? index_place(&ix, c) : place(a->rstart, a->nranges, c);
                if (at < 0 || c >= a->rend[at]) continue;
                kk = (d0 + a->rseg[at]) << 4 | E_DATA_REF;
                break;
            }
            case P_GROW:
                fl |= 1;
                continue;
            default:
                continue;
            }
            u32 t = kk >> 4;
            u16 bit = (u16)(1u << (kk & 15));
            if (t >= ntargets) return 0;
            if (stamp[t] != k + 1) {
                stamp[t] = k + 1;
                seen[t] = 0;
            }
            if (seen[t] & bit) continue;  /* a body calls the same few functions many times */
            seen[t] |= bit;
            src[np] = item;
            key[np] = kk;
            np++;
        }
        flags[k] = fl;
        acount[k] = na - a0;
    }
    result[0] = np;
    result[1] = (u32)(unsigned long)src;
    result[2] = (u32)(unsigned long)key;
    result[3] = (u32)(unsigned long)flags;
    result[4] = (u32)(unsigned long)addr;
    result[5] = (u32)(unsigned long)acount;
    result[6] = na;
    return 1;
}

/* -- data -> data pointers (refs.py `data_pointers` + items.py's DATA_POINTER pairs) -- */

typedef struct {
    const u8 *bytes;     /* the data segments' bytes */
    const u32 *offset;   /* per range: where its segment's bytes start in `bytes` */
    const i64 *rstart, *rend;
    const u32 *rseg;
    u32 nranges, nbytes;
    u32 d0;
    u32 contiguous;
} PtrArgs;

/* For ranges that do not overlap (the loader checks): each aligned word of a range
   whose value is an address inside a range gives the pair (its segment, the value's
   segment) when the two differ. result: [0] pairs, [1] src, [2] keys (consecutive
   repeats dropped; the CSR pass drops the rest). */
__attribute__((export_name("pointer_edges"))) u32 pointer_edges(const PtrArgs *a) {
    u32 nr = a->nranges;
    if (!nr) { result[0] = 0; result[1] = result[2] = 0; return 1; }
    u64 words = a->nbytes / 4 + nr;
    u32 *src = NEW(u32, words + 1), *key = NEW(u32, words + 1);
    if (!src || !key) return 0;
    i64 lo = a->rstart[0], hi = a->rend[0];
    for (u32 k = 1; k < nr; k++) if (a->rend[k] > hi) hi = a->rend[k];
    Index ix;
    if (!index_init(&ix, a->rstart, nr, lo, hi)) return 0;
    u32 np = 0;
    u32 last_s = 0xFFFFFFFFu, last_t = 0xFFFFFFFFu;
    for (u32 k = 0; k < nr; k++) {
        i64 s = a->rstart[k], e = a->rend[k];
        i64 first = (s + 3) & ~3ll, last = e & ~3ll;
        if (last <= first) continue;
        u64 off = (u64)a->offset[k] + (u64)(first - s);
        if (off + (u64)(last - first) > a->nbytes) return 0;
        const u8 *p = a->bytes + off;
        u32 sa = a->rseg[k];
        for (i64 w = first; w < last; w += 4, p += 4) {
            u32 v = (u32)p[0] | (u32)p[1] << 8 | (u32)p[2] << 16 | (u32)p[3] << 24;
            if ((i64)v < lo || (i64)v >= hi) continue;
            if ((i64)v >= s && (i64)v < e) continue;  /* into its own segment */
            i32 j = index_place(&ix, (i64)v);
            if (!a->contiguous && (i64)v >= a->rend[j]) continue;
            u32 sb = a->rseg[j];
            if (sb == sa) continue;
            if (sa == last_s && sb == last_t) continue;
            last_s = sa;
            last_t = sb;
            src[np] = a->d0 + sa;
            key[np] = (a->d0 + sb) << 4 | E_DATA_POINTER;
            np++;
        }
    }
    result[0] = np;
    result[1] = (u32)(unsigned long)src;
    result[2] = (u32)(unsigned long)key;
    return 1;
}

/* -- CSR (items.py: per item, sorted(set(keys))) ------------------------------------- */

typedef struct {
    u32 n;               /* items */
    u32 nlists;          /* (src, key, count) lists */
    const u32 *const *srcs;
    const u32 *const *keys;
    const u32 *counts;
} CsrArgs;

/* One stable counting-sort pass of (src, key) pairs by kind (0), target (1) or source (2). */
static void count_pass(const u32 *si, const u32 *ki, u32 *so, u32 *ko, u32 m, u32 *cnt, u32 nb, int by) {
    for (u32 b = 0; b <= nb; b++) cnt[b] = 0;
    for (u32 e = 0; e < m; e++) {
        u32 b = by == 0 ? (ki[e] & 15) : by == 1 ? (ki[e] >> 4) : si[e];
        cnt[b + 1]++;
    }
    for (u32 b = 0; b < nb; b++) cnt[b + 1] += cnt[b];
    for (u32 e = 0; e < m; e++) {
        u32 b = by == 0 ? (ki[e] & 15) : by == 1 ? (ki[e] >> 4) : si[e];
        u32 at = cnt[b]++;
        so[at] = si[e];
        ko[at] = ki[e];
    }
}

/* The edges of every list, per source item sorted by key (target, then kind) without
   repeats: three stable counting sorts (kind, target, source), O(edges + items).
   result: [0] edges, [1] starts (n + 1), [2] targets, [3] kinds (u8). */
__attribute__((export_name("csr"))) u32 csr(const CsrArgs *a) {
    u32 n = a->n;
    if (n >= (1u << 28)) return 0;
    u64 total = 0;
    for (u32 l = 0; l < a->nlists; l++) total += a->counts[l];
    if (total >= 0xFFFFFFFFull / 16) return 0;
    u32 m = (u32)total;
    u32 *s0 = NEW(u32, m + 1), *k0 = NEW(u32, m + 1), *s1 = NEW(u32, m + 1), *k1 = NEW(u32, m + 1);
    u32 *cnt = NEW(u32, n + 17);
    u32 *starts = NEW(u32, n + 1);
    if (!s0 || !k0 || !s1 || !k1 || !cnt || !starts) return 0;
    u32 at = 0;
    for (u32 l = 0; l < a->nlists; l++) {
        const u32 *s = a->srcs[l], *k = a->keys[l];
        for (u32 e = 0; e < a->counts[l]; e++) {
            if (s[e] >= n || (k[e] >> 4) >= n) return 0;
            s0[at] = s[e];
            k0[at] = k[e];
            at++;
        }
    }
    count_pass(s0, k0, s1, k1, m, cnt, 16, 0);
    count_pass(s1, k1, s0, k0, m, cnt, n, 1);
    count_pass(s0, k0, s1, k1, m, cnt, n, 2);
    u32 *targets = NEW(u32, m + 1);
    u8 *kinds = NEW(u8, m + 1);
    if (!targets || !kinds) return 0;
    u32 out = 0, e = 0;
    for (u32 i = 0; i < n; i++) {
        starts[i] = out;
        u32 first = out;
        for (; e < m && s1[e] == i; e++) {
            if (out > first && k1[e] == k1[e - 1]) continue;
            targets[out] = k1[e] >> 4;
            kinds[out] = (u8)(k1[e] & 15);
            out++;
        }
    }
    starts[n] = out;
    result[0] = out;
    result[1] = (u32)(unsigned long)starts;
    result[2] = (u32)(unsigned long)targets;
    result[3] = (u32)(unsigned long)kinds;
    return 1;
}

/* -- dominators (dominators.py) ------------------------------------------------------ */

typedef struct {
    u32 n;
    const u32 *starts;   /* n + 1 */
    const u32 *targets;
    const u32 *roots;
    u32 nroots;
    const u64 *sizes;    /* n */
} GraphArgs;

static i32 *g_ancestor, *g_label, *g_semi, *g_path;

/* dominators.py `evaluate`: compress the forest path from x up to its tree root */
static i32 evaluate(i32 x) {
    i32 *ancestor = g_ancestor, *label = g_label, *semi = g_semi, *path = g_path;
    u32 depth = 0;
    i32 y = x;
    while (ancestor[ancestor[y]] >= 0) {
        path[depth++] = y;
        y = ancestor[y];
    }
    while (depth) {
        y = path[--depth];
        i32 p = ancestor[y];
        if (semi[label[p]] < semi[label[y]]) label[y] = label[p];
        ancestor[y] = ancestor[p];
    }
    return label[x];
}

static int check_graph(const GraphArgs *a) {
    u32 n = a->n;
    if (n >= 0x7FFFFFF0u || a->starts[0] != 0) return 0;
    for (u32 v = 0; v < n; v++) if (a->starts[v + 1] < a->starts[v]) return 0;
    u32 m = a->starts[n];
    for (u32 e = 0; e < m; e++) if (a->targets[e] >= n) return 0;
    for (u32 r = 0; r < a->nroots; r++) if (a->roots[r] >= n) return 0;
    return 1;
}

/* Lengauer-Tarjan over a DFS from the super-root (node n) whose successors are the roots
   in their order, the DFS taking each node's successors in order (so `order` is the
   Python version's preorder). result: [0] DFS count (super-root included), [1] idom
   (i32 per node: -1 unreachable, n: only the super-root), [2] retained (i64 per node),
   [3] order (i32, count - 1), [4] [5] reachable bytes (low, high). */
__attribute__((export_name("dominators"))) u32 dominators(const GraphArgs *a) {
    if (!check_graph(a)) return 0;
    u32 n = a->n;
    const u32 *start = a->starts, *succ = a->targets;
    u32 m = start[n];
    i32 *dfnum = NEW(i32, n + 1);
    u32 *vertex = NEW(u32, n + 1);
    i32 *parent = NEW(i32, n + 1);
    u32 *stack_v = NEW(u32, n + 1), *stack_e = NEW(u32, n + 1);
    if (!dfnum || !vertex || !parent || !stack_v || !stack_e) return 0;
    for (u32 v = 0; v < n; v++) dfnum[v] = -1;
    u32 count = 1;
    vertex[0] = n;
    parent[0] = -1;
    for (u32 r = 0; r < a->nroots; r++) {
        u32 root = a->roots[r];
        if (dfnum[root] >= 0) continue;
        dfnum[root] = (i32)count;
        vertex[count] = root;
        parent[count] = 0;
        count++;
        u32 sp = 0;
        stack_v[sp] = root;
        stack_e[sp] = start[root];
        sp++;
        while (sp) {
            u32 v = stack_v[sp - 1];
            u32 e = stack_e[sp - 1], end = start[v + 1];
            int pushed = 0;
            while (e < end) {
                u32 w = succ[e++];
                if (dfnum[w] < 0) {
                    dfnum[w] = (i32)count;
                    vertex[count] = w;
                    parent[count] = dfnum[v];
                    count++;
                    stack_e[sp - 1] = e;
                    stack_v[sp] = w;
                    stack_e[sp] = start[w];
                    sp++;
                    pushed = 1;
                    break;
                }
            }
            if (!pushed) sp--;
        }
    }
    /* predecessors by DFS number: every edge of a reachable node, and the super-root
       once per distinct root */
    u32 *pstart = NEW(u32, count + 2);
    if (!pstart) return 0;
    for (u32 i = 0; i <= count + 1; i++) pstart[i] = 0;
    u64 npred = 0;
    for (u32 i = 1; i < count; i++) {
        u32 v = vertex[i];
        for (u32 e = start[v]; e < start[v + 1]; e++) pstart[dfnum[succ[e]] + 1]++;
        npred += start[v + 1] - start[v];
    }
    u8 *rooted = NEW(u8, count);
    if (!rooted) return 0;
    for (u32 i = 0; i < count; i++) rooted[i] = 0;
    for (u32 r = 0; r < a->nroots; r++) {
        i32 d = dfnum[a->roots[r]];
        if (!rooted[d]) { rooted[d] = 1; pstart[d + 1]++; npred++; }
    }
    (void)m;
    for (u32 i = 0; i < count; i++) pstart[i + 1] += pstart[i];
    i32 *preds = NEW(i32, npred + 1);
    if (!preds) return 0;
    for (u32 i = 1; i < count; i++) {
        if (rooted[i]) preds[pstart[i]++] = 0;
    }
    for (u32 i = 1; i < count; i++) {
        u32 v = vertex[i];
        for (u32 e = start[v]; e < start[v + 1]; e++) preds[pstart[dfnum[succ[e]]]++] = (i32)i;
    }
    for (u32 i = count; i > 0; i--) pstart[i] = pstart[i - 1];
    pstart[0] = 0;
    /* Lengauer-Tarjan, simple version (dominators.py, line by line) */
    i32 *semi = NEW(i32, count), *label = NEW(i32, count), *ancestor = NEW(i32, count + 1);
    i32 *idom = NEW(i32, count), *bhead = NEW(i32, count), *bnext = NEW(i32, count), *path = NEW(i32, count + 1);
    if (!semi || !label || !ancestor || !idom || !bhead || !bnext || !path) return 0;
    /* ancestor[-1] is read as "no ancestor" through a shifted base: ancestor_[0] = -1 */
    ancestor[0] = -1;
    ancestor += 1;
    for (u32 i = 0; i < count; i++) {
        semi[i] = label[i] = (i32)i;
        ancestor[i] = -1;
        idom[i] = 0;
        bhead[i] = bnext[i] = -1;
    }
    g_ancestor = ancestor;
    g_label = label;
    g_semi = semi;
    g_path = path;
    for (i32 i = (i32)count - 1; i > 0; i--) {
        i32 s = i;
        for (u32 e = pstart[i]; e < pstart[i + 1]; e++) {
            i32 v = preds[e];
            if (v < i) {
                if (v < s) s = v;
            } else if (ancestor[v] < 0) {
                if (semi[v] < s) s = semi[v];
            } else {
                i32 u = ancestor[ancestor[v]] >= 0 ? evaluate(v) : label[v];
                if (semi[u] < s) s = semi[u];
            }
        }
        semi[i] = s;
        bnext[i] = bhead[s];
        bhead[s] = i;
        i32 p = parent[i];
        ancestor[i] = p;
        i32 v = bhead[p];
        bhead[p] = -1;
        while (v >= 0) {
            i32 u;
            if (ancestor[v] < 0) u = v;
            else if (ancestor[ancestor[v]] >= 0) u = evaluate(v);
            else u = label[v];
            idom[v] = semi[u] < semi[v] ? u : p;
            v = bnext[v];
        }
    }
    for (u32 i = 1; i < count; i++)
        if (idom[i] != semi[i]) idom[i] = idom[idom[i]];
    /* back to node space; retained sizes bottom-up in reverse preorder */
    i64 *ret = NEW(i64, count);
    i32 *node_idom = NEW(i32, n + 1);
    i64 *retained = NEW(i64, n + 1);
    i32 *order = NEW(i32, count);
    if (!ret || !node_idom || !retained || !order) return 0;
    ret[0] = 0;
    for (u32 i = 1; i < count; i++) ret[i] = (i64)a->sizes[vertex[i]];
    for (u32 i = count - 1; i > 0; i--) ret[idom[i]] += ret[i];
    for (u32 v = 0; v < n; v++) {
        node_idom[v] = -1;
        retained[v] = (i64)a->sizes[v];
    }
    for (u32 i = 1; i < count; i++) {
        u32 v = vertex[i];
        node_idom[v] = (i32)vertex[idom[i]];
        retained[v] = ret[i];
        order[i - 1] = (i32)v;
    }
    result[0] = count;
    result[1] = (u32)(unsigned long)node_idom;
    result[2] = (u32)(unsigned long)retained;
    result[3] = (u32)(unsigned long)order;
    result[4] = (u32)((u64)ret[0] & 0xFFFFFFFFu);
    result[5] = (u32)((u64)ret[0] >> 32);
    return 1;
}

/* -- reachability (core.py `reachable`, reach.py `bfs`) ------------------------------ */

/* A 0/1 mark per node: reachable from the roots. result: [1] marks (u8 per node). */
__attribute__((export_name("reachable"))) u32 reachable(const GraphArgs *a) {
    if (!check_graph(a)) return 0;
    u32 n = a->n;
    u8 *seen = NEW(u8, n + 1);
    u32 *todo = NEW(u32, n + 1);
    if (!seen || !todo) return 0;
    for (u32 v = 0; v < n; v++) seen[v] = 0;
    u32 sp = 0;
    for (u32 r = 0; r < a->nroots; r++) {
        u32 root = a->roots[r];
        if (!seen[root]) { seen[root] = 1; todo[sp++] = root; }
    }
    while (sp) {
        u32 v = todo[--sp];
        for (u32 e = a->starts[v]; e < a->starts[v + 1]; e++) {
            u32 w = a->targets[e];
            if (!seen[w]) { seen[w] = 1; todo[sp++] = w; }
        }
    }
    result[1] = (u32)(unsigned long)seen;
    return 1;
}

/* Breadth-first from the roots (given sorted, without repeats): distance and a parent
   on a shortest path, -1 for roots' parents and unreachable nodes. result: [1] dist,
   [2] parent (i32 per node). */
__attribute__((export_name("bfs"))) u32 bfs(const GraphArgs *a) {
    if (!check_graph(a)) return 0;
    u32 n = a->n;
    i32 *dist = NEW(i32, n + 1), *parent = NEW(i32, n + 1);
    u32 *queue = NEW(u32, n + 1);
    if (!dist || !parent || !queue) return 0;
    for (u32 v = 0; v < n; v++) dist[v] = parent[v] = -1;
    u32 head = 0, tail = 0;
    for (u32 r = 0; r < a->nroots; r++) {
        u32 root = a->roots[r];
        if (dist[root] < 0) { dist[root] = 0; queue[tail++] = root; }
    }
    /* one queue in level order = the Python version's frontier lists one after another */
    while (head < tail) {
        u32 v = queue[head++];
        i32 d = dist[v] + 1;
        for (u32 e = a->starts[v]; e < a->starts[v + 1]; e++) {
            u32 w = a->targets[e];
            if (dist[w] < 0) {
                dist[w] = d;
                parent[w] = (i32)v;
                queue[tail++] = w;
            }
        }
    }
    result[1] = (u32)(unsigned long)dist;
    result[2] = (u32)(unsigned long)parent;
    return 1;
}
