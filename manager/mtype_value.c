/*
 * The manager's Value and Array types: Python's manager.Value(typecode, value) and
 * manager.Array(typecode, sequence), whose proxies (ValueProxy, ArrayProxy) offer
 * get, set and the value property, and __len__, __getitem__, __setitem__.
 *
 * Typecodes. Python's manager ignores the typecode of a Value (any object goes) and
 * makes an array.array for an Array. Here the typecode is enforced on every store,
 * as array.array and ctypes do, so that a C user gets the type it asked for:
 *   'b' 'B' 'h' 'H' 'i' 'I'   ints of 8, 16, 32 bits, signed and unsigned
 *   'l' 'L' 'q' 'Q'           ints of 64 bits ('L' and 'Q' hold 0..INT64_MAX: a value
 *                             is an int64, so nothing larger can even be sent)
 *   'f' 'd'                   floats; an int (or bool) is taken and stored as a float;
 *                             'f' rounds to single precision, as array('f') does
 *                             (and, like it, turns a value too large into inf)
 *   'c'                       a bytes of length 1 (ctypes' c_char)
 *   'u'                       a str of one code point (array's 'u', ctypes' c_wchar)
 * A bool is stored as the int (or float) it equals. Any other typecode, a value of
 * another kind (a float for an int code, a str for 'c') are Python's TypeError,
 * -EINVAL; an int outside its code's range is Python's OverflowError, -ERANGE. The
 * typecode lives in the object's priv word (no allocation: it is a char).
 *
 * Value: data is the scalar itself. Methods: get [] -> the value; set [v]; and two
 * atomic ones, since a get then a set from two processes can interleave (the server
 * runs one request at a time, so each is one step): add [delta] -> the new value
 * (int codes: an int delta, -ERANGE if the sum leaves the code's range, the value
 * unchanged; float codes: an int or float delta), and cas [expected, new] -> True
 * and new stored if the value == expected (Python's ==: 1 == 1.0), else False and
 * nothing stored (new is checked either way). No get_lock: Python's manager Value
 * has none (the server serialises calls; add and cas are the atomic steps).
 *
 * Array: data is a list of scalars of the typecode, its length fixed at creation
 * (from a list, a bytes for 'c', a str for 'u', or an int n: n zeros of the code:
 * 0, 0.0, b'\x00', '\x00'); at most SHMRT_MV_MAX_ELEMS_DEFAULT items (-E2BIG), a
 * negative n -EINVAL. Methods: __len__, __getitem__ [i], __setitem__ [i, v] (Python's
 * indexes: -ERANGE out of range), __getslice__ and __setslice__ as the list's
 * (mtype_list.c), where an assignment must keep the length: a sequence of another
 * size than the slice is -EINVAL (Python's ValueError, as ctypes arrays raise it);
 * tolist, copy and __iter__: a snapshot list. No append, no deletion (unknown
 * methods: -ENOENT); Python's array via ctypes refuses deletion too.
 *
 * Every check runs before anything is stored: a refused call changes nothing.
 *
 * Concurrency: the server's one thread.
 */
#include "manager/server_int.h"
#include "manager/mvalue_int.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define ARGC(c) shmrt_mv_list_len((c)->args)
#define ARG(c, i) shmrt_mv_list_get((c)->args, (i))

enum { K_INT, K_FLOAT, K_CHAR, K_WCHAR };

typedef struct tcode {
	char code;
	uint8_t kind;
	int64_t min, max; /* K_INT's range */
} tcode_t;

static const tcode_t codes[] = {
	{ 'b', K_INT, INT8_MIN, INT8_MAX },   { 'B', K_INT, 0, UINT8_MAX },
	{ 'h', K_INT, INT16_MIN, INT16_MAX }, { 'H', K_INT, 0, UINT16_MAX },
	{ 'i', K_INT, INT32_MIN, INT32_MAX }, { 'I', K_INT, 0, UINT32_MAX },
	{ 'l', K_INT, INT64_MIN, INT64_MAX }, { 'L', K_INT, 0, INT64_MAX },
	{ 'q', K_INT, INT64_MIN, INT64_MAX }, { 'Q', K_INT, 0, INT64_MAX },
	{ 'f', K_FLOAT, 0, 0 },               { 'd', K_FLOAT, 0, 0 },
	{ 'c', K_CHAR, 0, 0 },                { 'u', K_WCHAR, 0, 0 },
};

