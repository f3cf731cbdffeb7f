/*
 * Manager values: Python 3.11's repr (shmrt/mvalue.h), so that C programs print what
 * Python prints.
 *
 * Output goes to a sink: a caller's buffer (snprintf's contract: truncated and
 * NUL-terminated, the full length counted) or a FILE.
 *
 * Floats (float_repr in Objects/floatobject.c, format code 'r'): the shortest digit
 * string that reads back as the same double, then fixed notation when the decimal
 * exponent e of the first digit is -4 <= e < 16, exponent notation otherwise
 * ("1e+16", "1.5e-05": at least two exponent digits), a fixed number without a
 * fraction gaining ".0". The digits: for p = 1..17, glibc's correctly rounded p-digit
 * form (%.*e) is the nearest p-digit decimal; if it does not read back, the nearest one
 * on the other side of the value may (the interval of decimals that read back is not
 * centred on a power of two), so it is tried too. The first p that reads back gives
 * the shortest digits, and among two candidates of that length the nearer, which is
 * what David Gay's mode 0, Python's, returns. glibc's printf and strtod are exact and
 * round ties to even, as Gay's code does. They follow LC_NUMERIC: the calls run under
 * the C locale (uselocale, per thread), so a program's locale never turns "0.25" into
 * "0,25".
 *
 * Strings (unicode_repr): single quotes unless the string holds a ' and no ", escapes
 * \\, the quote, \t, \n, \r; other code points below 0x20 and 0x7f as \xhh; above 0x7f,
 * printable ones (str.isprintable(), mvalue_unicode.c) as their UTF-8, others as \xhh,
 * \uhhhh or \Uhhhhhhhh. Bytes (bytes_repr): b'...' with the same quote choice, \\,
 * the quote, \t, \n, \r, and \xhh for bytes below 0x20 or from 0x7f.
 *
 * Memory ordering: none; nothing here is shared between processes.
 */
#define _GNU_SOURCE
#include "mvalue_int.h"
#include "base/compiler.h"

#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- floats ------------------------------------------------------------------------- */

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* x's shortest round-trip digits (no dot, no trailing zeros) into d, and the decimal
 * exponent of the first digit into *exp10. x finite and non-zero, positive. */
static int shortest_digits(double x, char d[24], int *exp10)
{
	char b[40];
	uint64_t lo = 1; /* 10^(p-1) */
	for (int p = 1; p <= 17; p++, lo *= 10) {
		snprintf(b, sizeof(b), "%.*e", p - 1, x);
		/* b is "D.DDDe+XX" (or "De+XX"): m, the p digits as an integer, and e,
		 * the exponent of the first; the last digit's is e - (p - 1). */
		char *e = strchr(b, 'e');
		int ex = atoi(e + 1), last = ex - (p - 1);
		uint64_t m = 0;
		for (char *c = b; c < e; c++)
			if (*c != '.')
				m = m * 10 + (uint64_t)(*c - '0');
		double back = strtod(b, NULL);
		if (back != x) {
			/* The nearest p-digit decimal on the other side of x, which may
			 * cross a power of ten (9.99 below 10.0, 1.00 above 9.99). */
			if (back < x && ++m == lo * 10)
				m = lo, last++;
			else if (back > x && --m < lo)
				m = lo * 10 - 1, last--;
			snprintf(b, sizeof(b), "%" PRIu64 "e%d", m, last);
			if (strtod(b, NULL) != x)
				continue;
			ex = last + p - 1;
		}
		int n = snprintf(d, 24, "%" PRIu64, m);
		while (n > 1 && d[n - 1] == '0')
			d[--n] = '\0';
		*exp10 = ex;
		return n;
	}
	abort(); /* unreachable: 17 significant digits always read back */
}

