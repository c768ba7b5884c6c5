/* The code-section pass of auditor's wasm reader, compiled to WebAssembly.

   Freestanding C (no libc), built by scripts/build-native.sh with clang-16 into
   codescan.wasm, which auditor/wasm/native/__init__.py runs in wasmtime. It does what
   auditor/wasm/parse.py::_read_code and opcodes.check_body do for every function body:
   read the body's size, its local declarations and every instruction (immediates
   exactly as the Reader checks them, block nesting, the datacount rule, the function's
   `end` as its last byte), and keep the references the item graph needs (`ParsedRefs`).

   It knows no opcode. What each instruction's immediates are, which instructions open,
   continue or close a block, which need a datacount section and which are references
   is a table the loader builds from rules/wasm_opcodes.toml and rules/wasm_types.toml
   (the same tables opcodes.py reads) and writes into memory before the first scan.
   This file knows only the immediate *kinds* (how a u32, a memarg, a block type... is
   encoded) and the roles.

   It never reports why a body is malformed: it stops before the first body it does not
   vouch for, and the Python pass reads that body (and says what is wrong, where, in the
   one wording the reader has). Every loop advances the position or stops, so a scan is
   linear in the section's size; out-of-range reads are impossible because every read
   is checked against the body's end first. */

typedef unsigned char u8;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef long long i64;

/* Immediate kinds: the loader's NATIVE_KINDS, in this order, from 1. */
enum {
    K_NONE, K_U32, K_I32, K_I64, K_F32, K_F64, K_V128, K_SHUFFLE, K_LANE, K_MEMARG,
    K_BLOCKTYPE, K_HEAPTYPE, K_CASTFLAGS, K_ZERO, K_VALTYPES, K_LABELS, K_TRYTABLE
};

/* Roles in the block structure: the loader's NATIVE_ROLES, in this order, from 1. */
enum { R_NONE, R_OPEN, R_OPEN_IF, R_OPEN_TRY, R_ELSE, R_CATCH, R_CATCH_ALL, R_DELEGATE, R_END, R_DATACOUNT };

/* References kept: the loader's NATIVE_REFS, in this order, from 1. */
enum { F_NONE, F_FIRST, F_SECOND, F_FULL_FIRST, F_FULL_CONST, F_BOTH };

/* Frame states (what the innermost open block is now). */
enum { S_OTHER, S_IF, S_TRY, S_TRY_CATCH, S_CATCH_ALL };

/* Entry.valid */
enum { E_ILLEGAL, E_OP, E_PREFIX };

/* Type classes (bits of Tables.tclass). */
enum { T_VALTYPE = 1, T_HEAPTYPE = 2, T_REFTYPE = 4, T_EXACT = 8 };

typedef struct {
    u8 imm[4];  /* immediate kinds, K_NONE after the last */
    u8 role;
    u8 ref;
    u8 valid;
    u8 pad;
} Entry;

typedef struct {
    u32 version;
    u32 nprefixed;
    Entry single[256];
    u32 pfirst[256];       /* first entry in prefixed[] of a prefix byte's sub-opcodes */
    u32 pcount[256];       /* how many sub-opcodes (the highest + 1) */
    u8 tclass[256];        /* type classes of a byte */
    u8 catch_arity[256];   /* try_table catch clause kind -> how many u32s; 0xff: none */
    Entry prefixed[];
} Tables;

#define TABLES_VERSION 1u

static const Tables *T;

#define MAX_DEPTH 65536
static u8 frames[MAX_DEPTH];

/* What one scan() call left: [0] bodies vouched for, [1] u32s written to flat. */
static u32 result[2];

__attribute__((export_name("tables_version"))) u32 tables_version(void) { return TABLES_VERSION; }

/* Per one-byte opcode, the shapes with a short path in scan_body (derived from the
   table at init, so still no opcode here): */
enum {
    Q_GENERIC, Q_BARE, Q_U32, Q_MEMARG,
    Q_I64,       /* one s64, nothing else (i64.const) */
    Q_CONST,     /* one s32 kept when in the window (i32.const) */
    Q_REF_U32,   /* one u32 kept (call, return_call, ref.func, memory.grow) */
    Q_FULL_U32,  /* one u32 kept with full refs (global.get, global.set) */
    Q_END,       /* closes a block, or the body */
    Q_OPEN       /* a block type, opens a plain block (block, loop) */
};
static u8 quick[256];