static const tcode_t *code_of(const shmrt_mv_t *v)
{
	const char *s;
	size_t n;
	if (shmrt_mv_as_str(v, &s, &n) || n != 1)
		return NULL;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i].code == s[0])
			return &codes[i];
	return NULL;
}

static const tcode_t *obj_code(const shmrt__mobj_t *o)
{
	return (const tcode_t *)o->priv;
}

/* The number of code points of the valid UTF-8 str v. */
static size_t code_points(const shmrt_mv_t *v)
{
	size_t k = 0;
	for (size_t i = 0; i < v->u.s.n; i++)
		k += ((uint8_t)v->u.s.p[i] & 0xc0) != 0x80;
	return k;
}

static double round_f(const tcode_t *t, double d)
{
	return t->code == 'f' ? (double)(float)d : d;
}

/*
 * Checks v against t and turns it into its stored form in place (a bool into an
 * int, an int into a float for the float codes, a 'f' float rounded). Returns 0;
 * -EINVAL (another kind); -ERANGE (an int out of range).
 */
static int conform(const tcode_t *t, shmrt_mv_t *v)
{
	switch (t->kind) {
	case K_INT:
		if (v->kind == SHMRT_MV_BOOL) {
			int64_t b = v->u.b;
			v->kind = SHMRT_MV_INT;
			v->u.i = b;
		}
		if (v->kind != SHMRT_MV_INT)
			return -EINVAL;
		return v->u.i < t->min || v->u.i > t->max ? -ERANGE : 0;
	case K_FLOAT:
		if (v->kind == SHMRT_MV_BOOL || v->kind == SHMRT_MV_INT) {
			double d = v->kind == SHMRT_MV_BOOL ? (double)v->u.b : (double)v->u.i;
			v->kind = SHMRT_MV_FLOAT;
			v->u.f = d;
		}
		if (v->kind != SHMRT_MV_FLOAT)
			return -EINVAL;
		v->u.f = round_f(t, v->u.f);
		return 0;
	case K_CHAR:
		return v->kind == SHMRT_MV_BYTES && v->u.s.n == 1 ? 0 : -EINVAL;
	default:
		return v->kind == SHMRT_MV_STR && code_points(v) == 1 ? 0 : -EINVAL;
	}
}

static int item_check(const shmrt__mobj_t *o, shmrt_mv_t *item)
{
	return conform(obj_code(o), item);
}

/* An int argument (a bool counts). Returns 0 or -EINVAL. */
static int int_arg(const shmrt_mv_t *v, int64_t *out)
{
	if (shmrt_mv_kind(v) == SHMRT_MV_BOOL) {
		*out = v->u.b;
		return 0;
	}
	return shmrt_mv_as_int(v, out) ? -EINVAL : 0;
}

static shmrt_mv_t *take(shmrt__mcall_t *c, int64_t i)
{
	shmrt_mv_t *v = NULL;
	return shmrt_mv_list_pop(c->args, i, &v) ? NULL : v;
}

static int result(shmrt__mcall_t *c, shmrt_mv_t *v)
{
	c->res = v;
	return v ? 0 : -ENOMEM;
}

/* init_priv of both types: init is [typecode, ...]; the priv word points at the
 * typecode's row of codes[] (static: nothing to free). */
static int code_init_priv(const shmrt_mv_t *init, void **priv)
{
	const tcode_t *t;
	if (shmrt_mv_list_len(init) != 2 || !(t = code_of(shmrt_mv_list_get(init, 0))))
		return -EINVAL;
	*priv = (void *)t;
	return 0;
}

/* ---- Value ------------------------------------------------------------------------ */

static int value_init(shmrt_mv_t *init, shmrt_mv_t **data)
{
	shmrt_mv_t *v = NULL;
	const tcode_t *t = code_of(shmrt_mv_list_get(init, 0)); /* checked by init_priv */
	int rc = t && shmrt_mv_list_len(init) == 2 ? 0 : -EINVAL;
	if (rc == 0 && shmrt_mv_list_pop(init, 1, &v))
		rc = -ENOMEM;
	if (rc == 0 && (rc = conform(t, v)) != 0) {
		shmrt_mv_free(v);
		v = NULL;
	}
	shmrt_mv_free(init);
	*data = v;
	return rc;
}

