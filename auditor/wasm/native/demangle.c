/* auditor's Rust demangler (legacy `_ZN…E` and v0 `_R…`), compiled to WebAssembly.

   Freestanding C (no libc), built by scripts/build-native.sh with clang-16 into
   demangle.wasm, which auditor/wasm/native/demangler.py runs in wasmtime: one call
   demangles a whole batch of names. It is a line-by-line transcription of the Python
   demangler in auditor/wasm/demangle.py (`_demangle_rust`, `_legacy`, `_V0Printer`,
   `v0_instantiating_crate`), which stays the reference: same grammar, same output,
   same output-size limit checked at the same places (when a backref is followed), the
   same order of checks, so a name is malformed here exactly when it is there.

   What this file does not do, it DECLINES (status D_DECLINE) and the Python demangler
   reads that name: punycode identifiers, string and char constants that are not
   ASCII, nesting deeper than C_DEPTH (the Python printer's own limit is 200, and at
   that depth the Python stack, not the grammar, may decide: declining keeps the answer
   the Python one whatever the caller's stack), and a name whose output does not fit
   the output area. The loader sends only ASCII names without NUL (the Python demangler
   answers others at once: they are never Rust symbols).

   Every loop advances the position or stops, recursion is bounded by C_DEPTH, output
   is bounded by the output area, so a batch is linear in its input plus its output. */

typedef unsigned char u8;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef long long i64;

#define MAX_OUTPUT 1000000u /* demangle.py _MAX_OUTPUT */
#define PY_DEPTH 200        /* demangle.py _MAX_DEPTH: deeper is malformed */
#define C_DEPTH 100         /* deeper than this: declined (see above) */
#define MAX_BOUND_LIFETIMES 1000
#define SHARE_PER_CHAR 4    /* demangle.py _MODULE_BUDGET_PER_CHAR */
#define SHARE_PER_NAME 64   /* demangle.py _MODULE_BUDGET_PER_NAME */

/* Result of one name. */
enum { D_NONE = 0, D_OK = 1, D_OVER = 2, D_DECLINE = 3 };
/* Internal error states (P.err). */
enum { E_OK = 0, E_INVALID, E_OVER, E_DECLINE, E_NOSPACE };

typedef struct {
    const u8 *sym; /* sym[end] == 0 */
    u32 end;
    u32 pos;
    int depth;
    int printing;
    i64 bound;  /* late-bound lifetimes in scope */
    u8 *out;    /* output area */
    u32 len;    /* bytes written in it */
    u32 cap;
    u32 start;  /* where this name's output starts (the size limit counts from here) */
    u32 extra;  /* output counted before `start` (v0_instantiating_crate's main path) */
    u32 limit;
    int err;
} P;

#define CHK(p) do { if ((p)->err) return; } while (0)
#define CHKV(p, v) do { if ((p)->err) return (v); } while (0)

static void fail(P *p, int e) {
    if (!p->err) p->err = e;
}

/* n bytes from s to o (not overlapping), eight at a time (unaligned loads are fine in wasm) */
static void copy_bytes(u8 *o, const u8 *s, u32 n) {
    u32 i = 0;
    for (; i + 8 <= n; i += 8) {
        u64 w;
        __builtin_memcpy(&w, s + i, 8);
        __builtin_memcpy(o + i, &w, 8);
    }
    for (; i < n; i++) o[i] = s[i];
}

static void put(P *p, const char *s, u32 n) {
    if (!p->printing || p->err) return;
    if (n > p->cap - p->len) { fail(p, E_NOSPACE); return; }
    copy_bytes(p->out + p->len, (const u8 *)s, n);
    p->len += n;
}

static u32 slen(const char *s) {
    u32 n = 0;
    while (s[n]) n++;
    return n;
}

static void puts_(P *p, const char *s) { put(p, s, slen(s)); }

static void putc_(P *p, char c) { put(p, &c, 1); }