__attribute__((export_name("init"))) u32 init(const Tables *tables) {
    if (tables->version != TABLES_VERSION) return 0;
    T = tables;
    for (int b = 0; b < 256; b++) {
        const Entry *en = &tables->single[b];
        quick[b] = Q_GENERIC;
        if (en->valid != E_OP || en->imm[1] != K_NONE) continue;
        u8 imm = en->imm[0];
        if (en->role == R_NONE && en->ref == F_NONE) {
            if (imm == K_NONE) quick[b] = Q_BARE;
            else if (imm == K_U32) quick[b] = Q_U32;
            else if (imm == K_MEMARG) quick[b] = Q_MEMARG;
            else if (imm == K_I64) quick[b] = Q_I64;
        } else if (en->role == R_NONE) {
            if (en->ref == F_FULL_CONST && imm == K_I32) quick[b] = Q_CONST;
            else if (en->ref == F_FIRST && imm == K_U32) quick[b] = Q_REF_U32;
            else if (en->ref == F_FULL_FIRST && imm == K_U32) quick[b] = Q_FULL_U32;
        } else if (en->ref == F_NONE) {
            if (en->role == R_END && imm == K_NONE) quick[b] = Q_END;
            else if (en->role == R_OPEN && imm == K_BLOCKTYPE) quick[b] = Q_OPEN;
        }
    }
    return 1;
}

__attribute__((export_name("result_ptr"))) u32 *result_ptr(void) { return result; }

/* -- LEB128, as auditor/wasm/reader.py reads them ----------------------------------- */

static inline int rd_u32(const u8 **pp, const u8 *e, u32 *out) {
    const u8 *p = *pp;
    if (p < e && *p < 0x80) {  /* one byte: most indices, offsets and alignments */
        *out = *p;
        *pp = p + 1;
        return 1;
    }
    u32 v = 0;
    for (int i = 0; i < 5; i++) {
        if (p >= e) return 0;
        u8 b = *p++;
        v |= (u32)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (i == 4 && (b >> 4)) return 0;  /* unused bits set */
            *pp = p;
            *out = v;
            return 1;
        }
    }
    return 0;  /* longer than 5 bytes */
}

static inline int rd_u64(const u8 **pp, const u8 *e) {
    const u8 *p = *pp;
    if (p < e && *p < 0x80) {
        *pp = p + 1;
        return 1;
    }
    for (int i = 0; i < 10; i++) {
        if (p >= e) return 0;
        u8 b = *p++;
        if (!(b & 0x80)) {
            if (i == 9 && (b >> 1)) return 0;
            *pp = p;
            return 1;
        }
    }
    return 0;
}

/* A signed LEB128 of `bits` bits (32, 33 or 64): at most ceil(bits/7) bytes, the unused
   high bits of the last byte equal to the sign bit. */
static inline int rd_sleb(const u8 **pp, const u8 *e, int bits, i64 *out) {
    const u8 *p = *pp;
    int max_bytes = (bits + 6) / 7;
    u64 v = 0;
    int shift = 0;
    for (int i = 0; i < max_bytes; i++) {
        if (p >= e) return 0;
        u8 b = *p++;
        v |= (u64)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80)) {
            if (i == max_bytes - 1) {
                int used = bits - 7 * i;
                if (used < 7) {
                    u8 high = b >> (used - 1);
                    if (high != 0 && high != (0x7f >> (used - 1))) return 0;
                }
            }
            if ((b & 0x40) && shift < 64) v -= (u64)1 << shift;
            *pp = p;
            *out = (i64)v;
            return 1;
        }
    }
    return 0;
}

/* -- types -------------------------------------------------------------------------- */