/* Replaces the object's data with v (checked, owned by no container). */
static void value_store(shmrt__mcall_t *c, shmrt_mv_t *v)
{
	shmrt_mv_free(c->o->data); /* a scalar: no refs to drop */
	c->o->data = v;
}

static int v_get(shmrt__mcall_t *c)
{
	if (ARGC(c) != 0)
		return -EINVAL;
	return result(c, shmrt_mv_copy(c->o->data));
}

static int v_set(shmrt__mcall_t *c)
{
	if (ARGC(c) != 1)
		return -EINVAL;
	int rc = conform(obj_code(c->o), ARG(c, 0));
	if (rc)
		return rc;
	shmrt_mv_t *v = take(c, 0);
	if (!v)
		return -ENOMEM;
	value_store(c, v);
	return 0;
}

static int v_add(shmrt__mcall_t *c)
{
	if (ARGC(c) != 1)
		return -EINVAL;
	const tcode_t *t = obj_code(c->o);
	shmrt_mv_t *d = ARG(c, 0), *cur = c->o->data;
	if (t->kind == K_INT) {
		int64_t delta, sum;
		if (int_arg(d, &delta))
			return -EINVAL;
		if (__builtin_add_overflow(cur->u.i, delta, &sum) || sum < t->min || sum > t->max)
			return -ERANGE; /* OverflowError: the value stays */
		cur->u.i = sum;
	} else if (t->kind == K_FLOAT) {
		int64_t i;
		double delta;
		if (int_arg(d, &i) == 0)
			delta = (double)i;
		else if (shmrt_mv_as_float(d, &delta))
			return -EINVAL;
		cur->u.f = round_f(t, cur->u.f + delta);
	} else {
		return -EINVAL; /* no + for a character */
	}
	return result(c, shmrt_mv_copy(cur));
}

static int v_cas(shmrt__mcall_t *c)
{
	if (ARGC(c) != 2)
		return -EINVAL;
	int rc = conform(obj_code(c->o), ARG(c, 1));
	if (rc)
		return rc;
	if (!shmrt_mv_equal(c->o->data, ARG(c, 0)))
		return result(c, shmrt_mv_bool(false));
	shmrt_mv_t *res = shmrt_mv_bool(true), *v = res ? take(c, 1) : NULL;
	if (!v) {
		shmrt_mv_free(res);
		return -ENOMEM;
	}
	value_store(c, v);
	return result(c, res);
}

static const shmrt__mmethod_t value_methods[] = {
	{ "get", v_get },
	{ "set", v_set },
	{ "add", v_add },
	{ "cas", v_cas },
};

const shmrt__mtype_t shmrt__mtype_value = {
	.name = "Value",
	.init = value_init,
	.methods = value_methods,
	.nmethods = sizeof(value_methods) / sizeof(value_methods[0]),
	.init_priv = code_init_priv,
};

/* ---- Array ------------------------------------------------------------------------ */

/* The zero of t's kind, or NULL (ENOMEM). */
static shmrt_mv_t *zero_of(const tcode_t *t)
{
	switch (t->kind) {
	case K_INT:
		return shmrt_mv_int(0);
	case K_FLOAT:
		return shmrt_mv_float(0.0);
	case K_CHAR:
		return shmrt_mv_bytes("", 1);
	default:
		return shmrt_mv_strn("", 1);
	}
}

/* An Array of n items: zeros, or the bytes of src ('c'), or the code points of src
 * ('u'). Returns 0 and *data, -E2BIG, -ENOMEM. */