int shmrt_mv_float_repr(double x, char buf[32])
{
	if (isnan(x) || isinf(x)) {
		strcpy(buf, isnan(x) ? "nan" : x > 0 ? "inf" : "-inf");
		return (int)strlen(buf);
	}
	char *o = buf;
	if (signbit(x)) {
		*o++ = '-';
		x = -x;
	}
	if (x == 0) {
		strcpy(o, "0.0");
		return (int)(o - buf) + 3;
	}
	pthread_once(&c_locale_once, c_locale_init);
	locale_t old = c_locale ? uselocale(c_locale) : (locale_t)0;
	char d[24];
	int e, n = shortest_digits(x, d, &e);
	if (old)
		uselocale(old);
	if (e < -4 || e >= 16) {
		*o++ = d[0];
		if (n > 1) {
			*o++ = '.';
			memcpy(o, d + 1, (size_t)n - 1);
			o += n - 1;
		}
		o += sprintf(o, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
	} else if (e < 0) {
		*o++ = '0';
		*o++ = '.';
		for (int i = -1; i > e; i--)
			*o++ = '0';
		memcpy(o, d, (size_t)n);
		o += n;
	} else if (e + 1 >= n) {
		memcpy(o, d, (size_t)n);
		o += n;
		for (int i = n; i <= e; i++)
			*o++ = '0';
		*o++ = '.';
		*o++ = '0';
	} else {
		memcpy(o, d, (size_t)e + 1);
		o += e + 1;
		*o++ = '.';
		memcpy(o, d + e + 1, (size_t)(n - e - 1));
		o += n - e - 1;
	}
	*o = '\0';
	return (int)(o - buf);
}

/* ---- sinks -------------------------------------------------------------------------- */

struct sink {
	char *buf;      /* buffer mode: buf, cap */
	size_t cap;
	size_t len;     /* bytes produced so far (buffer mode: all, stored or not) */
	FILE *f;        /* file mode */
	bool err;       /* a write to f failed */
};

static void out(struct sink *k, const char *s, size_t n)
{
	if (k->f) {
		if (n && fwrite(s, 1, n, k->f) != n)
			k->err = true;
	} else if (k->len < k->cap) {
		size_t room = k->cap - k->len;
		memcpy(k->buf + k->len, s, n < room ? n : room);
	}
	k->len += n;
}

static inline void outs(struct sink *k, const char *s)
{
	out(k, s, strlen(s));
}

static inline void outc(struct sink *k, char c)
{
	out(k, &c, 1);
}

/* ---- str and bytes ------------------------------------------------------------------ */

static const char hexd[] = "0123456789abcdef";

static char pick_quote(const char *s, size_t n)
{
	return memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
}

/* Writes \x, \u or \U and cp in that many hex digits. */
static void out_esc(struct sink *k, uint32_t cp)
{
	char b[10];
	int w = cp < 0x100 ? 2 : cp < 0x10000 ? 4 : 8;
	b[0] = '\\';
	b[1] = w == 2 ? 'x' : w == 4 ? 'u' : 'U';
	for (int i = 0; i < w; i++)
		b[2 + i] = hexd[(cp >> (4 * (w - 1 - i))) & 0xf];
	out(k, b, 2 + (size_t)w);
}

/* Writes the escape of ASCII (or byte) c if it needs one; false if it does not. */
static bool out_ascii(struct sink *k, uint8_t c, char q)
{
	switch (c) {
	case '\\': out(k, "\\\\", 2); return true;
	case '\t': out(k, "\\t", 2); return true;
	case '\n': out(k, "\\n", 2); return true;
	case '\r': out(k, "\\r", 2); return true;
	}
	if (c == (uint8_t)q) {
		char b[2] = { '\\', q };
		out(k, b, 2);
		return true;
	}
	if (c < 0x20 || c >= 0x7f) {
		out_esc(k, c);
		return true;
	}
	return false;
}

static void repr_str(struct sink *k, const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s, *end = p + n, *run = p;
	char q = pick_quote(s, n);
	outc(k, q);
	while (p < end) {
		uint8_t c = *p;
		if (c < 0x80) {
			if (c >= 0x20 && c < 0x7f && c != '\\' && c != (uint8_t)q) {
				p++;
				continue;
			}
			out(k, (const char *)run, (size_t)(p - run));
			out_ascii(k, c, q);
			run = ++p;
			continue;
		}
		/* Valid UTF-8 (checked when the str was made). */
		int len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
		uint32_t cp = c & (0x7f >> len);
		for (int i = 1; i < len; i++)
			cp = cp << 6 | (p[i] & 0x3f);
		if (shmrt__mv_printable(cp)) {
			p += len;
			continue;
		}
		out(k, (const char *)run, (size_t)(p - run));
		out_esc(k, cp);
		run = p += len;
	}
	out(k, (const char *)run, (size_t)(p - run));
	outc(k, q);
}

static void repr_bytes(struct sink *k, const char *s, size_t n)
{
	char q = pick_quote(s, n);
	outc(k, 'b');
	outc(k, q);
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = (uint8_t)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\\' && c != (uint8_t)q)
			continue;
		out(k, s + run, i - run);
		out_ascii(k, c, q);
		run = i + 1;
	}
	out(k, s + run, n - run);
	outc(k, q);
}