static int rd_heaptype(const u8 **pp, const u8 *e) {
    const u8 *p = *pp;
    if (p >= e) return 0;
    u8 b = *p;
    u8 c = T->tclass[b];
    if (c & T_HEAPTYPE) { *pp = p + 1; return 1; }
    if (c & T_EXACT) { u32 idx; p++; if (!rd_u32(&p, e, &idx)) return 0; *pp = p; return 1; }
    if (b < 0x40 || b >= 0x80) {  /* a type index: a non-negative s33 */
        i64 idx;
        if (!rd_sleb(&p, e, 33, &idx) || idx < 0) return 0;
        *pp = p;
        return 1;
    }
    return 0;
}

static int rd_valtype(const u8 **pp, const u8 *e) {
    const u8 *p = *pp;
    if (p >= e) return 0;
    u8 c = T->tclass[*p];
    if (c & (T_VALTYPE | T_HEAPTYPE)) { *pp = p + 1; return 1; }
    if (c & T_REFTYPE) { p++; if (!rd_heaptype(&p, e)) return 0; *pp = p; return 1; }
    return 0;
}

static int rd_blocktype(const u8 **pp, const u8 *e) {
    const u8 *p = *pp;
    if (p >= e) return 0;
    u8 b = *p;
    if (b == 0x40) { *pp = p + 1; return 1; }
    if (b > 0x40 && b < 0x80) return rd_valtype(pp, e);
    i64 idx;
    if (!rd_sleb(&p, e, 33, &idx) || idx < 0) return 0;
    *pp = p;
    return 1;
}

/* A vector length that the bytes left can hold at `min` bytes per item (Reader.count). */
static inline int rd_count(const u8 **pp, const u8 *e, u32 min, u32 *n) {
    if (!rd_u32(pp, e, n)) return 0;
    return (u64)*n * min <= (u64)(e - *pp);
}

/* -- one body ----------------------------------------------------------------------- */

typedef struct {
    u32 *flat;       /* where the next (opcode, value) pair goes */
    int full;        /* keep globals and the i32.consts in [lo, hi) too */
    int datacount;   /* the module has a datacount section */
    i64 lo, hi;
} Ctx;

/* 1: the instructions in [p, e) are well-formed and the function's `end` is the last
   byte; 0: the Python pass must say why (or decide: nesting deeper than MAX_DEPTH). */
