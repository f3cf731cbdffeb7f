/*
 * Manager values (shmrt/mvalue.h): the tree, Python's dict semantics, the msgpack
 * codec and every refusal of its decoder, and repr compared with Python's own.
 *
 * The repr and float tests run Debian's python3 (3.11, the version the repr follows)
 * on the same values, written as Python expressions, and compare line by line; a
 * table of literal expectations (from python3 once, see t_repr_table) runs without it.
 *
 * Outside the sanitizer builds, this program interposes malloc (forwarding to glibc's)
 * to count allocations: the five-byte bombs must allocate (almost) nothing, and every
 * allocation failure, injected one by one, must give -ENOMEM or NULL and leak nothing.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include "../fuzz/mvalue_fuzz_common.h"

#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- malloc accounting ---------------------------------------------------------- */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HOOKS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define HOOKS 0
#endif
#endif
#ifndef HOOKS
#define HOOKS 1
#endif

static struct {
	bool on;
	long fail_at;     /* > 0: the fail_at-th allocation from now fails */
	long live;        /* allocations minus frees while on */
	size_t cur, peak; /* bytes (usable sizes) while on */
} H;

#if HOOKS
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static bool hook_fail(void)
{
	return H.on && H.fail_at > 0 && --H.fail_at == 0;
}

static void hook_add(void *p)
{
	if (!H.on || !p)
		return;
	H.live++;
	H.cur += malloc_usable_size(p);
	if (H.cur > H.peak)
		H.peak = H.cur;
}

static void hook_sub(void *p)
{
	if (!H.on || !p)
		return;
	H.live--;
	H.cur -= malloc_usable_size(p);
}