/* Decimal of v + add (add small), as Python's str() of an int that may pass 2**64. */
static void put_dec(P *p, u64 v, u32 add) {
    char buf[24];
    int n = 0;
    do { buf[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    /* add to the digits (least significant first) with carry */
    u32 carry = add;
    for (int i = 0; i < n && carry; i++) {
        u32 d = (u32)(buf[i] - '0') + carry;
        buf[i] = (char)('0' + d % 10);
        carry = d / 10;
    }
    while (carry) { buf[n++] = (char)('0' + carry % 10); carry /= 10; }
    char rev[24];
    for (int i = 0; i < n; i++) rev[i] = buf[n - 1 - i];
    put(p, rev, (u32)n);
}

static int is_upper(u8 c) { return c >= 'A' && c <= 'Z'; }
static int is_lower(u8 c) { return c >= 'a' && c <= 'z'; }
static int is_digit(u8 c) { return c >= '0' && c <= '9'; }
static int is_alnum(u8 c) { return is_upper(c) || is_lower(c) || is_digit(c); }
static int is_hex(u8 c) { return is_digit(c) || (c >= 'a' && c <= 'f'); }

static int b62(u8 c) {
    if (is_digit(c)) return c - '0';
    if (is_lower(c)) return c - 'a' + 10;
    return c - 'A' + 36;
}

/* _base62_value: "" is 0, else the digits' value + 1; sets *huge when that is 2**64
   (x + 1 with x = 2**64 - 1). Invalid on overflow past u64. */
static u64 base62_value(P *p, const u8 *d, u32 n, int *huge) {
    *huge = 0;
    if (!n) return 0;
    u32 i = 0;
    while (i < n && d[i] == '0') i++;
    if (n - i > 11) { fail(p, E_INVALID); return 0; }
    u64 x = 0;
    for (u32 k = 0; i < n; i++, k++) {
        u64 digit = (u64)b62(d[i]);
        /* 62**10 < 2**64: only an 11th digit can overflow */
        if (k == 10 && x > (~(u64)0 - digit) / 62) { /* x * 62 + digit >= 2**64 */
            fail(p, E_INVALID);
            return 0;
        }
        x = x * 62 + digit;
    }
    if (x == ~(u64)0) { *huge = 1; return x; }
    return x + 1;
}

/* -- lexing */

static int eat(P *p, u8 c) {
    if (p->sym[p->pos] == c) { p->pos++; return 1; }
    return 0;
}

static u8 next(P *p) {
    u8 c = p->sym[p->pos];
    if (c == 0) { fail(p, E_INVALID); return 0; }
    p->pos++;
    return c;
}

/* integer_62: saturated at ~0 (then larger than any position or lifetime count) */
static u64 integer_62(P *p) {
    u32 s = p->pos, e = s;
    while (is_alnum(p->sym[e])) e++;
    if (p->sym[e] != '_') { fail(p, E_INVALID); return 0; }
    p->pos = e + 1;
    int huge;
    u64 v = base62_value(p, p->sym + s, e - s, &huge);
    return huge ? ~(u64)0 : v;
}

static u64 opt_integer_62(P *p, u8 tag) {
    if (p->sym[p->pos] != tag) return 0;
    p->pos++;
    u64 v = integer_62(p);
    return v >= ~(u64)0 - 1 ? ~(u64)0 : v + 1;
}

/* hex_nibbles: [s, e) of `[0-9a-f]*` before a `_` */
static void hex_nibbles(P *p, u32 *s, u32 *e) {
    u32 a = p->pos, b = a;
    while (is_hex(p->sym[b])) b++;
    if (p->sym[b] != '_') { fail(p, E_INVALID); return; }
    p->pos = b + 1;
    *s = a;
    *e = b;
}

/* The _DIS_IDENT regex `(?:s([0-9a-zA-Z]*)_)?(u?)(0|[1-9][0-9]*)_?` at pos: 1 if it
   matches, with its groups. */
typedef struct {
    int has_dis;
    u32 dis_s, dis_e;
    int puny;
    u32 len_s, len_e;
    u32 end; /* match end */
} DisIdent;

static int match_dis_ident(const u8 *sym, u32 pos, DisIdent *m) {
    u32 i = pos;
    m->has_dis = 0;
    if (sym[i] == 's') {
        u32 j = i + 1;
        while (is_alnum(sym[j])) j++;
        if (sym[j] == '_') {
            /* the group matches; the rest must too, or the whole match fails (without
               the group the text starts with `s`, which no length can) */
            m->has_dis = 1;
            m->dis_s = i + 1;
            m->dis_e = j;
            i = j + 1;
        }
    }
    m->puny = 0;
    if (sym[i] == 'u' && is_digit(sym[i + 1])) { m->puny = 1; i++; }
    if (sym[i] == '0') {
        m->len_s = i;
        m->len_e = i + 1;
        i++;
    } else if (sym[i] >= '1' && sym[i] <= '9') {
        m->len_s = i;
        while (is_digit(sym[i])) i++;
        m->len_e = i;
    } else {
        return 0;
    }
    if (sym[i] == '_') i++;
    m->end = i;
    return 1;
}

/* ident(): (disambiguator, text). `*has_dis`, `*dis` = _base62_value(dis) (+ *dis_huge)
   for closure numbers; text [*s, *e) of sym. Punycode: declined. */
static void ident(P *p, int *has_dis, u64 *dis, int *dis_huge, u32 *s, u32 *e) {
    DisIdent m;
    if (!match_dis_ident(p->sym, p->pos, &m)) { fail(p, E_INVALID); return; }
    if (m.len_e - m.len_s > 18) { fail(p, E_INVALID); return; }
    *has_dis = m.has_dis;
    *dis = 0;
    *dis_huge = 0;
    if (m.has_dis) {
        /* the Python checks overflow only from 11 digits (shorter ones cannot) */
        *dis = base62_value(p, p->sym + m.dis_s, m.dis_e - m.dis_s, dis_huge);
        CHK(p);
    }
    u64 len = 0;
    for (u32 i = m.len_s; i < m.len_e; i++) len = len * 10 + (u64)(p->sym[i] - '0');
    u64 end = (u64)m.end + len;
    if (end > p->end) { fail(p, E_INVALID); return; }
    p->pos = (u32)end;
    if (m.puny) { fail(p, E_DECLINE); return; }
    *s = m.end;
    *e = (u32)end;
}

/* -- printing helpers */

static void enter(P *p) {
    p->depth++;
    if (p->depth > C_DEPTH) fail(p, p->depth > PY_DEPTH ? E_INVALID : E_DECLINE);
}

typedef void (*Then)(P *p, int arg);
static int g_opened; /* print_path_maybe_open_generics' answer through a backref */

static void backref(P *p, Then then, int arg) {
    u32 start = p->pos - 1; /* the 'B' */
    u64 target = integer_62(p);
    CHK(p);
    if (target >= start) { fail(p, E_INVALID); return; }
    if (!p->printing) return;
    if ((u64)(p->len - p->start) + p->extra > p->limit) { fail(p, E_OVER); return; }
    u32 saved = p->pos;
    p->pos = (u32)target;
    enter(p);
    CHK(p);
    then(p, arg);
    CHK(p);
    p->depth--;
    p->pos = saved;
}

static void print_lifetime(P *p, u64 lt) {
    if (!p->printing) return;
    if (lt == 0) { puts_(p, "'_"); return; }
    if (lt > (u64)p->bound) { fail(p, E_INVALID); return; }
    i64 depth = p->bound - (i64)lt;
    putc_(p, '\'');
    if (depth < 26) {
        putc_(p, (char)('a' + depth));
    } else {
        putc_(p, '_');
        put_dec(p, (u64)depth, 0);
    }
}

static void print_path(P *p, int in_value);
static void print_type(P *p, int unused);
static void print_const(P *p, int in_value);
static void print_generic_arg(P *p);
static void print_fn_sig(P *p);
static void print_dyn_trait(P *p);
static void print_pat(P *p);

/* skipping(): parse without output, backrefs not followed */
static void skip_path(P *p) {
    int printing = p->printing;
    p->printing = 0;
    print_path(p, 0);
    p->printing = printing;
}

static void print_path(P *p, int in_value) {
    const u8 *sym = p->sym;
    int depth0 = p->depth;
    u32 ns_at = 0, nns = 0;
    if (sym[p->pos] == 'N') {
        u32 i = p->pos;
        ns_at = i;
        while (sym[i] == 'N' && (is_upper(sym[i + 1]) || is_lower(sym[i + 1]))) { i += 2; nns++; }
        if (!nns) { fail(p, E_INVALID); return; }
        p->pos = i;
        if (sym[p->pos] == 'N') { fail(p, E_INVALID); return; }
    }
    p->depth += (int)nns + 1;
    if (p->depth > C_DEPTH) { fail(p, p->depth > PY_DEPTH ? E_INVALID : E_DECLINE); return; }
    u8 tag = next(p);
    CHK(p);
    if (tag == 'C') {
        int hd, huge;
        u64 dis;
        u32 s, e;
        ident(p, &hd, &dis, &huge, &s, &e);
        CHK(p);
        put(p, (const char *)sym + s, e - s);
    } else if (tag == 'M' || tag == 'X' || tag == 'Y') {
        if (tag != 'Y') {
            opt_integer_62(p, 's');
            CHK(p);
            skip_path(p);
            CHK(p);
        }
        putc_(p, '<');
        print_type(p, 0);
        CHK(p);
        if (tag != 'M') {
            puts_(p, " as ");
            print_path(p, 0);
            CHK(p);
        }
        putc_(p, '>');
    } else if (tag == 'I') {
        print_path(p, in_value);
        CHK(p);
        puts_(p, in_value ? "::<" : "<");
        int count = 0;
        while (!eat(p, 'E')) {
            if (count) puts_(p, ", ");
            print_generic_arg(p);
            CHK(p);
            count++;
        }
        putc_(p, '>');
    } else if (tag == 'B') {
        backref(p, print_path, in_value);
    } else {
        fail(p, E_INVALID);
    }
    CHK(p);
    for (u32 k = nns; k-- > 0;) {
        u8 ns = sym[ns_at + 2 * k + 1];
        int hd, huge;
        u64 dis;
        u32 s, e;
        ident(p, &hd, &dis, &huge, &s, &e);
        CHK(p);
        if (ns <= 'Z') {
            puts_(p, "::{");
            if (ns == 'C') puts_(p, "closure");
            else if (ns == 'S') puts_(p, "shim");
            else putc_(p, (char)ns);
            if (e > s) {
                putc_(p, ':');
                put(p, (const char *)sym + s, e - s);
            }
            putc_(p, '#');
            /* number = 0 if no disambiguator else _base62_value(dis) + 1 */
            if (!hd) put_dec(p, 0, 0);
            else put_dec(p, dis, huge ? 2 : 1);
            putc_(p, '}');
        } else if (e > s) {
            puts_(p, "::");
            put(p, (const char *)sym + s, e - s);
        }
    }
    p->depth = depth0;
}

static void print_generic_arg(P *p) {
    if (eat(p, 'L')) {
        u64 lt = integer_62(p);
        CHK(p);
        print_lifetime(p, lt);
    } else if (eat(p, 'K')) {
        print_const(p, 0);
    } else {
        print_type(p, 0);
    }
}

static const char *basic_type(u8 c) {
    switch (c) {
    case 'b': return "bool";
    case 'c': return "char";
    case 'e': return "str";
    case 'u': return "()";
    case 'a': return "i8";
    case 's': return "i16";
    case 'l': return "i32";
    case 'x': return "i64";
    case 'n': return "i128";
    case 'i': return "isize";
    case 'h': return "u8";
    case 't': return "u16";
    case 'm': return "u32";
    case 'y': return "u64";
    case 'o': return "u128";
    case 'j': return "usize";
    case 'f': return "f32";
    case 'd': return "f64";
    case 'z': return "!";
    case 'p': return "_";
    case 'v': return "...";
    default: return 0;
    }
}

/* in_binder(body): body 0 = fn sig, 1 = dyn traits (print_sep_list of print_dyn_trait, " + ") */
static void in_binder(P *p, int body) {
    u64 count = opt_integer_62(p, 'G');
    CHK(p);
    if (count > MAX_BOUND_LIFETIMES) { fail(p, E_INVALID); return; }
    if (p->printing && count) {
        puts_(p, "for<");
        for (u64 i = 0; i < count; i++) {
            if (i) puts_(p, ", ");
            p->bound++;
            print_lifetime(p, 1);
            CHK(p);
        }
        puts_(p, "> ");
    }
    if (body == 0) {
        print_fn_sig(p);
    } else {
        int n = 0;
        while (!eat(p, 'E')) {
            if (n) puts_(p, " + ");
            print_dyn_trait(p);
            CHK(p);
            n++;
        }
    }
    CHK(p);
    if (p->printing) p->bound -= (i64)count;
}

static void print_type(P *p, int unused) {
    (void)unused;
    u8 tag = next(p);
    CHK(p);
    const char *basic = basic_type(tag);
    if (basic) { puts_(p, basic); return; }
    enter(p);
    CHK(p);
    if (tag == 'R' || tag == 'Q') {
        putc_(p, '&');
        if (eat(p, 'L')) {
            u64 lt = integer_62(p);
            CHK(p);
            if (lt) {
                print_lifetime(p, lt);
                CHK(p);
                putc_(p, ' ');
            }
        }
        if (tag == 'Q') puts_(p, "mut ");
        print_type(p, 0);
    } else if (tag == 'P' || tag == 'O') {
        puts_(p, tag == 'P' ? "*const " : "*mut ");
        print_type(p, 0);
    } else if (tag == 'A' || tag == 'S') {
        putc_(p, '[');
        print_type(p, 0);
        CHK(p);
        if (tag == 'A') {
            puts_(p, "; ");
            print_const(p, 1);
            CHK(p);
        }
        putc_(p, ']');
    } else if (tag == 'T') {
        putc_(p, '(');
        int n = 0;
        while (!eat(p, 'E')) {
            if (n) puts_(p, ", ");
            print_type(p, 0);
            CHK(p);
            n++;
        }
        if (n == 1) putc_(p, ',');
        putc_(p, ')');
    } else if (tag == 'F') {
        in_binder(p, 0);
    } else if (tag == 'D') {
        puts_(p, "dyn ");
        in_binder(p, 1);
        CHK(p);
        if (!eat(p, 'L')) { fail(p, E_INVALID); return; }
        u64 lt = integer_62(p);
        CHK(p);
        if (lt) {
            puts_(p, " + ");
            print_lifetime(p, lt);
        }
    } else if (tag == 'B') {
        backref(p, print_type, 0);
    } else if (tag == 'W') {
        print_type(p, 0);
        CHK(p);
        puts_(p, " is ");
        print_pat(p);
    } else {
        p->pos--;
        print_path(p, 0);
    }
    CHK(p);
    p->depth--;
}

static void print_pat(P *p) {
    u8 tag = next(p);
    CHK(p);
    if (tag == 'R') {
        print_const(p, 0);
        CHK(p);
        puts_(p, "..=");
        print_const(p, 0);
    } else if (tag == 'O') {
        p->depth++; /* not checked by the Python printer: declined when deep */
        if (p->depth > C_DEPTH) { fail(p, E_DECLINE); return; }
        print_pat(p);
        CHK(p);
        while (!eat(p, 'E')) {
            puts_(p, " | ");
            print_pat(p);
            CHK(p);
        }
        p->depth--;
    } else if (tag == 'N') {
        puts_(p, "!null");
    } else {
        fail(p, E_INVALID);
    }
}

static void print_fn_sig(P *p) {
    int is_unsafe = eat(p, 'U');
    u32 abi_s = 0, abi_e = 0;
    int abi = 0; /* 0 none, 1 "C", 2 ident */
    if (eat(p, 'K')) {
        if (eat(p, 'C')) {
            abi = 1;
        } else {
            DisIdent m;
            if (!match_dis_ident(p->sym, p->pos, &m) || m.has_dis || m.puny) { fail(p, E_INVALID); return; }
            int hd, huge;
            u64 dis;
            ident(p, &hd, &dis, &huge, &abi_s, &abi_e);
            CHK(p);
            if (abi_e == abi_s) { fail(p, E_INVALID); return; }
            abi = 2;
        }
    }
    if (is_unsafe) puts_(p, "unsafe ");
    if (abi == 1) puts_(p, "extern \"C\" ");
    if (abi == 2) {
        puts_(p, "extern \"");
        for (u32 i = abi_s; i < abi_e; i++) putc_(p, p->sym[i] == '_' ? '-' : (char)p->sym[i]);
        puts_(p, "\" ");
    }
    puts_(p, "fn(");
    int n = 0;
    while (!eat(p, 'E')) {
        if (n) puts_(p, ", ");
        print_type(p, 0);
        CHK(p);
        n++;
    }
    putc_(p, ')');
    if (!eat(p, 'u')) {
        puts_(p, " -> ");
        print_type(p, 0);
    }
}

static int print_path_maybe_open_generics(P *p);

static void follow_open(P *p, int unused) {
    (void)unused;
    g_opened = print_path_maybe_open_generics(p);
}

static int print_path_maybe_open_generics(P *p) {
    if (eat(p, 'B')) {
        g_opened = 0;
        backref(p, follow_open, 0);
        return g_opened;
    }
    if (eat(p, 'I')) {
        print_path(p, 0);
        CHKV(p, 0);
        putc_(p, '<');
        int n = 0;
        while (!eat(p, 'E')) {
            if (n) puts_(p, ", ");
            print_generic_arg(p);
            CHKV(p, 0);
            n++;
        }
        return 1;
    }
    print_path(p, 0);
    return 0;
}

static void print_dyn_trait(P *p) {
    int opened = print_path_maybe_open_generics(p);
    CHK(p);
    while (eat(p, 'p')) {
        puts_(p, opened ? ", " : "<");
        opened = 1;
        DisIdent m;
        if (!match_dis_ident(p->sym, p->pos, &m) || m.has_dis) { fail(p, E_INVALID); return; }
        int hd, huge;
        u64 dis;
        u32 s, e;
        ident(p, &hd, &dis, &huge, &s, &e);
        CHK(p);
        put(p, (const char *)p->sym + s, e - s);
        puts_(p, " = ");
        print_type(p, 0);
        CHK(p);
    }
    if (opened) putc_(p, '>');
}

/* _parse_uint: 1 and *v when the nibbles (leading zeros dropped) fit in 16 digits */
static int parse_uint(const u8 *s, u32 a, u32 b, u64 *v) {
    while (a < b && s[a] == '0') a++;
    if (b - a > 16) return 0;
    u64 x = 0;
    for (u32 i = a; i < b; i++) x = x * 16 + (u64)(is_digit(s[i]) ? s[i] - '0' : s[i] - 'a' + 10);
    *v = x;
    return 1;
}

static void const_uint(P *p, u32 a, u32 b) {
    u64 v;
    if (parse_uint(p->sym, a, b, &v)) {
        put_dec(p, v, 0);
    } else {
        puts_(p, "0x");
        put(p, (const char *)p->sym + a, b - a);
    }
}

/* _quote for ASCII text (the caller declines anything else) */
static void quote_char(P *p, u8 c, u8 quote) {
    switch (c) {
    case '\t': puts_(p, "\\t"); return;
    case '\r': puts_(p, "\\r"); return;
    case '\n': puts_(p, "\\n"); return;
    case '\\': puts_(p, "\\\\"); return;
    case 0: puts_(p, "\\0"); return;
    default: break;
    }
    if (c == quote) {
        putc_(p, '\\');
        putc_(p, (char)c);
    } else if (c >= 0x20 && c < 0x7F) {
        putc_(p, (char)c);
    } else {
        static const char hex[] = "0123456789abcdef";
        puts_(p, "\\u{");
        if (c >= 16) putc_(p, hex[c >> 4]);
        putc_(p, hex[c & 15]);
        putc_(p, '}');
    }
}

static int hexval(u8 c) { return is_digit(c) ? c - '0' : c - 'a' + 10; }

/* a string constant's nibbles: odd is invalid, non-ASCII declined (UTF-8 and Python's
   printable test are the Python demangler's) */
static void quote_str(P *p, u32 a, u32 b) {
    if ((b - a) % 2) { fail(p, E_INVALID); return; }
    for (u32 i = a; i < b; i += 2)
        if (hexval(p->sym[i]) >= 8) { fail(p, E_DECLINE); return; }
    putc_(p, '"');
    for (u32 i = a; i < b; i += 2) quote_char(p, (u8)(hexval(p->sym[i]) * 16 + hexval(p->sym[i + 1])), '"');
    putc_(p, '"');
}

static void print_const_list(P *p, char open, char close, int tuple_comma) {
    putc_(p, open);
    int n = 0;
    while (!eat(p, 'E')) {
        if (n) puts_(p, ", ");
        print_const(p, 1);
        CHK(p);
        n++;
    }
    if (n == 1 && tuple_comma) putc_(p, ',');
    putc_(p, close);
}

static int is_unsigned_tag(u8 t) { return t == 'h' || t == 't' || t == 'm' || t == 'y' || t == 'o' || t == 'j'; }
static int is_signed_tag(u8 t) { return t == 'a' || t == 's' || t == 'l' || t == 'x' || t == 'n' || t == 'i'; }

static void print_const(P *p, int in_value) {
    u8 tag = next(p);
    CHK(p);
    enter(p);
    CHK(p);
    int braced = !in_value
        && (tag == 'e' || tag == 'R' || tag == 'Q' || tag == 'A' || tag == 'T' || tag == 'V')
        && !(tag == 'R' && p->sym[p->pos] == 'e');
    if (braced) putc_(p, '{');
    u32 a = 0, b = 0;
    if (tag == 'p') {
        putc_(p, '_');
    } else if (is_unsigned_tag(tag)) {
        hex_nibbles(p, &a, &b);
        CHK(p);
        const_uint(p, a, b);
    } else if (is_signed_tag(tag)) {
        int neg = eat(p, 'n');
        hex_nibbles(p, &a, &b);
        CHK(p);
        if (neg) putc_(p, '-');
        const_uint(p, a, b);
    } else if (tag == 'b') {
        hex_nibbles(p, &a, &b);
        CHK(p);
        u64 v;
        if (!parse_uint(p->sym, a, b, &v) || v > 1) { fail(p, E_INVALID); return; }
        puts_(p, v ? "true" : "false");
    } else if (tag == 'c') {
        hex_nibbles(p, &a, &b);
        CHK(p);
        u64 v;
        if (!parse_uint(p->sym, a, b, &v) || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
            fail(p, E_INVALID);
            return;
        }
        if (v >= 0x80) { fail(p, E_DECLINE); return; }
        putc_(p, '\'');
        quote_char(p, (u8)v, '\'');
        putc_(p, '\'');
    } else if (tag == 'e') {
        hex_nibbles(p, &a, &b);
        CHK(p);
        putc_(p, '*');
        quote_str(p, a, b);
    } else if (tag == 'R' || tag == 'Q') {
        if (tag == 'R' && eat(p, 'e')) {
            hex_nibbles(p, &a, &b);
            CHK(p);
            quote_str(p, a, b);
        } else {
            puts_(p, tag == 'R' ? "&" : "&mut ");
            print_const(p, 1);
        }
    } else if (tag == 'A') {
        print_const_list(p, '[', ']', 0);
    } else if (tag == 'T') {
        print_const_list(p, '(', ')', 1);
    } else if (tag == 'V') {
        print_path(p, 1);
        CHK(p);
        u8 kind = next(p);
        CHK(p);
        if (kind == 'T') {
            print_const_list(p, '(', ')', 0);
        } else if (kind == 'S') {
            puts_(p, " { ");
            int n = 0;
            while (!eat(p, 'E')) {
                if (n) puts_(p, ", ");
                int hd, huge;
                u64 dis;
                u32 s, e;
                ident(p, &hd, &dis, &huge, &s, &e);
                CHK(p);
                put(p, (const char *)p->sym + s, e - s);
                puts_(p, ": ");
                print_const(p, 1);
                CHK(p);
                n++;
            }
            puts_(p, " }");
        } else if (kind != 'U') {
            fail(p, E_INVALID);
        }
    } else if (tag == 'B') {
        backref(p, print_const, in_value);
    } else {
        fail(p, E_INVALID);
    }
    CHK(p);
    if (braced) putc_(p, '}');
    p->depth--;
}

/* ------------------------------------------------------------------ legacy */

static void put_utf8(P *p, u32 c) {
    char b[4];
    if (c < 0x80) { b[0] = (char)c; put(p, b, 1); }
    else if (c < 0x800) { b[0] = (char)(0xC0 | (c >> 6)); b[1] = (char)(0x80 | (c & 63)); put(p, b, 2); }
    else if (c < 0x10000) {
        b[0] = (char)(0xE0 | (c >> 12)); b[1] = (char)(0x80 | ((c >> 6) & 63)); b[2] = (char)(0x80 | (c & 63));
        put(p, b, 3);
    } else {
        b[0] = (char)(0xF0 | (c >> 18)); b[1] = (char)(0x80 | ((c >> 12) & 63));
        b[2] = (char)(0x80 | ((c >> 6) & 63)); b[3] = (char)(0x80 | (c & 63));
        put(p, b, 4);
    }
}

static int span_is(const u8 *s, u32 a, u32 b, const char *lit) {
    u32 n = slen(lit);
    if (b - a != n) return 0;
    for (u32 i = 0; i < n; i++)
        if (s[a + i] != (u8)lit[i]) return 0;
    return 1;
}

/* `$…$` escape between s[a] and s[b] (the two `$`): its character, or -1 (unknown) */
static i64 legacy_escape(const u8 *s, u32 a, u32 b) {
    static const char *names[] = {"$SP$", "$BP$", "$RF$", "$LT$", "$GT$", "$LP$", "$RP$", "$C$"};
    static const char chars[] = "@*&<>(),";
    for (int k = 0; k < 8; k++)
        if (span_is(s, a, b + 1, names[k])) return (u8)chars[k];
    /* _unicode_escape: u<lower hex>, any scalar value but controls */
    if (b - a < 3 || s[a + 1] != 'u') return -1;
    u64 code = 0;
    for (u32 i = a + 2; i < b; i++) {
        if (!is_hex(s[i])) return -1;
        if (code <= 0x10FFFF) code = code * 16 + (u64)hexval(s[i]);
    }
    if (code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF) || code < 0x20 || (code >= 0x7F && code < 0xA0))
        return -1;
    return (i64)code;
}

static void legacy_element(P *p, const u8 *s, u32 a, u32 b) {
    if (b - a >= 2 && s[a] == '_' && s[a + 1] == '$') a++;
    u32 i = a;
    while (i < b) {
        u8 c = s[i];
        if (c == '.') {
            if (i + 1 < b && s[i + 1] == '.') { puts_(p, "::"); i += 2; }
            else { putc_(p, '.'); i++; }
        } else if (c == '$') {
            u32 j = i + 1;
            while (j < b && s[j] != '$') j++;
            i64 ch = j < b ? legacy_escape(s, i, j) : -1;
            if (ch < 0) { /* unknown escape (or a `$` never closed): the rest verbatim */
                put(p, (const char *)s + i, b - i);
                return;
            }
            put_utf8(p, (u32)ch);
            i = j + 1;
        } else {
            u32 j = i;
            while (j < b && s[j] != '$' && s[j] != '.') j++;
            put(p, (const char *)s + i, j - i);
            i = j;
        }
    }
}

/* _legacy(inner): D_OK with the text written and *suffix set, else D_NONE */
static int legacy(P *p, const u8 *s, u32 n, u32 *suffix) {
    u32 pos = 0;
    int elements = 0;
    for (;;) {
        if (pos >= n) return D_NONE;
        if (s[pos] == 'E') {
            if (!elements) return D_NONE;
            break;
        }
        if (!is_digit(s[pos])) return D_NONE;
        u32 d = pos;
        while (d < n && is_digit(s[d])) d++;
        if (d - pos > 18) return D_NONE;
        u64 len = 0;
        for (u32 i = pos; i < d; i++) len = len * 10 + (u64)(s[i] - '0');
        if (len > (u64)(n - d)) return D_NONE;
        u32 e = d + (u32)len;
        if (elements) puts_(p, "::");
        legacy_element(p, s, d, e);
        elements++;
        pos = e;
    }
    *suffix = pos + 1;
    return D_OK;
}


/* ------------------------------------------------------------------ generics */

/* analysis/monos.py generic_of(demangled), for a demangled text the C code printed:
   _RENAMED and strip_hash (legacy hashes with LLVM's `.N` renaming suffixes, crate
   disambiguators), then, for a name with a `<`, the
   legacy impl rewrite, the generic arguments dropped and v0's inherent impl unwrapped.
   Declined (the Python one reads it): a `.llvm.` in the text, a control character, or a
   `)` followed only by what a C++ qualifier tail may hold (`_CXX_TAIL`: a C++ name). */

static int is_ident_tail(u8 c) { return is_alnum(c) || c == '_' || c == ']'; }

static int starts(const u8 *s, u32 n, u32 i, const char *lit) {
    u32 k = slen(lit);
    if (i + k > n) return 0;
    for (u32 j = 0; j < k; j++)
        if (s[i + j] != (u8)lit[j]) return 0;
    return 1;
}

static int hash_ends_at(const u8 *s, u32 n, u32 j) {
    u8 c = j < n ? s[j] : 0;
    return j == n || c == '.' || c == ' ' || c == '>' || c == ')' || c == ',' || c == ';' || c == ']';
}

/* monos.py's _RENAMED.sub, then _LEGACY_HASH.sub: `::h` + 16 lower hex, then LLVM's `.N`
   renaming suffixes, followed by the end or one of `. >),;]` (the regexes' backtracking:
   the most `.N` runs whose end is followed by one of those, every run but the last being
   followed by its `.`; none, when even the first is not) */
static u32 strip_legacy_hash(const u8 *s, u32 n, u8 *o) {
    u32 k = 0, i = 0;
    while (i < n) {
        if (i + 19 <= n && s[i] == ':' && s[i + 1] == ':' && s[i + 2] == 'h') {
            u32 j = i + 3;
            while (j < i + 19 && is_hex(s[j])) j++;
            if (j == i + 19) {
                u32 last = j, before = j;
                while (last + 1 < n && s[last] == '.' && is_digit(s[last + 1])) {
                    before = last;
                    last += 2;
                    while (last < n && is_digit(s[last])) last++;
                }
                u32 end = hash_ends_at(s, n, last) ? last : before;
                if (hash_ends_at(s, n, end)) {
                    i = end;
                    continue;
                }
            }
        }
        o[k++] = s[i++];
    }
    return k;
}

/* _CRATE_DISAMBIGUATOR.sub: `[` + 1..16 lower hex + `]` after an identifier character */
static u32 strip_disambiguators(const u8 *s, u32 n, u8 *o) {
    u32 k = 0, i = 0;
    while (i < n) {
        if (s[i] == '[' && i > 0 && (is_alnum(s[i - 1]) || s[i - 1] == '_')) {
            u32 j = i + 1;
            while (j < n && is_hex(s[j])) j++;
            if (j > i + 1 && j - i - 1 <= 16 && j < n && s[j] == ']') {
                i = j + 1;
                continue;
            }
        }
        o[k++] = s[i++];
    }
    return k;
}

/* _matching: index of the `>` closing the `<` at i (a `>` after `-` is no bracket), or -1 */
static i64 matching(const u8 *s, u32 n, u32 i) {
    i64 depth = 0;
    for (u32 j = i; j < n; j++) {
        if (s[j] == '<') depth++;
        else if (s[j] == '>' && !(j > 0 && s[j - 1] == '-')) {
            if (--depth == 0) return j;
        }
    }
    return -1;
}

static u32 copy(u8 *o, u32 k, const u8 *s, u32 n) {
    copy_bytes(o + k, s, n);
    return k + n;
}

/* _legacy_impl: `m::<impl Y for X>::f` -> `<X as Y>::f`, `m::<impl X>::f` -> `X::f` */
static u32 legacy_impl(const u8 *s, u32 n, u8 *o) {
    i64 at = -1;
    for (u32 i = 0; i + 8 <= n; i++)
        if (s[i] == ':' && s[i + 2] == '<' && starts(s, n, i, "::<impl ")) { at = i; break; }
    if (at < 0) return copy(o, 0, s, n);
    for (u32 i = 0; i < (u32)at; i++)
        if (s[i] == '<') return copy(o, 0, s, n);
    i64 end = matching(s, n, (u32)at + 2);
    if (end < 0) return copy(o, 0, s, n);
    const u8 *in = s + at + 8;
    u32 m = (u32)end - ((u32)at + 8);
    i64 depth = 0;
    for (u32 i = 0; i < m; i++) {
        u8 c = in[i];
        u8 prev = i ? in[i - 1] : in[m - 1]; /* Python's inner[i - 1]: the last one for i = 0 */
        if (c == '<') depth++;
        else if (c == '>' && prev != '-') depth--;
        else if (depth == 0 && c == ' ' && starts(in, m, i, " for ")) {
            u32 k = 0;
            o[k++] = '<';
            k = copy(o, k, in + i + 5, m - i - 5);
            k = copy(o, k, (const u8 *)" as ", 4);
            k = copy(o, k, in, i);
            o[k++] = '>';
            return copy(o, k, s + end + 1, n - (u32)end - 1);
        }
    }
    u32 k = copy(o, 0, in, m);
    return copy(o, k, s + end + 1, n - (u32)end - 1);
}

/* _strip_args: generic arguments dropped, qualified-path brackets kept. Its stack of
   open `<` is always some kept ones under `dropping` dropped ones: two counters. */
static u32 strip_args(const u8 *s, u32 n, u8 *o) {
    u32 k = 0, pos = 0;
    u64 kept = 0, dropping = 0;
    u32 i = 0;
    while (i < n) {
        u32 tl;
        u8 c = s[i];
        if (c == '-' && i + 1 < n && s[i + 1] == '>') tl = 2;
        else if (c == '<' || c == '>') tl = 1;
        else { i++; continue; }
        if (!dropping && i > pos) k = copy(o, k, s + pos, i - pos);
        pos = i + tl;
        if (tl == 2) {
            if (!dropping) { o[k++] = '-'; o[k++] = '>'; }
        } else if (c == '<') {
            if (dropping) {
                dropping++;
            } else if (i >= 2 && s[i - 2] == ':' && s[i - 1] == ':') {
                k -= 2; /* the turbofish's `::` goes too */
                dropping++;
            } else if (k && is_ident_tail(o[k - 1])) {
                dropping++;
            } else {
                kept++;
                o[k++] = '<';
            }
        } else if (kept + dropping) { /* '>' */
            if (dropping) dropping--;
            else { kept--; o[k++] = '>'; }
        } else if (!dropping) {
            o[k++] = '>';
        }
        i = pos;
    }
    if (!dropping && pos < n) k = copy(o, k, s + pos, n - pos);
    return k;
}

/* _unwrap_inherent: `<alloc::vec::Vec>::push` -> `alloc::vec::Vec::push` */
static u32 unwrap_inherent(const u8 *s, u32 n, u8 *o) {
    if (!n || s[0] != '<') return copy(o, 0, s, n);
    i64 depth = 0;
    for (u32 i = 0; i < n; i++) {
        if (s[i] == '<') depth++;
        else if (s[i] == '>' && !(i && s[i - 1] == '-')) {
            if (--depth == 0) {
                for (u32 j = 1; j + 4 <= i; j++)
                    if (s[j] == ' ' && starts(s, i, j, " as ")) return copy(o, 0, s, n);
                if (i + 2 < n + 0 && s[i + 1] == ':' && s[i + 2] == ':') {
                    u32 k = copy(o, 0, s + 1, i - 1);
                    return copy(o, k, s + i + 1, n - i - 1);
                }
                return copy(o, 0, s, n);
            }
        }
    }
    return copy(o, 0, s, n);
}

/* generic_of of the text at t[0..n) into o (room for 4n bytes, scratch included): its
   length, or -1 when declined */
static i64 generic_of(const u8 *t, u32 n, u8 *o) {
    /* one look at the text first: most passes have nothing to do on most names (a v0
       name has no legacy hash, crate disambiguator or `<impl …>`) */
    int dot = 0, hash = 0, bracket = 0, angle = 0, impl = 0;
    for (u32 i = 0; i < n; i++) {
        u8 c = t[i];
        if (c < 0x20 || c >= 0x7F) return -1;
        if (c == '.') dot = 1;
        else if (c == '[') bracket |= i > 0 && (is_alnum(t[i - 1]) || t[i - 1] == '_') && i + 1 < n && is_hex(t[i + 1]);
        else if (c == '<') {
            angle = 1;
            impl |= i >= 2 && t[i - 1] == ':' && t[i - 2] == ':' && starts(t, n, i + 1, "impl ");
        } else if (c == 'h' && i >= 2 && t[i - 1] == ':' && t[i - 2] == ':') {
            hash |= i + 16 < n && is_hex(t[i + 1]) && is_hex(t[i + 16]);
        }
    }
    if (dot)
        for (u32 i = 0; i + 6 <= n; i++)
            if (t[i] == '.' && starts(t, n, i, ".llvm.")) return -1;
    u8 *a = o + n, *b = o + 2 * n;
    const u8 *cur = t;
    u32 m = n;
    if (hash) { m = strip_legacy_hash(cur, m, a); cur = a; }
    if (bracket) { m = strip_disambiguators(cur, m, b); cur = b; }
    if (hash || bracket) {
        angle = 0;
        for (u32 i = 0; i < m; i++)
            if (cur[i] == '<') { angle = 1; break; }
    }
    if (!angle) return copy(o, 0, cur, m);
    /* _CXX_TAIL: a `)` then only qualifier letters, `&` and spaces to the end */
    for (u32 i = m; i-- > 0;) {
        u8 c = cur[i];
        if (c == ')') return -1;
        if (!(c == ' ' || c == '&' || c == 'c' || c == 'o' || c == 'n' || c == 's' || c == 't' || c == 'v'
              || c == 'l' || c == 'a' || c == 'i' || c == 'e' || c == 'x' || c == 'p'))
            break;
    }
    u8 *x = cur == a ? b : a; /* a scratch buffer that is not `cur` */
    if (impl) {  /* (a stripped hash or disambiguator cannot make a `::<impl `) */
        m = legacy_impl(cur, m, x);
        cur = x;
    }
    u8 *y = cur == a ? b : a;
    m = strip_args(cur, m, y);
    return unwrap_inherent(y, m, o);
}

/* ------------------------------------------------------------------ crates */

/* crates.py crate_of(demangled) for a Rust name the C code printed: the crate before
   crates.py's alias table (the caller applies it). Declined (crates.py reads it): a
   control character, surrounding spaces, what may be C++ (a `)` tail, a word and a
   space before any `:` or `<`: "vtable for …"), and a name crates.py files in a
   bracketed bucket (no Rust path). The two sets below are crates.py's _SYSROOT and
   _PRIMITIVES (tests/test_demangle_native.py checks each member). */

typedef struct { u32 s, e; int ok; } Span; /* [s, e) of the text, ok = 0: None */

static const char *const SYSROOT[] = {"core", "alloc", "std", "proc_macro", "test", 0};
static const char *const PRIMITIVES[] = {"bool", "char", "str", "i8", "i16", "i32", "i64", "i128", "isize", "u8",
                                         "u16", "u32", "u64", "u128", "usize", "f16", "f32", "f64", "f128", "!",
                                         "()", "_", "...", 0};

static int in_set(const u8 *t, Span x, const char *const *set) {
    for (int k = 0; set[k]; k++)
        if (span_is(t, x.s, x.e, set[k])) return 1;
    return 0;
}

static int is_seg(u8 c) { /* _SEGMENT: [^:<>{}()\[\], ]+ */
    return !(c == ':' || c == '<' || c == '>' || c == '{' || c == '}' || c == '(' || c == ')' || c == '[' || c == ']'
             || c == ',' || c == ' ');
}

static Span none(void) { Span x = {0, 0, 0}; return x; }

static Span segment(const u8 *t, u32 a, u32 b) {
    u32 e = a;
    while (e < b && is_seg(t[e])) e++;
    if (e == a) return none();
    Span x = {a, e, 1};
    return x;
}

static Span rust_crate(const u8 *t, u32 a, u32 b, int depth);

static Span type_crate(const u8 *t, u32 a, u32 b, int depth) {
    while (a < b && t[a] == ' ') a++; /* ty.strip() (no other whitespace here) */
    while (b > a && t[b - 1] == ' ') b--;
    if (a == b) return none();
    if (t[a] == '<') return rust_crate(t, a, b, depth);
    u8 c = t[a];
    if (c == '&' || c == '*' || c == '[' || c == '(') return none();
    if (starts(t, b, a, "dyn ") || starts(t, b, a, "fn(") || starts(t, b, a, "unsafe ") || starts(t, b, a, "extern ")
        || starts(t, b, a, "for<"))
        return none();
    Span all = {a, b, 1};
    if (in_set(t, all, PRIMITIVES)) return none();
    int colons = 0;
    for (u32 i = a; i + 1 < b; i++)
        if (t[i] == ':' && t[i + 1] == ':') { colons = 1; break; }
    if (!colons) return none();
    return segment(t, a, b);
}

static Span dyn_crate(const u8 *t, u32 a, u32 b, int depth) {
    if (!starts(t, b, a, "dyn ")) return none();
    a += 4;
    if (starts(t, b, a, "for<")) {
        u32 i = a;
        while (i + 1 < b && !(t[i] == '>' && t[i + 1] == ' ')) i++;
        if (i + 1 < b) a = i + 2;
        else a = b; /* "" */
    }
    return type_crate(t, a, b, depth);
}

/* _split_qualified of t[a, b): 1 with (self type, trait or none) */
static int split_qualified(const u8 *t, u32 a, u32 b, Span *self, Span *trait) {
    i64 depth = 0;
    i64 as_at = -1;
    u32 i = a;
    while (i < b) {
        u8 c = t[i];
        if (c == '<' || c == '(' || c == '[' || c == '{') {
            depth++;
            i++;
        } else if (c == '-' && i + 1 < b && t[i + 1] == '>') {
            i += 2;
        } else if (c == '>' || c == ')' || c == ']' || c == '}') {
            if (--depth == 0) {
                if (as_at < 0) {
                    self->s = a + 1; self->e = i; self->ok = 1;
                    *trait = none();
                } else {
                    self->s = a + 1; self->e = (u32)as_at; self->ok = 1;
                    trait->s = (u32)as_at + 4; trait->e = i; trait->ok = 1;
                }
                return 1;
            }
            i++;
        } else if (c == ' ' && starts(t, b, i, " as ")) {
            if (depth == 1 && as_at < 0) as_at = i;
            i += 4;
        } else {
            i++;
        }
    }
    return 0;
}

/* x.ok == 2 is "core" (an inherent impl of a type without a crate) */
static int sysroot(const u8 *t, Span x) { return x.ok == 2 || (x.ok == 1 && in_set(t, x, SYSROOT)); }

static Span rust_crate(const u8 *t, u32 a, u32 b, int depth) {
    if (a == b) return none();
    if (t[a] != '<') return segment(t, a, b);
    if (depth >= 6) return none(); /* crates.py _MAX_QUALIFIED_DEPTH */
    Span self, trait;
    if (!split_qualified(t, a, b, &self, &trait)) return none();
    Span own = type_crate(t, self.s, self.e, depth + 1);
    if (!own.ok) own = dyn_crate(t, self.s, self.e, depth + 1);
    if (!trait.ok) {
        if (own.ok) return own;
        Span core = {0, 0, 2}; /* "core" */
        return core;
    }
    Span tc = rust_crate(t, trait.s, trait.e, depth + 1);
    if (!own.ok) return tc;
    if (sysroot(t, own) && tc.ok && !sysroot(t, tc)) return tc;
    return own;
}

/* the crate of t[0, n) into o: its length, or -1 when declined */
static i64 crate_of(const u8 *t, u32 n, u8 *o) {
    if (!n || t[0] == ' ' || t[n - 1] == ' ') return -1;
    for (u32 i = 0; i < n; i++)
        if (t[i] < 0x20 || t[i] >= 0x7F) return -1;
    /* C++: "vtable for …" and kin (a space before any `:` or `<`), or a `)` tail */
    for (u32 i = 0; i < n && t[i] != ':' && t[i] != '<'; i++)
        if (t[i] == ' ') return -1;
    u8 last = t[n - 1];
    if (last == ')' || last == 't' || last == '&' || last == 'e') {
        for (u32 i = n; i-- > 0;) {
            u8 c = t[i];
            if (c == ')') return -1;
            if (!(c == ' ' || c == '&' || c == 'c' || c == 'o' || c == 'n' || c == 's' || c == 't' || c == 'v'
                  || c == 'l' || c == 'a' || c == 'i' || c == 'e' || c == 'x' || c == 'p'))
                break;
        }
    }
    Span x = none();
    if (t[0] != '<') {
        u32 cut = 0;
        while (cut + 1 < n && !(t[cut] == ':' && t[cut + 1] == ':')) cut++;
        if (cut + 1 < n && cut > 0) {
            int ident = !is_digit(t[0]);
            for (u32 i = 0; i < cut && ident; i++) ident = is_alnum(t[i]) || t[i] == '_';
            if (ident) { x.s = 0; x.e = cut; x.ok = 1; }
        }
    }
    if (!x.ok) {
        int colons = 0;
        for (u32 i = 0; i + 1 < n; i++)
            if (t[i] == ':' && t[i + 1] == ':') { colons = 1; break; }
        if (t[0] == '<' || colons) x = rust_crate(t, 0, n, 0);
    }
    if (!x.ok) return -1; /* a bucket: crates.py's */
    if (x.ok == 2) return copy(o, 0, (const u8 *)"core", 4);
    return copy(o, 0, t + x.s, x.e - x.s);
}

/* ------------------------------------------------------------------ names */

static int suffix_ok(const u8 *s, u32 a, u32 b) {
    if (a >= b) return 1;
    if (s[a] != '.') return 0;
    for (u32 i = a; i < b; i++)
        if (s[i] < 0x21 || s[i] > 0x7E) return 0;
    return 1;
}

/* Length of the name without a ThinLTO `.llvm.<[0-9A-F@]+>` suffix at its end. Only the
   last `.llvm.` can have such a tail, and the tail is the run of [0-9A-F@] the name ends
   with (a `.` is not in it): so look at what precedes that run. */
static int llvm_tail(u8 c) { return is_digit(c) || (c >= 'A' && c <= 'F') || c == '@'; }

static u32 llvm_cut(const u8 *s, u32 n) {
    u32 j = n;
    while (j > 0 && llvm_tail(s[j - 1])) j--;
    if (j == n || j < 6) return n;
    const u8 *t = s + j - 6;
    if (t[0] == '.' && t[1] == 'l' && t[2] == 'l' && t[3] == 'v' && t[4] == 'm' && t[5] == '.') return j - 6;
    return n;
}

static int status_of(int err) {
    switch (err) {
    case E_INVALID: return D_NONE;
    case E_OVER: return D_OVER;
    default: return D_DECLINE;
    }
}

static void reset(P *p, const u8 *sym, u32 end, u32 limit) {
    p->sym = sym;
    p->end = end;
    p->pos = 0;
    p->depth = 0;
    p->printing = 1;
    p->bound = 0;
    p->start = p->len;
    p->extra = 0;
    p->limit = limit;
    p->err = 0;
}

/* v0_instantiating_crate, the main path printed again first (a name with a cut suffix,
   whose idents may reach into it) or continued from `main_pos` with `main_len` bytes of
   main path counted. Writes the crate's text; returns its status. */
static int v0_crate(P *p, const u8 *sym, u32 n, int again, u32 main_pos, u32 main_len) {
    reset(p, sym, n, MAX_OUTPUT);
    if (again) {
        print_path(p, 1);
        if (p->err) { p->len = p->start; return status_of(p->err); }
        main_pos = p->pos;
        main_len = p->len - p->start;
        p->len = p->start; /* drop it: only its length is counted */
    }
    if (!is_upper(sym[main_pos])) return D_NONE;
    p->pos = main_pos;
    p->extra = main_len;
    p->depth = 0;
    p->bound = 0;
    print_path(p, 0);
    if (p->err) { p->len = p->start; return status_of(p->err); }
    return p->len > p->start ? D_OK : D_NONE;
}

typedef struct {
    u32 names;      /* NUL-terminated names, back to back */
    u32 starts;     /* count + 1 u32: each name's offset in `names`, then the end (names are NUL-ended) */
    u32 count;
    u32 limit;      /* output limit per name; 0 = each name's module share (demangle_all's first pass) */
    u32 flags;      /* 1: also the v0 instantiating crate; 2: the generic (monos.generic_of); 4: crates.crate_of */
    u32 results;    /* 4 u32 per name: status of its demangled text, its instantiating crate, its
                       generic, its crate (crate_of) */
    u32 out;        /* output area: per name its four texts, each ended by a NUL (empty unless D_OK) */
    u32 out_cap;
} Args;

static u32 result[2]; /* names done, output bytes */

__attribute__((export_name("result_ptr"))) u32 *result_ptr(void) { return result; }

/* One name's three texts into the output area; 0 when the area is full. */
static int one(P *p, const Args *a, const u8 *sym, u32 n, u32 *r) {
    u32 limit = a->limit;
    if (!limit) {
        u64 share = (u64)SHARE_PER_CHAR * n + SHARE_PER_NAME;
        limit = share > MAX_OUTPUT ? MAX_OUTPUT : (u32)share;
    }
    u32 first = p->len;
    r[0] = r[1] = r[2] = r[3] = D_NONE;
    u32 cut = llvm_cut(sym, n);
    int status = D_NONE;
    u32 main_pos = 0, main_len = 0;
    int main_ok = 0;
    if (cut >= 3 && sym[0] == '_' && sym[1] == 'Z' && sym[2] == 'N') {
        reset(p, sym, cut, limit);
        u32 suffix = 0;
        status = legacy(p, sym + 3, cut - 3, &suffix);
        if (p->err == E_NOSPACE) return 0;
        if (status == D_OK && !suffix_ok(sym + 3, suffix, cut - 3)) status = D_NONE;
        else if (status == D_OK) {
            put(p, (const char *)sym + 3 + suffix, cut - 3 - suffix);
            if (p->err) return 0;
        }
    } else if (cut >= 2 && sym[0] == '_' && sym[1] == 'R') {
        const u8 *inner = sym + 2;
        u32 m = cut - 2;
        /* the inner symbol must end at the cut: a sentinel there (restored below) */
        u8 *end = (u8 *)inner + m;
        u8 saved = *end;
        *end = 0;
        if (m && is_upper(inner[0])) {
            reset(p, inner, m, limit);
            print_path(p, 1);
            if (!p->err) {
                main_ok = 1;
                main_pos = p->pos;
                main_len = p->len - p->start;
                if (is_upper(inner[p->pos])) {
                    /* the instantiating crate: parsed, never printed, from a fresh state */
                    p->depth = 0;
                    p->bound = 0;
                    skip_path(p);
                }
            }
            if (!p->err) {
                int ok = suffix_ok(inner, p->pos, m);
                if (ok) put(p, (const char *)inner + p->pos, m - p->pos);
                status = p->err ? D_DECLINE : ok ? D_OK : D_NONE;
            } else {
                status = status_of(p->err);
            }
        }
        *end = saved;
        if (p->err == E_NOSPACE) return 0;
    }
    if (status != D_OK) p->len = first;
    u32 tlen = p->len - first;
    p->err = 0;
    p->printing = 1;
    putc_(p, 0);
    if (p->err) return 0;
    r[0] = (u32)status;
    if ((a->flags & 1) && n > 2 && sym[0] == '_' && sym[1] == 'R') {
        /* v0_instantiating_crate(sym): the main path with the per-name limit; the demangle
           pass printed it (a name without a cut suffix, printed whole within its limit, so
           as with the per-name one): continue from it, else print it again */
        u32 c0 = p->len;
        int cs = cut == n && main_ok ? v0_crate(p, sym + 2, n - 2, 0, main_pos, main_len)
                                     : v0_crate(p, sym + 2, n - 2, 1, 0, 0);
        if (p->err == E_NOSPACE) return 0;
        if (cs != D_OK) p->len = c0;
        r[1] = (u32)cs;
    }
    p->err = 0;
    p->printing = 1;
    putc_(p, 0);
    if (p->err) return 0;
    if ((a->flags & 2) && status == D_OK) {
        u32 g0 = p->len;
        if ((u64)4 * tlen + 1 > p->cap - p->len) return 0;
        i64 gl = generic_of(p->out + first, tlen, p->out + g0);
        r[2] = gl < 0 ? D_DECLINE : D_OK;
        p->len = g0 + (gl < 0 ? 0 : (u32)gl);
    }
    putc_(p, 0);
    if (p->err) return 0;
    if ((a->flags & 4) && status == D_OK) {
        u32 k0 = p->len;
        if ((u64)tlen + 1 > p->cap - p->len) return 0;
        i64 kl = crate_of(p->out + first, tlen, p->out + k0);
        r[3] = kl < 0 ? D_DECLINE : D_OK;
        p->len = k0 + (kl < 0 ? 0 : (u32)kl);
    }
    putc_(p, 0);
    return !p->err;
}

/* Demangles names[0..count) (stops early when the output area is full: result[0] is
   how many were done, result[1] the bytes of output). */
__attribute__((export_name("demangle"))) void demangle(const Args *a) {
    const u8 *names = (const u8 *)a->names;
    const u32 *starts = (const u32 *)a->starts;
    u32 *res = (u32 *)a->results;
    P p;
    p.out = (u8 *)a->out;
    p.cap = a->out_cap;
    p.len = 0;
    u32 i;
    for (i = 0; i < a->count; i++) {
        u32 *r = res + 4 * i;
        u32 first = p.len;
        if (one(&p, a, names + starts[i], starts[i + 1] - starts[i] - 1, r)) continue;
        p.len = first;
        if (first) break; /* the caller calls again from here with an empty area */
        /* alone too big for the area: the Python demangler's */
        r[0] = r[1] = r[2] = r[3] = D_DECLINE;
        p.out[0] = p.out[1] = p.out[2] = p.out[3] = 0;
        p.len = 4;
    }
    result[0] = i;
    result[1] = p.len;
}