static int scan_body(Ctx *cx, const u8 *p, const u8 *e) {
    const Tables *t = T;
    u32 *flat = cx->flat;
    u32 depth = 0;
    while (p < e) {
        u32 code = *p++;
        u32 q = quick[code];
        /* the two commonest shapes (local.get/set/tee, br_if; arithmetic) before the
           jump table: a compare the branch predictor learns better than the table */
        if (q == Q_U32 && p < e && *p < 0x80) { p++; continue; }
        if (q == Q_BARE) continue;
        switch (q) {  /* no role, no reference: only the immediates to check */
        case Q_BARE:
            continue;
        case Q_U32:
            if (p < e && *p < 0x80) { p++; continue; }
            { u32 u; if (!rd_u32(&p, e, &u)) return 0; }
            continue;
        case Q_MEMARG:
            if (e - p >= 2 && p[0] < 0x40 && p[1] < 0x80) { p += 2; continue; }
            if (p < e && p[0] < 0x40) {  /* a one-byte alignment (no memory index), any offset */
                p++;
                if (!rd_u64(&p, e)) return 0;
                continue;
            }
            break;  /* the generic path reads it */
        case Q_I64: {
            if (p < e && *p < 0x80) { p++; continue; }
            i64 s;
            if (!rd_sleb(&p, e, 64, &s)) return 0;
            continue;
        }
        case Q_CONST: {
            i64 s;
            if (p < e && *p < 0x80) { s = (*p & 0x40) ? (i64)*p - 128 : (i64)*p; p++; }
            else if (!rd_sleb(&p, e, 32, &s)) return 0;
            if (cx->full && cx->lo <= s && s < cx->hi) { *flat++ = code; *flat++ = (u32)s; }
            continue;
        }
        case Q_REF_U32: {
            u32 u;
            if (!rd_u32(&p, e, &u)) return 0;
            *flat++ = code;
            *flat++ = u;
            continue;
        }
        case Q_FULL_U32: {
            u32 u;
            if (!rd_u32(&p, e, &u)) return 0;
            if (cx->full) { *flat++ = code; *flat++ = u; }
            continue;
        }
        case Q_END:
            if (depth == 0) {
                cx->flat = flat;
                return p == e;  /* the function's own end must be the last byte */
            }
            depth--;
            continue;
        case Q_OPEN:
            /* empty, or a one-byte value type (what rd_blocktype then rd_valtype accept) */
            if (p < e && (*p == 0x40 || (*p > 0x40 && *p < 0x80 && (t->tclass[*p] & (T_VALTYPE | T_HEAPTYPE))))) p++;
            else if (!rd_blocktype(&p, e)) return 0;
            if (depth >= MAX_DEPTH) return 0;
            frames[depth++] = S_OTHER;
            continue;
        default:
            break;
        }
        const Entry *en = &t->single[code];
        u32 first = code;  /* a pair's opcode: the first byte (a prefixed reference's prefix) */
        if (en->valid != E_OP) {
            if (en->valid != E_PREFIX) return 0;
            u32 sub;
            if (!rd_u32(&p, e, &sub) || sub >= t->pcount[code]) return 0;
            en = &t->prefixed[t->pfirst[code] + sub];
            if (en->valid != E_OP) return 0;
            code = code << 16 | sub;
        }
        i64 values[2] = {0, 0};
        for (int k = 0; k < 4; k++) {
            u8 kind = en->imm[k];
            if (kind == K_NONE) break;
            u32 u;
            i64 s;
            u32 n;
            switch (kind) {
            case K_U32:
                if (!rd_u32(&p, e, &u)) return 0;
                if (k < 2) values[k] = u;
                break;
            case K_I32:
                if (!rd_sleb(&p, e, 32, &s)) return 0;
                if (k < 2) values[k] = s;
                break;
            case K_I64:
                if (!rd_sleb(&p, e, 64, &s)) return 0;
                break;
            case K_F32:
                if (e - p < 4) return 0;
                p += 4;
                break;
            case K_F64:
                if (e - p < 8) return 0;
                p += 8;
                break;
            case K_V128:
            case K_SHUFFLE:
                if (e - p < 16) return 0;
                p += 16;
                break;
            case K_LANE:
                if (e - p < 1) return 0;
                p += 1;
                break;
            case K_MEMARG:
                if (!rd_u32(&p, e, &u) || u >= 0x80) return 0;
                if (u & 0x40) { if (!rd_u32(&p, e, &n)) return 0; }
                if (!rd_u64(&p, e)) return 0;
                break;
            case K_BLOCKTYPE:
                if (!rd_blocktype(&p, e)) return 0;
                break;
            case K_HEAPTYPE:
                if (!rd_heaptype(&p, e)) return 0;
                break;
            case K_CASTFLAGS:
                if (p >= e || *p > 3) return 0;
                p++;
                break;
            case K_ZERO:
                if (p >= e || *p != 0) return 0;
                p++;
                break;
            case K_VALTYPES:
                if (!rd_count(&p, e, 1, &n)) return 0;
                while (n--) if (!rd_valtype(&p, e)) return 0;
                break;
            case K_LABELS:
                if (!rd_count(&p, e, 1, &n)) return 0;
                for (u64 j = 0; j <= n; j++) if (!rd_u32(&p, e, &u)) return 0;
                break;
            case K_TRYTABLE:
                if (!rd_blocktype(&p, e)) return 0;
                if (!rd_count(&p, e, 2, &n)) return 0;
                while (n--) {
                    if (p >= e) return 0;
                    u8 arity = t->catch_arity[*p++];
                    if (arity == 0xff) return 0;
                    while (arity--) if (!rd_u32(&p, e, &u)) return 0;
                }
                break;
            default:
                return 0;
            }
        }
        switch (en->ref) {
        case F_NONE:
            break;
        case F_FIRST:
            *flat++ = first;
            *flat++ = (u32)values[0];
            break;
        case F_SECOND:
            *flat++ = first;
            *flat++ = (u32)values[1];
            break;
        case F_BOTH:  /* two pairs: table.copy's destination, then its source */
            *flat++ = first;
            *flat++ = (u32)values[0];
            *flat++ = first;
            *flat++ = (u32)values[1];
            break;
        case F_FULL_FIRST:
            if (cx->full) { *flat++ = first; *flat++ = (u32)values[0]; }
            break;
        case F_FULL_CONST:
            if (cx->full && cx->lo <= values[0] && values[0] < cx->hi) { *flat++ = first; *flat++ = (u32)values[0]; }
            break;
        }
        switch (en->role) {
        case R_NONE:
            break;
        case R_END:
            if (depth == 0) {
                cx->flat = flat;
                return p == e;  /* the function's own end must be the last byte */
            }
            depth--;
            break;
        case R_OPEN:
        case R_OPEN_IF:
        case R_OPEN_TRY:
            if (depth >= MAX_DEPTH) return 0;
            frames[depth++] = en->role == R_OPEN_IF ? S_IF : en->role == R_OPEN_TRY ? S_TRY : S_OTHER;
            break;
        case R_ELSE:
            if (depth == 0 || frames[depth - 1] != S_IF) return 0;
            frames[depth - 1] = S_OTHER;
            break;
        case R_CATCH:
        case R_CATCH_ALL:
            if (depth == 0 || (frames[depth - 1] != S_TRY && frames[depth - 1] != S_TRY_CATCH)) return 0;
            frames[depth - 1] = en->role == R_CATCH_ALL ? S_CATCH_ALL : S_TRY_CATCH;
            break;
        case R_DELEGATE:
            if (depth == 0 || frames[depth - 1] != S_TRY) return 0;
            depth--;
            break;
        case R_DATACOUNT:
            if (!cx->datacount) return 0;
            break;
        default:
            return 0;
        }
    }
    return 0;  /* no final `end` */
}