void *malloc(size_t n)
{
	if (hook_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	void *p = __libc_malloc(n);
	hook_add(p);
	return p;
}

void *calloc(size_t a, size_t b)
{
	if (hook_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	void *p = __libc_calloc(a, b);
	hook_add(p);
	return p;
}

void *realloc(void *o, size_t n)
{
	if (hook_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	size_t old = o ? malloc_usable_size(o) : 0;
	void *p = __libc_realloc(o, n);
	if (H.on && p) {
		if (!o)
			H.live++;
		H.cur += malloc_usable_size(p) - old;
		if (H.cur > H.peak)
			H.peak = H.cur;
	}
	return p;
}

void free(void *p)
{
	hook_sub(p);
	__libc_free(p);
}
#endif

static void hook_start(long fail_at)
{
	H.fail_at = fail_at;
	H.live = 0;
	H.cur = H.peak = 0;
	H.on = true;
}

static void hook_stop(void)
{
	H.on = false;
}

/* ---- helpers ---------------------------------------------------------------------- */

static char *repr(const shmrt_mv_t *v)
{
	static char b[1 << 20];
	ssize_t n = shmrt_mv_repr(v, b, sizeof(b));
	assert_true(n >= 0 && (size_t)n < sizeof(b));
	return b;
}

static void check_repr(shmrt_mv_t *v, const char *want)
{
	assert_non_null(v);
	assert_string_equal(repr(v), want);
	shmrt_mv_free(v);
}

/* Decodes hex input (spaces ignored) with the default limits. */
static int dec_hex(const char *hex, shmrt_mv_t **out)
{
	uint8_t b[256];
	size_t n = 0;
	for (const char *h = hex; *h; h++) {
		if (*h == ' ')
			continue;
		unsigned x;
		assert_int_equal(sscanf(h, "%2x", &x), 1);
		b[n++] = (uint8_t)x;
		h++;
	}
	return shmrt_mv_decode(b, n, NULL, out);
}

static int dec_rc(const char *hex)
{
	shmrt_mv_t *v = NULL;
	int rc = dec_hex(hex, &v);
	if (!rc)
		shmrt_mv_free(v);
	return rc;
}

/* Encodes v (freed) and compares with hex. */
static void check_enc(shmrt_mv_t *v, const char *hex)
{
	shmrt_mv_buf_t b = { 0 };
	char got[512] = "";
	assert_int_equal(shmrt_mv_encode(v, &b), 0);
	for (size_t i = 0; i < b.len && i < 200; i++)
		sprintf(got + 2 * i, "%02x", b.data[i]);
	assert_string_equal(got, hex);
	shmrt_mv_t *back;
	assert_int_equal(shmrt_mv_decode(b.data, b.len, NULL, &back), 0);
	assert_true(shmrt_mv_identical(v, back));
	shmrt_mv_free(back);
	shmrt_mv_buf_free(&b);
	shmrt_mv_free(v);
}

static shmrt_mv_t *KI(int64_t i)
{
	return shmrt_mv_int(i);
}

static shmrt_mv_t *KS(const char *s)
{
	return shmrt_mv_str(s);
}

/* ---- scalars and lists ------------------------------------------------------------ */

static void t_scalars(void **s)
{
	(void)s;
	shmrt_mv_t *v = shmrt_mv_int(-7);
	int64_t i = 0;
	double d = 0;
	bool b = false;
	uint64_t id = 0;
	const char *p;
	size_t n;
	assert_int_equal(shmrt_mv_kind(v), SHMRT_MV_INT);
	assert_int_equal(shmrt_mv_as_int(v, &i), 0);
	assert_int_equal(i, -7);
	assert_int_equal(shmrt_mv_as_float(v, &d), -EPROTOTYPE);
	assert_int_equal(shmrt_mv_as_int(NULL, &i), -EINVAL);
	shmrt_mv_free(v);
	v = shmrt_mv_bool(true);
	assert_int_equal(shmrt_mv_as_int(v, &i), -EPROTOTYPE); /* a bool is not an int here */
	assert_int_equal(shmrt_mv_as_bool(v, &b), 0);
	assert_true(b);
	shmrt_mv_free(v);
	v = shmrt_mv_float(0.5);
	assert_int_equal(shmrt_mv_as_float(v, &d), 0);
	assert_true(d == 0.5);
	shmrt_mv_free(v);
	v = shmrt_mv_ref(1ull << 63);
	assert_int_equal(shmrt_mv_as_ref(v, &id), 0);
	assert_true(id == 1ull << 63);
	assert_string_equal(shmrt_mv_kind_name(shmrt_mv_kind(v)), "ref");
	shmrt_mv_free(v);
	v = shmrt_mv_strn("a\0b", 3);
	assert_int_equal(shmrt_mv_as_str(v, &p, &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(p, "a\0b", 4); /* NUL-terminated after its bytes */
	assert_int_equal(shmrt_mv_as_bytes(v, (const void **)&p, &n), -EPROTOTYPE);
	shmrt_mv_free(v);
	errno = 0;
	assert_null(shmrt_mv_str("\xc0\x80"));
	assert_int_equal(errno, EILSEQ);
	assert_null(shmrt_mv_strn("\xed\xa0\x80", 3)); /* a surrogate */
	assert_int_equal(errno, EILSEQ);
	assert_null(shmrt_mv_strn(NULL, 1));
	assert_int_equal(errno, EINVAL);
	v = shmrt_mv_bytes("\xff\x00", 2);
	assert_int_equal(shmrt_mv_as_bytes(v, (const void **)&p, &n), 0);
	assert_int_equal(n, 2);
	shmrt_mv_free(v);
	shmrt_mv_free(NULL);
}

static void t_list(void **s)
{
	(void)s;
	shmrt_mv_t *l = shmrt_mv_list(), *x, *o = shmrt_mv_list();
	for (int i = 0; i < 10; i++)
		assert_int_equal(shmrt_mv_list_append(l, KI(i)), 0);
	assert_int_equal(shmrt_mv_list_len(l), 10);
	assert_string_equal(repr(l), "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]");
	assert_int_equal(shmrt_mv_list_insert(l, 0, KI(-1)), 0);
	assert_int_equal(shmrt_mv_list_insert(l, 100, KI(99)), 0);  /* clamped: end */
	assert_int_equal(shmrt_mv_list_insert(l, -100, KI(-9)), 0); /* clamped: start */
	assert_int_equal(shmrt_mv_list_insert(l, -1, KI(42)), 0);   /* before the last */
	assert_string_equal(repr(l), "[-9, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 42, 99]");
	int64_t v;
	assert_int_equal(shmrt_mv_as_int(shmrt_mv_list_get(l, -1), &v), 0);
	assert_int_equal(v, 99);
	assert_null(shmrt_mv_list_get(l, 14));
	assert_null(shmrt_mv_list_get(l, -15));
	assert_int_equal(shmrt_mv_list_set(l, 1, KS("x")), 0);
	assert_int_equal(shmrt_mv_list_set(l, 14, KS("y")), -ERANGE); /* y freed */
	assert_int_equal(shmrt_mv_list_delete(l, 0), 0);
	assert_int_equal(shmrt_mv_list_delete(l, -1), 0);
	assert_int_equal(shmrt_mv_list_delete(l, 12), -ERANGE);
	assert_int_equal(shmrt_mv_list_pop(l, -1, &x), 0);
	assert_string_equal(repr(x), "42");
	assert_string_equal(repr(l), "['x', 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]");
	/* Ownership: a held value is refused and left alone; so is the list itself. */
	shmrt_mv_t *held = shmrt_mv_list_get(l, 0);
	assert_int_equal(shmrt_mv_list_append(o, held), -EINVAL);
	assert_int_equal(shmrt_mv_list_append(l, l), -EINVAL);
	assert_int_equal(shmrt_mv_list_append(l, NULL), -ENOMEM);
	assert_int_equal(shmrt_mv_list_append(x, KI(1)), -EINVAL); /* not a list */
	/* A popped value is the caller's again, and may go elsewhere. */
	assert_int_equal(shmrt_mv_list_append(o, x), 0);
	assert_int_equal(shmrt_mv_list_append(l, o), 0);
	assert_string_equal(repr(l), "['x', 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, [42]]");
	assert_int_equal(shmrt_mv_list_len(x), 0);
	shmrt_mv_free(l);
}

/* ---- maps ------------------------------------------------------------------------- */

static void t_map_semantics(void **s)
{
	(void)s;
	shmrt_mv_t *m = shmrt_mv_map(), *v, *k;
	/* The example, in insertion order. */
	assert_int_equal(shmrt_mv_map_set(m, KI(1), KS("1")), 0);
	assert_int_equal(shmrt_mv_map_set(m, KS("2"), KI(2)), 0);
	assert_int_equal(shmrt_mv_map_set(m, shmrt_mv_float(0.25), shmrt_mv_nil()), 0);
	assert_string_equal(repr(m), "{1: '1', '2': 2, 0.25: None}");
	/* 1, 1.0 and True are one key: the first key stays, the value changes. */
	assert_int_equal(shmrt_mv_map_set(m, shmrt_mv_bool(true), KS("t")), 0);
	assert_string_equal(repr(m), "{1: 't', '2': 2, 0.25: None}");
	assert_int_equal(shmrt_mv_map_set(m, shmrt_mv_float(1.0), KS("f")), 0);
	assert_string_equal(repr(m), "{1: 'f', '2': 2, 0.25: None}");
	assert_int_equal(shmrt_mv_map_len(m), 3);
	k = shmrt_mv_bool(true);
	assert_string_equal(repr(shmrt_mv_map_get(m, k)), "'f'");
	shmrt_mv_free(k);
	/* str '2' is not int 2, nor bytes b'2'. */
	k = KI(2);
	assert_null(shmrt_mv_map_get(m, k));
	shmrt_mv_free(k);
	k = shmrt_mv_bytes("2", 1);
	assert_null(shmrt_mv_map_get(m, k));
	shmrt_mv_free(k);
	assert_non_null(shmrt_mv_map_get_str(m, "2"));
	/* Delete then set again: to the end. */
	k = KI(1);
	assert_int_equal(shmrt_mv_map_delete(m, k), 0);
	assert_int_equal(shmrt_mv_map_delete(m, k), -ENOENT);
	shmrt_mv_free(k);
	assert_int_equal(shmrt_mv_map_set(m, shmrt_mv_float(1.0), KS("again")), 0);
	assert_string_equal(repr(m), "{'2': 2, 0.25: None, 1.0: 'again'}");
	/* -0.0 and 0 are one key; int64's edges against floats. */
	assert_int_equal(shmrt_mv_map_set(m, shmrt_mv_float(-0.0), KS("z")), 0);
	assert_int_equal(shmrt_mv_map_set(m, KI(0), KS("zero")), 0);
	assert_int_equal(shmrt_mv_map_set(m, shmrt_mv_bool(false), KS("F")), 0);
	assert_int_equal(shmrt_mv_map_set(m, KI(INT64_MIN), KS("min")), 0);
	assert_int_equal(shmrt_mv_map_set(m, shmrt_mv_float(-0x1p63), KS("-2**63")), 0);
	assert_int_equal(shmrt_mv_map_set(m, shmrt_mv_float(0x1p63), KS("2**63")), 0);
	assert_int_equal(shmrt_mv_map_set(m, KI((1ll << 53) + 1), KS("odd")), 0);
	assert_int_equal(shmrt_mv_map_set(m, shmrt_mv_float(0x1p53), KS("even")), 0);
	assert_string_equal(repr(m), "{'2': 2, 0.25: None, 1.0: 'again', -0.0: 'F', "
				     "-9223372036854775808: '-2**63', 9.223372036854776e+18: "
				     "'2**63', 9007199254740993: 'odd', 9007199254740992.0: "
				     "'even'}");
	/* NaN keys equal nothing: two entries. None is a key. */
	assert_int_equal(shmrt_mv_map_set(m, shmrt_mv_float(NAN), KI(1)), 0);
	assert_int_equal(shmrt_mv_map_set(m, shmrt_mv_float(NAN), KI(2)), 0);
	assert_int_equal(shmrt_mv_map_set(m, shmrt_mv_nil(), KI(3)), 0);
	assert_int_equal(shmrt_mv_map_len(m), 11);
	k = shmrt_mv_float(NAN);
	assert_null(shmrt_mv_map_get(m, k));
	assert_int_equal(shmrt_mv_map_delete(m, k), -ENOENT);
	shmrt_mv_free(k);
	/* Unhashable keys; held values; NULLs. */
	assert_int_equal(shmrt_mv_map_set(m, shmrt_mv_list(), KI(1)), -EINVAL);
	assert_int_equal(shmrt_mv_map_set(m, shmrt_mv_ref(1), KI(1)), -EINVAL);
	assert_int_equal(shmrt_mv_map_set(m, KI(5), NULL), -ENOMEM);
	assert_int_equal(shmrt_mv_map_set(m, KI(5), m), -EINVAL);
	k = shmrt_mv_list();
	assert_null(shmrt_mv_map_get(m, k));
	shmrt_mv_free(k);
	/* Pop hands the value over. */
	k = KS("2");
	assert_int_equal(shmrt_mv_map_pop(m, k, &v), 0);
	assert_string_equal(repr(v), "2");
	shmrt_mv_free(v);
	assert_int_equal(shmrt_mv_map_pop(m, k, &v), -ENOENT);
	shmrt_mv_free(k);
	/* Iteration in order, deleting as it goes. */
	size_t pos = 0, seen = 0;
	const shmrt_mv_t *key;
	while (shmrt_mv_map_next(m, &pos, &key, &v)) {
		seen++;
		if (shmrt_mv_kind(key) == SHMRT_MV_FLOAT && shmrt_mv_map_get(m, key) == v)
			assert_int_equal(shmrt_mv_map_delete(m, key), 0);
	}
	assert_int_equal(seen, 10);
	/* The NaN keys went too: a lookup with the map's own key object finds it (Python's
	 * identity check: `for k in d: del d[k]` works for a NaN key). */
	assert_string_equal(repr(m), "{-9223372036854775808: '-2**63', 9007199254740993: 'odd', "
				     "None: 3}");
	shmrt_mv_free(m);
}

/* Many keys: growth, deletes, reinsertion, order, and lookups that must be hashed
 * (a linear scan would take minutes here). */
static void t_map_big(void **s)
{
	(void)s;
	enum { N = 200000 };
	shmrt_mv_t *m = shmrt_mv_map(), *k;
	char b[32];
	for (int i = 0; i < N; i++) {
		snprintf(b, sizeof(b), "k%d", i);
		assert_int_equal(shmrt_mv_map_set(m, i % 2 ? KI(i) : KS(b), KI(i)), 0);
	}
	for (int i = 0; i < N; i += 3) {
		snprintf(b, sizeof(b), "k%d", i);
		k = i % 2 ? KI(i) : KS(b);
		assert_int_equal(shmrt_mv_map_delete(m, k), 0);
		shmrt_mv_free(k);
	}
	/* CPU time, not wall time: a loaded machine must not fail it. A scan per lookup
	 * (a hash that degenerated) would take minutes; a hashed lookup takes 1 s in all. */
	struct timespec c0, c1;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	for (int r = 0; r < 5; r++)
		for (int i = 0; i < N; i++) {
			snprintf(b, sizeof(b), "k%d", i);
			shmrt_mv_t *v = i % 2 ? shmrt_mv_map_get(m, (k = KI(i)))
					      : shmrt_mv_map_get_str(m, b);
			if (i % 2)
				shmrt_mv_free(k);
			int64_t x;
			if (i % 3 == 0) {
				assert_null(v);
			} else {
				assert_int_equal(shmrt_mv_as_int(v, &x), 0);
				assert_int_equal(x, i);
			}
		}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	assert_true(c1.tv_sec - c0.tv_sec < 20);
	/* Reinserted keys go to the end; the order of the others is kept. */
	k = KS("k0");
	assert_int_equal(shmrt_mv_map_set(m, k, KI(-1)), 0);
	size_t pos = 0, n = 0;
	const shmrt_mv_t *key;
	shmrt_mv_t *v;
	int64_t last = -1, x;
	while (shmrt_mv_map_next(m, &pos, &key, &v)) {
		assert_int_equal(shmrt_mv_as_int(v, &x), 0);
		if (x >= 0) {
			assert_true(x > last);
			last = x;
		}
		n++;
	}
	assert_int_equal(n, shmrt_mv_map_len(m));
	assert_int_equal(n, N - (N + 2) / 3 + 1);
	assert_int_equal(x, -1);
	/* Emptied, then refilled in place. */
	shmrt_mv_t *c = shmrt_mv_copy(m);
	assert_true(shmrt_mv_identical(c, m));
	pos = 0;
	while (shmrt_mv_map_next(c, &pos, &key, NULL))
		assert_int_equal(shmrt_mv_map_delete(c, key), 0);
	assert_int_equal(shmrt_mv_map_len(c), 0);
	assert_int_equal(shmrt_mv_map_set(c, KI(7), KI(8)), 0);
	assert_string_equal(repr(c), "{7: 8}");
	shmrt_mv_free(c);
	shmrt_mv_free(m);
}

static void t_equal_copy(void **s)
{
	(void)s;
	shmrt_mv_t *a = shmrt_mv_map(), *b = shmrt_mv_map(), *l = shmrt_mv_list();
	shmrt_mv_list_append(l, KI(1));
	shmrt_mv_list_append(l, shmrt_mv_float(2.0));
	shmrt_mv_map_set(a, KS("x"), l);
	shmrt_mv_map_set(a, KI(1), shmrt_mv_nil());
	l = shmrt_mv_list();
	shmrt_mv_list_append(l, shmrt_mv_float(1.0));
	shmrt_mv_list_append(l, KI(2));
	shmrt_mv_map_set(b, shmrt_mv_bool(true), shmrt_mv_nil());
	shmrt_mv_map_set(b, KS("x"), l);
	assert_true(shmrt_mv_equal(a, b));      /* {'x': [1, 2.0], 1: None} == {True: None, 'x': [1.0, 2]} */
	assert_false(shmrt_mv_identical(a, b));
	shmrt_mv_t *c = shmrt_mv_copy(a);
	assert_true(shmrt_mv_identical(a, c));
	assert_string_equal(repr(c), "{'x': [1, 2.0], 1: None}");
	shmrt_mv_map_set(c, KI(1), KI(0));
	assert_false(shmrt_mv_equal(a, c));
	shmrt_mv_free(c);
	/* NaN: unequal but identical; the same pointer is equal. */
	shmrt_mv_t *n1 = shmrt_mv_float(NAN), *n2 = shmrt_mv_float(NAN);
	assert_false(shmrt_mv_equal(n1, n2));
	assert_true(shmrt_mv_equal(n1, n1));
	assert_true(shmrt_mv_identical(n1, n2));
	shmrt_mv_free(n1);
	shmrt_mv_free(n2);
	n1 = shmrt_mv_strn("a", 1);
	n2 = shmrt_mv_bytes("a", 1);
	assert_false(shmrt_mv_equal(n1, n2));
	shmrt_mv_free(n1);
	shmrt_mv_free(n2);
	shmrt_mv_free(a);
	shmrt_mv_free(b);
}

/* A hand-built tree deeper than any walk allows: refused by the walks, freed anyway. */
static void t_deep(void **s)
{
	(void)s;
	shmrt_mv_t *root = shmrt_mv_list(), *cur = root;
	for (int i = 0; i < 100000; i++) {
		shmrt_mv_t *c = i % 2 ? shmrt_mv_list() : shmrt_mv_map();
		if (i % 2)
			assert_int_equal(shmrt_mv_map_set(cur, KI(i), c), 0);
		else
			assert_int_equal(shmrt_mv_list_append(cur, c), 0);
		cur = c;
	}
	shmrt_mv_buf_t b = { 0 };
	assert_int_equal(shmrt_mv_encode(root, &b), -ELOOP);
	assert_int_equal(b.len, 0);
	errno = 0;
	assert_null(shmrt_mv_copy(root));
	assert_int_equal(errno, ELOOP);
	char out[16];
	assert_int_equal(shmrt_mv_repr(root, out, sizeof(out)), -ELOOP);
	shmrt_mv_buf_free(&b);
	shmrt_mv_free(root);
}

/* ---- codec ---------------------------------------------------------------------- */

static void t_encode_forms(void **s)
{
	(void)s;
	check_enc(shmrt_mv_nil(), "c0");
	check_enc(shmrt_mv_bool(false), "c2");
	check_enc(shmrt_mv_bool(true), "c3");
	check_enc(KI(0), "00");
	check_enc(KI(127), "7f");
	check_enc(KI(128), "cc80");
	check_enc(KI(255), "ccff");
	check_enc(KI(256), "cd0100");
	check_enc(KI(65536), "ce00010000");
	check_enc(KI(4294967296), "cf0000000100000000");
	check_enc(KI(INT64_MAX), "cf7fffffffffffffff");
	check_enc(KI(-1), "ff");
	check_enc(KI(-32), "e0");
	check_enc(KI(-33), "d0df");
	check_enc(KI(-129), "d1ff7f");
	check_enc(KI(-32769), "d2ffff7fff");
	check_enc(KI(INT64_MIN), "d38000000000000000");
	check_enc(shmrt_mv_float(1.5), "cb3ff8000000000000");
	check_enc(shmrt_mv_float(-0.0), "cb8000000000000000");
	check_enc(KS(""), "a0");
	check_enc(KS("abc"), "a3616263");
	check_enc(shmrt_mv_bytes("\x01", 1), "c40101");
	check_enc(shmrt_mv_ref(0x0102030405060708), "d7010102030405060708");
	check_enc(shmrt_mv_list(), "90");
	check_enc(shmrt_mv_map(), "80");
	shmrt_mv_t *m = shmrt_mv_map();
	shmrt_mv_map_set(m, KS("a"), shmrt_mv_list());
	shmrt_mv_list_append(shmrt_mv_map_get_str(m, "a"), KI(1));
	check_enc(m, "81a1619101");
	/* Length forms at their edges (headers checked, bodies round-tripped). */
	static const struct { size_t n; const char *str, *bin, *arr, *map; } e[] = {
		{ 15, "af", "c40f", "9f", "8f" },
		{ 16, "b0", "c410", "dc0010", "de0010" },
		{ 31, "bf", "c41f", "dc001f", "de001f" },
		{ 32, "d920", "c420", "dc0020", "de0020" },
		{ 255, "d9ff", "c4ff", "dc00ff", "de00ff" },
		{ 256, "da0100", "c50100", "dc0100", "de0100" },
		{ 65535, "daffff", "c5ffff", "dcffff", "deffff" },
		{ 65536, "db00010000", "c600010000", "dd00010000", "df00010000" },
	};
	for (size_t i = 0; i < sizeof(e) / sizeof(e[0]); i++) {
		char *body = malloc(e[i].n + 1);
		memset(body, 'x', e[i].n);
		body[e[i].n] = 0;
		shmrt_mv_t *v[4] = { shmrt_mv_strn(body, e[i].n), shmrt_mv_bytes(body, e[i].n),
				     shmrt_mv_list_cap(e[i].n), shmrt_mv_map_cap(e[i].n) };
		for (size_t j = 0; j < e[i].n; j++) {
			shmrt_mv_list_append(v[2], shmrt_mv_nil());
			shmrt_mv_map_set(v[3], KI((int64_t)j), shmrt_mv_nil());
		}
		const char *want[4] = { e[i].str, e[i].bin, e[i].arr, e[i].map };
		for (int j = 0; j < 4; j++) {
			shmrt_mv_buf_t b = { 0 };
			char got[16] = "";
			assert_int_equal(shmrt_mv_encode(v[j], &b), 0);
			for (size_t x = 0; x < strlen(want[j]) / 2; x++)
				sprintf(got + 2 * x, "%02x", b.data[x]);
			assert_string_equal(got, want[j]);
			shmrt_mv_t *back;
			assert_int_equal(shmrt_mv_decode(b.data, b.len, NULL, &back), 0);
			assert_true(shmrt_mv_identical(back, v[j]));
			shmrt_mv_free(back);
			shmrt_mv_free(v[j]);
			shmrt_mv_buf_free(&b);
		}
		free(body);
	}
}

static void t_decode_accepts(void **s)
{
	(void)s;
	shmrt_mv_t *v;
	/* Non-minimal forms, float 32, ext 8 for a ref, str 8 for a short str. */
	assert_int_equal(dec_hex("cf 0000000000000005", &v), 0);
	check_repr(v, "5");
	assert_int_equal(dec_hex("d3 ffffffffffffffff", &v), 0);
	check_repr(v, "-1");
	assert_int_equal(dec_hex("ca 3fc00000", &v), 0);
	check_repr(v, "1.5");
	assert_int_equal(dec_hex("c7 08 01 000000000000002a", &v), 0);
	check_repr(v, "<ref 42>");
	assert_int_equal(dec_hex("d9 02 6869", &v), 0);
	check_repr(v, "'hi'");
	assert_int_equal(dec_hex("cf 7fffffffffffffff", &v), 0);
	check_repr(v, "9223372036854775807");
	/* Duplicate keys: first key, last value (Python's {1: 'a', 1.0: 'b'}). */
	assert_int_equal(dec_hex("82 01 a161 cb3ff0000000000000 a162", &v), 0);
	check_repr(v, "{1: 'b'}");
	/* A map whose value is a container, under a duplicate key too. */
	assert_int_equal(dec_hex("82 01 9101 01 920203", &v), 0);
	check_repr(v, "{1: [2, 3]}");
	/* The prefix form says where the value ended. */
	uint8_t two[] = { 0x92, 0x01, 0x02, 0xc0, 0xc3 };
	size_t used = 0;
	assert_int_equal(shmrt_mv_decode_prefix(two, sizeof(two), NULL, &v, &used), 0);
	assert_int_equal(used, 3);
	check_repr(v, "[1, 2]");
	assert_int_equal(shmrt_mv_decode(two, sizeof(two), NULL, &v), -EBADMSG);
	/* Exactly max_depth levels pass. */
	uint8_t deep[64];
	memset(deep, 0x91, 63);
	deep[63] = 0x90;
	assert_int_equal(shmrt_mv_decode(deep, 64, NULL, &v), 0);
	shmrt_mv_free(v);
}

static void t_decode_rejects(void **s)
{
	(void)s;
	shmrt_mv_t *v = NULL;
	/* Counts and lengths over the bytes left: the five-byte bombs. */
	static const char *bombs[] = { "dd ffffffff", "df ffffffff", "db ffffffff", "c6 ffffffff",
				       "c9 ffffffff 01", "dc ffff", "de 0002 01", "92 01",
				       "a5 6162", "c4 05 00", "d8 01 00", "81 01" };
	for (size_t i = 0; i < sizeof(bombs) / sizeof(bombs[0]); i++) {
		hook_start(0);
		int rc = dec_rc(bombs[i]);
		hook_stop();
		assert_int_equal(rc, -EBADMSG);
		if (HOOKS) {
			assert_true(H.peak <= 512);
			assert_int_equal(H.live, 0);
		}
	}
	/* Truncated: every proper prefix of a valid encoding. */
	shmrt_mv_t *m = shmrt_mv_map();
	shmrt_mv_map_set(m, KS("key"), shmrt_mv_float(0.1));
	shmrt_mv_map_set(m, KI(300), shmrt_mv_bytes("ab", 2));
	shmrt_mv_map_set(m, KI(-70000), shmrt_mv_ref(9));
	shmrt_mv_map_set(m, shmrt_mv_nil(), shmrt_mv_list());
	shmrt_mv_list_append(shmrt_mv_map_get(m, v = shmrt_mv_nil()), KS("\xc3\xa9"));
	shmrt_mv_free(v);
	shmrt_mv_buf_t b = { 0 };
	assert_int_equal(shmrt_mv_encode(m, &b), 0);
	for (size_t n = 0; n < b.len; n++) {
		assert_int_equal(shmrt_mv_decode(b.data, n, NULL, &v), -EBADMSG);
		assert_int_equal(shmrt_mv_decode_prefix(b.data, n, NULL, &v, &(size_t){ 0 }),
				 -EBADMSG);
	}
	assert_int_equal(shmrt_mv_decode(b.data, b.len, NULL, &v), 0);
	assert_true(shmrt_mv_identical(v, m));
	shmrt_mv_free(v);
	/* Limits: bytes, elements, depth. */
	shmrt_mv_limits_t lim = { .max_bytes = b.len - 1 };
	assert_int_equal(shmrt_mv_decode(b.data, b.len, &lim, &v), -EMSGSIZE);
	lim = (shmrt_mv_limits_t){ .max_elems = 9 }; /* the map, 8 keys and values, 'é' */
	assert_int_equal(shmrt_mv_decode(b.data, b.len, &lim, &v), -E2BIG);
	lim.max_elems = 10;
	assert_int_equal(shmrt_mv_decode(b.data, b.len, &lim, &v), 0);
	shmrt_mv_free(v);
	lim = (shmrt_mv_limits_t){ .max_depth = 1 };
	assert_int_equal(shmrt_mv_decode(b.data, b.len, &lim, &v), -ELOOP);
	lim.max_depth = SHMRT_MV_DEPTH_MAX + 1;
	assert_int_equal(shmrt_mv_decode(b.data, b.len, &lim, &v), -EINVAL);
	shmrt_mv_buf_free(&b);
	shmrt_mv_free(m);
	/* 10^5 nested arrays (and maps): the depth limit, no recursion, nothing leaked. */
	size_t n = 100000;
	uint8_t *nest = malloc(n + 1);
	for (int kind = 0; kind < 3; kind++) {
		for (size_t i = 0; i < n; i++)
			nest[i] = kind == 0 ? 0x91 : kind == 1 ? (i % 2 ? 0x91 : 0x81) : 0xdc;
		nest[n] = 0xc0;
		if (kind == 1)
			for (size_t i = 0; i < n; i += 2)
				nest[i + 1] = 0x01, nest[i] = 0x81; /* {1: {1: ...}} */
		if (kind == 2)
			for (size_t i = 0; i + 3 <= n; i += 3)
				nest[i] = 0xdc, nest[i + 1] = 0, nest[i + 2] = 1;
		hook_start(0);
		int rc = shmrt_mv_decode(nest, n + 1, NULL, &v);
		hook_stop();
		assert_int_equal(rc, -ELOOP);
		if (HOOKS)
			assert_int_equal(H.live, 0);
		lim = (shmrt_mv_limits_t){ .max_depth = SHMRT_MV_DEPTH_MAX };
		assert_int_equal(shmrt_mv_decode(nest, n + 1, &lim, &v), -ELOOP);
	}
	free(nest);
	/* Invalid UTF-8 in a str; any bytes in a bin. */
	static const char *bad[] = { "a2 c080", "a3 e08080", "a3 eda080", "a4 f4908080",
				     "a1 80", "a2 e282", "a1 ff", "a4 f8888080", "a2 c1bf",
				     "91 a2 61c3", "81 a1 fe 01" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(dec_rc(bad[i]), -EILSEQ);
	assert_int_equal(dec_rc("c4 02 c080"), 0);
	assert_int_equal(dec_rc("a4 f09f9880"), 0); /* U+1F600 */
	assert_int_equal(dec_rc("a3 efbfbf"), 0);   /* U+FFFF is valid UTF-8 */
	/* Extensions: only the ref, and only with 8 bytes. */
	assert_int_equal(dec_rc("d4 02 00"), -ENOTSUP);
	assert_int_equal(dec_rc("d6 ff 00000000"), -ENOTSUP); /* timestamp 32 */
	assert_int_equal(dec_rc("c7 00 05"), -ENOTSUP);
	assert_int_equal(dec_rc("d6 01 00000000"), -EBADMSG);
	assert_int_equal(dec_rc("d8 01 00000000000000000000000000000000"), -EBADMSG);
	assert_int_equal(dec_rc("91 d7 02 0000000000000000"), -ENOTSUP);
	/* Other refusals. */
	assert_int_equal(dec_rc(""), -EBADMSG);
	assert_int_equal(dec_rc("c1"), -EBADMSG);
	assert_int_equal(dec_rc("91 c1"), -EBADMSG);
	assert_int_equal(dec_rc("cf 8000000000000000"), -ERANGE);
	/* A uint 64 above INT64_MAX anywhere: -ERANGE, the tree built so far freed (the
	 * sanitizer build checks it); INT64_MAX itself in its uint 64 form is an int. */
	assert_int_equal(dec_rc("93 01 a1 78 cf ffffffffffffffff"), -ERANGE);
	assert_int_equal(dec_rc("93 01 a4 63616c6c 92 81 a1 6b 91 cf 8000000000000001 c0"),
			 -ERANGE);
	assert_int_equal(dec_rc("82 a1 61 c0 cf 8000000000000000 c0"), -ERANGE); /* a key */
	assert_int_equal(dec_hex("cf 7fffffffffffffff", &v), 0);
	int64_t big;
	assert_int_equal(shmrt_mv_as_int(v, &big), 0);
	assert_int_equal(big, INT64_MAX);
	shmrt_mv_free(v);
	assert_int_equal(dec_rc("81 90 c0"), -EBADMSG);                /* {[]: None} */
	assert_int_equal(dec_rc("81 80 c0"), -EBADMSG);                /* {{}: None} */
	assert_int_equal(dec_rc("81 d7 01 0000000000000001 c0"), -EBADMSG); /* ref key */
	assert_int_equal(dec_rc("c0 c0"), -EBADMSG);                  /* trailing */
	assert_int_equal(dec_rc("90 00"), -EBADMSG);
	assert_int_equal(shmrt_mv_decode(NULL, 0, NULL, &v), -EINVAL);
}

/* Every allocation of a decode, a copy and an encode fails in turn: -ENOMEM or NULL,
 * nothing leaked. */
static void t_alloc_failures(void **s)
{
	(void)s;
	if (!HOOKS)
		skip();
	shmrt_mv_t *m = shmrt_mv_map(), *l = shmrt_mv_list(), *v;
	for (int i = 0; i < 40; i++) {
		char b[16];
		snprintf(b, sizeof(b), "s%d", i);
		shmrt_mv_list_append(l, i % 2 ? KS(b) : shmrt_mv_map());
		shmrt_mv_map_set(m, i % 3 ? KS(b) : KI(i), i % 4 ? shmrt_mv_float(i) : shmrt_mv_copy(l));
	}
	shmrt_mv_buf_t b = { 0 };
	assert_int_equal(shmrt_mv_encode(m, &b), 0);
	int failures = 0;
	for (long k = 1;; k++) {
		hook_start(k);
		int rc = shmrt_mv_decode(b.data, b.len, NULL, &v);
		long left = H.fail_at;
		if (!rc)
			shmrt_mv_free(v);
		hook_stop();
		assert_int_equal(H.live, 0);
		if (left) {
			assert_int_equal(rc, 0); /* ran out of allocations to fail */
			break;
		}
		assert_int_equal(rc, -ENOMEM);
		failures++;
	}
	for (long k = 1;; k++) {
		hook_start(k);
		errno = 0;
		v = shmrt_mv_copy(m);
		long left = H.fail_at;
		int e = errno;
		shmrt_mv_free(v);
		hook_stop();
		assert_int_equal(H.live, 0);
		if (left) {
			assert_non_null(v);
			break;
		}
		assert_null(v);
		assert_int_equal(e, ENOMEM);
		failures++;
	}
	for (long k = 1;; k++) {
		shmrt_mv_buf_t e = { 0 };
		hook_start(k);
		int rc = shmrt_mv_encode(m, &e);
		long left = H.fail_at;
		shmrt_mv_buf_free(&e);
		hook_stop();
		assert_int_equal(H.live, 0);
		if (left) {
			assert_int_equal(rc, 0);
			break;
		}
		assert_int_equal(rc, -ENOMEM);
	}
	/* Growth of a list and a map. */
	for (long k = 1; k < 30; k++) {
		hook_start(0);
		shmrt_mv_t *x = shmrt_mv_list(), *y = shmrt_mv_map();
		H.fail_at = k;
		int rx = 0, ry = 0;
		for (int i = 0; i < 20 && !rx; i++)
			rx = shmrt_mv_list_append(x, KI(i));
		for (int i = 0; i < 20 && !ry; i++)
			ry = shmrt_mv_map_set(y, KI(i), KI(i));
		assert_true((rx == 0 || rx == -ENOMEM) && (ry == 0 || ry == -ENOMEM));
		shmrt_mv_free(x);
		shmrt_mv_free(y);
		hook_stop();
		assert_int_equal(H.live, 0);
	}
	assert_true(failures > 100);
	shmrt_mv_buf_free(&b);
	shmrt_mv_free(m);
	shmrt_mv_free(l);
}

/* ---- random trees --------------------------------------------------------------- */

static uint64_t RS = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	return tu_rand(&RS);
}

static double rnd_double(void)
{
	uint64_t r = rnd(), bits;
	double d;
	switch (r % 8) {
	case 0: case 1: case 2:
		bits = rnd();
		memcpy(&d, &bits, 8);
		return d; /* any bits: subnormals, huge, NaN, inf */
	case 3: return (double)(int64_t)(rnd() >> (rnd() % 64)) * (r & 16 ? 1 : -1);
	case 4: return ldexp((double)(rnd() % 100000), -(int)(rnd() % 30));
	case 5: return (double)(rnd() % 1000000) / 1000.0;
	case 6: { /* near powers of ten and of two, where the interval is lopsided */
		d = r & 32 ? pow(10, (int)(rnd() % 600) - 300) : ldexp(1, (int)(rnd() % 2000) - 1000);
		int steps = (int)(rnd() % 5) - 2;
		for (; steps > 0; steps--)
			d = nextafter(d, INFINITY);
		for (; steps < 0; steps++)
			d = nextafter(d, 0);
		return d;
	}
	default: { /* ties between two 17-digit candidates: 2^k + 2^(k-52)/4 ... */
		int k = 50 + (int)(rnd() % 20);
		return ldexp(1, k) + ldexp(1, k - 52) * (double)(rnd() % 4);
	}
	}
}

static const uint32_t cps[] = { 'a', 'Z', ' ', '\'', '"', '\\', '\n', '\t', '\r', 0, 1,
				0x1f, 0x7f, 0x80, 0x9f, 0xa0, 0xad, 0xe9, 0xff, 0x100, 0x300,
				0x378, 0x5d0, 0x200b, 0x2028, 0x2029, 0x3000, 0x4e2d, 0xe000,
				0xfeff, 0xfffd, 0xffff, 0x10000, 0x1d11e, 0x1f600, 0xe0001,
				0xf0000, 0x10ffff, 0x1f1e6, 0x0600, 0x180e };

static size_t put_utf8(char *o, uint32_t c)
{
	if (c < 0x80)
		return o[0] = (char)c, 1;
	if (c < 0x800)
		return o[0] = (char)(0xc0 | c >> 6), o[1] = (char)(0x80 | (c & 0x3f)), 2;
	if (c < 0x10000) {
		o[0] = (char)(0xe0 | c >> 12);
		o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		o[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | c >> 18);
	o[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	o[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

static shmrt_mv_t *rnd_str(void)
{
	char b[200];
	size_t n = 0, len = rnd() % 12;
	for (size_t i = 0; i < len; i++) {
		uint32_t c;
		switch (rnd() % 4) {
		case 0: c = 0x20 + (uint32_t)(rnd() % 95); break;
		case 1: c = cps[rnd() % (sizeof(cps) / sizeof(cps[0]))]; break;
		case 2: c = (uint32_t)(rnd() % 0x3000); break;
		default: c = (uint32_t)(rnd() % 0x110000); break;
		}
		if (c >= 0xd800 && c <= 0xdfff)
			c = 0xfffd;
		n += put_utf8(b + n, c);
	}
	shmrt_mv_t *v = shmrt_mv_strn(b, n);
	assert_non_null(v);
	return v;
}

static shmrt_mv_t *rnd_scalar(bool key)
{
	char b[16];
	switch (rnd() % (key ? 7 : 8)) {
	case 0: return shmrt_mv_nil();
	case 1: return shmrt_mv_bool(rnd() & 1);
	case 2: return KI((int64_t)rnd() >> (rnd() % 64));
	case 3: return shmrt_mv_float(rnd_double());
	case 4: case 5: return rnd_str();
	case 6: {
		size_t n = rnd() % 10;
		for (size_t i = 0; i < n; i++)
			b[i] = (char)(rnd() % 4 ? (char)rnd() : "'\"\\"[rnd() % 3]);
		return shmrt_mv_bytes(b, n);
	}
	default: return shmrt_mv_ref(rnd() >> (rnd() % 64));
	}
}

static shmrt_mv_t *rnd_tree(int depth, bool refs)
{
	uint64_t r = rnd() % 10;
	if (depth > 3 || r < 6) {
		shmrt_mv_t *v;
		do
			v = rnd_scalar(false);
		while (!refs && shmrt_mv_kind(v) == SHMRT_MV_REF && (shmrt_mv_free(v), 1));
		return v;
	}
	size_t n = rnd() % 6;
	shmrt_mv_t *c = r < 8 ? shmrt_mv_list() : shmrt_mv_map();
	for (size_t i = 0; i < n; i++) {
		if (r < 8)
			assert_int_equal(shmrt_mv_list_append(c, rnd_tree(depth + 1, refs)), 0);
		else
			assert_int_equal(shmrt_mv_map_set(c, rnd_scalar(true),
							  rnd_tree(depth + 1, refs)), 0);
	}
	return c;
}

static void t_roundtrip_random(void **s)
{
	(void)s;
	for (int i = 0; i < 3000; i++) {
		shmrt_mv_t *v = rnd_tree(0, true), *w, *c;
		shmrt_mv_buf_t b = { 0 }, b2 = { 0 };
		assert_int_equal(shmrt_mv_encode(v, &b), 0);
		assert_int_equal(shmrt_mv_decode(b.data, b.len, NULL, &w), 0);
		assert_true(shmrt_mv_identical(v, w));
		assert_int_equal(shmrt_mv_encode(w, &b2), 0);
		assert_int_equal(b.len, b2.len);
		assert_memory_equal(b.data, b2.data, b.len);
		c = shmrt_mv_copy(v);
		assert_true(shmrt_mv_identical(v, c));
		/* repr into a short buffer: a prefix, NUL-terminated, full length. */
		static char full[1 << 20];
		char part[8];
		ssize_t n = shmrt_mv_repr(v, full, sizeof(full));
		assert_true(n >= 0 && n < (ssize_t)sizeof(full));
		assert_int_equal(shmrt_mv_repr(v, part, sizeof(part)), n);
		assert_int_equal(strlen(part), n < 8 ? n : 7);
		assert_memory_equal(part, full, strlen(part));
		assert_int_equal(shmrt_mv_repr(v, NULL, 0), n);
		shmrt_mv_free(c);
		shmrt_mv_free(w);
		shmrt_mv_free(v);
		shmrt_mv_buf_free(&b);
		shmrt_mv_buf_free(&b2);
	}
}

/* ---- repr ----------------------------------------------------------------------- */

/*
 * Expected strings printed by python3 (3.11.2) for the same values:
 *   python3 -c "print(repr(...))"
 * for each value shown in the comment of its row.
 */
static void t_repr_table(void **s)
{
	(void)s;
	static const struct { double d; const char *want; } f[] = {
		{ 0.25, "0.25" }, { 1.0, "1.0" }, { 1e16, "1e+16" }, { 1e-5, "1e-05" },
		{ 1e-4, "0.0001" }, { 9999999999999998.0, "9999999999999998.0" },
		{ 0.1, "0.1" }, { 0.1 + 0.2, "0.30000000000000004" }, { -0.0, "-0.0" },
		{ 0.0, "0.0" }, { INFINITY, "inf" }, { -INFINITY, "-inf" }, { NAN, "nan" },
		{ 5e-324, "5e-324" }, { 1.7976931348623157e308, "1.7976931348623157e+308" },
		{ 2.2250738585072014e-308, "2.2250738585072014e-308" }, { 123456.789, "123456.789" },
		{ 1e22, "1e+22" }, { 1e23, "1e+23" }, { 0x1p53, "9007199254740992.0" },
		{ 0x1p50 + 0.25, "1125899906842624.2" }, { 1.5e-7, "1.5e-07" }, { 100.0, "100.0" },
		{ -2.5e100, "-2.5e+100" }, { 12345678901234567.0, "1.2345678901234568e+16" },
	};
	char b[32];
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		assert_int_equal(shmrt_mv_float_repr(f[i].d, b), strlen(f[i].want));
		assert_string_equal(b, f[i].want);
	}
	check_repr(shmrt_mv_nil(), "None");
	check_repr(shmrt_mv_bool(true), "True");
	check_repr(shmrt_mv_bool(false), "False");
	check_repr(KI(INT64_MIN), "-9223372036854775808");
	check_repr(KS("a"), "'a'");
	check_repr(KS("it's"), "\"it's\"");
	check_repr(KS("both ' and \""), "'both \\' and \"'");
	check_repr(KS("\"q\""), "'\"q\"'");
	check_repr(KS("\n\t\r\\"), "'\\n\\t\\r\\\\'");
	check_repr(shmrt_mv_strn("\0\x1f\x7f", 3), "'\\x00\\x1f\\x7f'");
	check_repr(KS("caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80"), "'caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80'");
	/* '\x85\xa0\xad' (C1, no-break space, soft hyphen), '\u2028\u200b\ufeff\ue000',
	 * '\U000e0001\U0010ffff', '\u0378' (unassigned). */
	check_repr(KS("\xc2\x85\xc2\xa0\xc2\xad"), "'\\x85\\xa0\\xad'");
	check_repr(KS("\xe2\x80\xa8\xe2\x80\x8b\xef\xbb\xbf\xee\x80\x80"),
		   "'\\u2028\\u200b\\ufeff\\ue000'");
	check_repr(KS("\xf3\xa0\x80\x81\xf4\x8f\xbf\xbf"), "'\\U000e0001\\U0010ffff'");
	check_repr(KS("\xcd\xb8"), "'\\u0378'");
	check_repr(shmrt_mv_bytes("ab'\x00\xff\\\n", 7), "b\"ab'\\x00\\xff\\\\\\n\"");
	check_repr(shmrt_mv_bytes("\x7f\"", 2), "b'\\x7f\"'");
	check_repr(shmrt_mv_bytes("", 0), "b''");
	check_repr(shmrt_mv_ref(42), "<ref 42>");
	check_repr(shmrt_mv_list(), "[]");
	check_repr(shmrt_mv_map(), "{}");
	shmrt_mv_t *l = shmrt_mv_list();
	for (int i = 9; i >= 0; i--)
		shmrt_mv_list_append(l, KI(i));
	check_repr(l, "[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]");
	/* repr to a FILE */
	FILE *t = tmpfile();
	l = shmrt_mv_list();
	shmrt_mv_list_append(l, shmrt_mv_float(0.5));
	shmrt_mv_list_append(l, shmrt_mv_map());
	assert_int_equal(shmrt_mv_repr_file(l, t), 0);
	rewind(t);
	char line[64] = "";
	assert_non_null(fgets(line, sizeof(line), t));
	assert_string_equal(line, "[0.5, {}]");
	fclose(t);
	shmrt_mv_free(l);
}

/* A Python expression that builds v (refs excluded). */
static void py_expr(FILE *f, const shmrt_mv_t *v)
{
	const char *p;
	size_t n;
	switch (shmrt_mv_kind(v)) {
	case SHMRT_MV_NIL: fputs("None", f); break;
	case SHMRT_MV_BOOL: fputs(repr(v), f); break;
	case SHMRT_MV_INT: fputs(repr(v), f); break;
	case SHMRT_MV_FLOAT: {
		double d;
		assert_int_equal(shmrt_mv_as_float(v, &d), 0);
		fprintf(f, "float.fromhex('%a')", d);
		break;
	}
	case SHMRT_MV_STR: {
		assert_int_equal(shmrt_mv_as_str(v, &p, &n), 0);
		fputc('\'', f);
		for (size_t i = 0; i < n;) {
			uint8_t c = (uint8_t)p[i];
			int len = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
			uint32_t cp = len == 1 ? c : c & (0x7f >> len);
			for (int j = 1; j < len; j++)
				cp = cp << 6 | ((uint8_t)p[i + j] & 0x3f);
			fprintf(f, "\\U%08x", cp);
			i += (size_t)len;
		}
		fputc('\'', f);
		break;
	}
	case SHMRT_MV_BYTES:
		assert_int_equal(shmrt_mv_as_bytes(v, (const void **)&p, &n), 0);
		fputs("b'", f);
		for (size_t i = 0; i < n; i++)
			fprintf(f, "\\x%02x", (uint8_t)p[i]);
		fputc('\'', f);
		break;
	case SHMRT_MV_LIST:
		fputc('[', f);
		for (size_t i = 0; i < shmrt_mv_list_len(v); i++) {
			py_expr(f, shmrt_mv_list_get(v, (int64_t)i));
			fputc(',', f);
		}
		fputc(']', f);
		break;
	case SHMRT_MV_MAP: {
		size_t pos = 0;
		const shmrt_mv_t *k;
		shmrt_mv_t *x;
		fputc('{', f);
		while (shmrt_mv_map_next(v, &pos, &k, &x)) {
			py_expr(f, k);
			fputc(':', f);
			py_expr(f, x);
			fputc(',', f);
		}
		fputc('}', f);
		break;
	}
	default: fail();
	}
}

/* Python prints repr() of every value (and of many doubles); C must print the same. */
static void t_repr_python(void **s)
{
	(void)s;
	if (access(SHMRT_PYTHON, X_OK) != 0)
		skip();
	enum { TREES = 3000, FLOATS = 30000 };
	char in[] = "/tmp/shmrt-mvalue-XXXXXX";
	int fd = mkstemp(in);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	char **want = calloc(TREES + FLOATS, sizeof(char *));
	for (int i = 0; i < TREES + FLOATS; i++) {
		shmrt_mv_t *v = i < TREES ? rnd_tree(0, false) : shmrt_mv_float(rnd_double());
		py_expr(f, v);
		fputc('\n', f);
		want[i] = strdup(repr(v));
		shmrt_mv_free(v);
	}
	fclose(f);
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
		 "PYTHONIOENCODING=utf-8 %s -c 'import sys\nfor l in sys.stdin: print(repr(eval(l)))' < %s",
		 SHMRT_PYTHON, in);
	FILE *py = popen(cmd, "r");
	assert_non_null(py);
	char *line = NULL;
	size_t cap = 0;
	int got = 0, bad = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, py)) > 0) {
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		if (got < TREES + FLOATS && strcmp(line, want[got]) != 0 && bad++ < 10)
			print_error("value %d: python %s, shmrt %s\n", got, line, want[got]);
		got++;
	}
	assert_int_equal(pclose(py), 0);
	unlink(in);
	assert_int_equal(got, TREES + FLOATS);
	assert_int_equal(bad, 0);
	for (int i = 0; i < TREES + FLOATS; i++)
		free(want[i]);
	free(want);
	free(line);
}

/* The fuzzer's seeds (tests/fuzz/corpus/mvalue_decode), valid values all, through the
 * fuzzer's own checks, then mutated a few thousand times (any compiler, any build). */
static void t_fuzz_corpus(void **s)
{
	(void)s;
	DIR *d = opendir(SHMRT_MVALUE_CORPUS);
	assert_non_null(d);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char path[1024];
		uint8_t buf[4096], mut[4096];
		snprintf(path, sizeof(path), "%s/%s", SHMRT_MVALUE_CORPUS, de->d_name);
		FILE *f = fopen(path, "rb");
		assert_non_null(f);
		size_t len = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		shmrt_mv_t *v;
		assert_int_equal(shmrt_mv_decode(buf, len, NULL, &v), 0);
		shmrt_mv_free(v);
		mvalue_fuzz_one(buf, len);
		for (int i = 0; i < 2000; i++) {
			size_t ml = len - rnd() % 3;
			memcpy(mut, buf, len);
			for (int k = (int)(rnd() % 4); k >= 0; k--)
				mut[rnd() % len] = (uint8_t)rnd();
			mvalue_fuzz_one(mut, ml);
		}
		n++;
	}
	closedir(d);
	assert_true(n >= 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_scalars),
		cmocka_unit_test(t_list),
		cmocka_unit_test(t_map_semantics),
		cmocka_unit_test(t_map_big),
		cmocka_unit_test(t_equal_copy),
		cmocka_unit_test(t_deep),
		cmocka_unit_test(t_encode_forms),
		cmocka_unit_test(t_decode_accepts),
		cmocka_unit_test(t_decode_rejects),
		cmocka_unit_test(t_alloc_failures),
		cmocka_unit_test(t_roundtrip_random),
		cmocka_unit_test(t_repr_table),
		cmocka_unit_test(t_repr_python),
		cmocka_unit_test(t_fuzz_corpus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