/* ---- the tree ----------------------------------------------------------------------- */

static int repr_rec(struct sink *k, const shmrt_mv_t *v, unsigned depth)
{
	char b[32];
	int rc;
	switch (v->kind) {
	case SHMRT_MV_NIL: outs(k, "None"); return 0;
	case SHMRT_MV_BOOL: outs(k, v->u.b ? "True" : "False"); return 0;
	case SHMRT_MV_INT: out(k, b, (size_t)snprintf(b, sizeof(b), "%" PRId64, v->u.i)); return 0;
	case SHMRT_MV_FLOAT: out(k, b, (size_t)shmrt_mv_float_repr(v->u.f, b)); return 0;
	case SHMRT_MV_REF:
		out(k, b, (size_t)snprintf(b, sizeof(b), "<ref %" PRIu64 ">", v->u.ref));
		return 0;
	case SHMRT_MV_STR: repr_str(k, v->u.s.p, v->u.s.n); return 0;
	case SHMRT_MV_BYTES: repr_bytes(k, v->u.s.p, v->u.s.n); return 0;
	case SHMRT_MV_LIST:
		if (depth >= SHMRT_MV_DEPTH_MAX)
			return -ELOOP;
		outc(k, '[');
		for (uint32_t i = 0; i < v->u.l.len; i++) {
			if (i)
				out(k, ", ", 2);
			if ((rc = repr_rec(k, v->u.l.items[i], depth + 1)))
				return rc;
		}
		outc(k, ']');
		return 0;
	default: {
		if (depth >= SHMRT_MV_DEPTH_MAX)
			return -ELOOP;
		size_t pos = 0;
		const shmrt_mv_t *key;
		shmrt_mv_t *val;
		bool first = true;
		outc(k, '{');
		while (shmrt_mv_map_next(v, &pos, &key, &val)) {
			if (!first)
				out(k, ", ", 2);
			first = false;
			if ((rc = repr_rec(k, key, depth + 1)))
				return rc;
			out(k, ": ", 2);
			if ((rc = repr_rec(k, val, depth + 1)))
				return rc;
		}
		outc(k, '}');
		return 0;
	}
	}
}

ssize_t shmrt_mv_repr(const shmrt_mv_t *v, char *buf, size_t cap)
{
	if (!v || (!buf && cap))
		return -EINVAL;
	struct sink k = { buf, cap, 0, NULL, false };
	int rc = repr_rec(&k, v, 0);
	if (cap)
		buf[k.len < cap ? k.len : cap - 1] = '\0';
	return rc ? rc : (ssize_t)k.len;
}

int shmrt_mv_repr_file(const shmrt_mv_t *v, FILE *f)
{
	if (!v || !f)
		return -EINVAL;
	struct sink k = { NULL, 0, 0, f, false };
	int rc = repr_rec(&k, v, 0);
	return rc ? rc : k.err ? -EIO : 0;
}