/* Local declarations (parse.read_locals): groups of (count, value type), fewer than
   2**32 locals in all. Returns the first instruction, or 0. */
static const u8 *scan_locals(const u8 *p, const u8 *e) {
    u32 groups, n;
    u64 total = 0;
    if (!rd_count(&p, e, 2, &groups)) return 0;
    while (groups--) {
        if (!rd_u32(&p, e, &n)) return 0;
        total += n;
        if (!rd_valtype(&p, e)) return 0;
    }
    if (total > 0xffffffffull) return 0;
    return p;
}

/* -- the section -------------------------------------------------------------------- */

/* Read up to `n` bodies from `code` (section bytes [code, code + len), the first body
   at `code + pos`). For body k: recs[4k..4k+3] = its offset in the file (`file_base` is
   the file offset of `code`), the offset of its locals, its size, and how many u32s
   `flat` held before it. Stops before the first body it does not vouch for; returns
   how many it read, and result[1] says how many u32s it wrote to `flat`. The arguments
   come as one struct in memory: a call from Python converts each argument at a cost. */
typedef struct {
    const u8 *code;
    u32 len, pos, n, file_base;
    u32 *recs, *flat;
    u32 flags;  /* 1: full refs (globals, constants in [lo, hi)); 2: a datacount section */
    i64 lo, hi;
} Args;

__attribute__((export_name("scan"))) u32 scan(const Args *a) {
    Ctx cx;
    u32 *flat = a->flat, *recs = a->recs;
    const u8 *code = a->code;
    cx.flat = flat;
    cx.full = a->flags & 1;
    cx.datacount = (a->flags >> 1) & 1;
    cx.lo = a->lo;
    cx.hi = a->hi;
    const u8 *p = code + a->pos, *end = code + a->len;
    u32 done = 0, n = a->n;
    result[0] = result[1] = 0;
    if (!T) return 0;
    while (done < n) {
        const u8 *body = p;
        u32 size;
        if (!rd_u32(&p, end, &size)) break;
        if (size == 0 || size > (u64)(end - p)) break;
        const u8 *body_end = p + size;
        const u8 *first = scan_locals(p, body_end);
        u32 *before = cx.flat;
        if (!first || !scan_body(&cx, first, body_end)) { cx.flat = before; break; }
        recs[0] = a->file_base + (u32)(body - code);
        recs[1] = a->file_base + (u32)(p - code);
        recs[2] = size;
        recs[3] = (u32)(before - flat);
        recs += 4;
        p = body_end;
        done++;
    }
    result[0] = done;
    result[1] = (u32)(cx.flat - flat);
    return done;
}