static int array_fill(const tcode_t *t, int64_t n, const shmrt_mv_t *src, shmrt_mv_t **data)
{
	if (n > (int64_t)SHMRT_MV_MAX_ELEMS_DEFAULT)
		return -E2BIG;
	shmrt_mv_t *l = shmrt__mv_list_new((size_t)n);
	if (!l)
		return -ENOMEM;
	size_t at = 0;
	for (int64_t i = 0; i < n; i++) {
		shmrt_mv_t *v;
		if (!src) {
			v = zero_of(t);
		} else if (src->kind == SHMRT_MV_BYTES) {
			v = shmrt_mv_bytes(src->u.s.p + i, 1);
		} else {
			size_t e = at + 1;
			while (e < src->u.s.n && ((uint8_t)src->u.s.p[e] & 0xc0) == 0x80)
				e++;
			v = shmrt_mv_strn(src->u.s.p + at, e - at);
			at = e;
		}
		if (!v) {
			shmrt_mv_free(l);
			return -ENOMEM;
		}
		shmrt__mv_list_push(l, v);
	}
	*data = l;
	return 0;
}

static int array_init(shmrt_mv_t *init, shmrt_mv_t **data)
{
	const tcode_t *t = code_of(shmrt_mv_list_get(init, 0)); /* checked by init_priv */
	shmrt_mv_t *src = shmrt_mv_list_get(init, 1);
	int64_t n;
	int rc = -EINVAL;
	*data = NULL;
	if (!t || shmrt_mv_list_len(init) != 2) {
		rc = -EINVAL;
	} else if (int_arg(src, &n) == 0) {
		rc = n < 0 ? -EINVAL : array_fill(t, n, NULL, data);
	} else if (t->kind == K_CHAR && src->kind == SHMRT_MV_BYTES) {
		rc = array_fill(t, (int64_t)src->u.s.n, src, data);
	} else if (t->kind == K_WCHAR && src->kind == SHMRT_MV_STR) {
		rc = array_fill(t, (int64_t)code_points(src), src, data);
	} else if (src->kind == SHMRT_MV_LIST) {
		rc = src->u.l.len > SHMRT_MV_MAX_ELEMS_DEFAULT ? -E2BIG : 0;
		for (uint32_t i = 0; rc == 0 && i < src->u.l.len; i++)
			rc = conform(t, src->u.l.items[i]);
		if (rc == 0 && shmrt_mv_list_pop(init, 1, data))
			rc = -ENOMEM;
	}
	shmrt_mv_free(init);
	return rc;
}

static int a_len(shmrt__mcall_t *c)
{
	if (ARGC(c) != 0)
		return -EINVAL;
	return result(c, shmrt_mv_int((int64_t)shmrt_mv_list_len(c->o->data)));
}

static int a_getitem(shmrt__mcall_t *c)
{
	int64_t i;
	if (ARGC(c) != 1 || int_arg(ARG(c, 0), &i))
		return -EINVAL;
	shmrt_mv_t *v = shmrt_mv_list_get(c->o->data, i);
	return v ? result(c, shmrt_mv_copy(v)) : -ERANGE;
}

static int a_setitem(shmrt__mcall_t *c)
{
	int64_t i;
	if (ARGC(c) != 2 || int_arg(ARG(c, 0), &i))
		return -EINVAL;
	if (!shmrt_mv_list_get(c->o->data, i))
		return -ERANGE;
	int rc = conform(obj_code(c->o), ARG(c, 1));
	if (rc)
		return rc;
	/* in range and owned by no container: replacing a scalar cannot fail */
	return shmrt_mv_list_set(c->o->data, i, take(c, 1));
}

static int a_setslice(shmrt__mcall_t *c)
{
	return shmrt__mlist_setslice(c, item_check, true);
}

static int a_copy(shmrt__mcall_t *c)
{
	if (ARGC(c) != 0)
		return -EINVAL;
	return result(c, shmrt_mv_copy(c->o->data));
}

static const shmrt__mmethod_t array_methods[] = {
	{ "__len__", a_len },
	{ "__getitem__", a_getitem },
	{ "__setitem__", a_setitem },
	{ "__getslice__", shmrt__mlist_getslice },
	{ "__setslice__", a_setslice },
	{ "tolist", a_copy },
	{ "copy", a_copy },
	{ "__iter__", a_copy },
};

const shmrt__mtype_t shmrt__mtype_array = {
	.name = "Array",
	.init = array_init,
	.methods = array_methods,
	.nmethods = sizeof(array_methods) / sizeof(array_methods[0]),
	.init_priv = code_init_priv,
};
