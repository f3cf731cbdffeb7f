/*
 * The manager's list type: its data is a list value (shmrt/mvalue.h), and each method
 * does what Python's list method of the same name does, with Python's exceptions as
 * errnos: IndexError is -ERANGE, ValueError (remove or index of an absent value) is
 * -ENOENT, TypeError (a wrong argument, a sort of unorderable values) is -EINVAL.
 *
 * Indexes are Python's (negative ones count from the end); slices are not supported
 * yet. sort orders numbers (bool, int, float: ints and floats compared exactly) or
 * str (by code point) or bytes, stably, as Python's sort (reverse=True keeps equal
 * items in their order, as CPython does by reversing before and after a stable
 * sort); a list that mixes unorderable kinds is -EINVAL and left as it was. __iter__
 * and copy give a snapshot of the whole list.
 *
 * Stored refs are counted once the list took them, removed values dropped
 * (shmrt__mstore_drop), results are copies (their refs borrowed).
 *
 * Concurrency: the server's one thread.
 */
#include "manager/server_int.h"
#include "manager/mvalue_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ARGC(c) shmrt_mv_list_len((c)->args)
#define ARG(c, i) shmrt_mv_list_get((c)->args, (i))
#define DATA(c) ((c)->o->data)

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

/* An int argument (a bool counts, as in Python). Returns 0 or -EINVAL. */
static int int_arg(const shmrt_mv_t *v, int64_t *out)
{
	if (shmrt_mv_kind(v) == SHMRT_MV_BOOL) {
		*out = v->u.b;
		return 0;
	}
	return shmrt_mv_as_int(v, out) ? -EINVAL : 0;
}

static int l_append(shmrt__mcall_t *c)
{
	if (ARGC(c) != 1)
		return -EINVAL;
	shmrt_mv_t *v = take(c, 0);
	int rc = shmrt_mv_list_append(DATA(c), v);
	if (rc == 0)
		shmrt__mstore_refs_adjust(c->st, v, +1);
	return rc;
}

static int l_extend(shmrt__mcall_t *c)
{
	if (ARGC(c) != 1 || shmrt_mv_kind(ARG(c, 0)) != SHMRT_MV_LIST)
		return -EINVAL;
	shmrt_mv_t *src = ARG(c, 0);
	for (uint32_t i = 0; i < src->u.l.len; i++) {
		shmrt_mv_t *v = shmrt_mv_copy(src->u.l.items[i]);
		int rc = shmrt_mv_list_append(DATA(c), v);
		if (rc)
			return rc;
		shmrt__mstore_refs_adjust(c->st, v, +1);
	}
	return 0;
}

static int l_insert(shmrt__mcall_t *c)
{
	int64_t i;
	if (ARGC(c) != 2 || int_arg(ARG(c, 0), &i))
		return -EINVAL;
	shmrt_mv_t *v = take(c, 1);
	int rc = shmrt_mv_list_insert(DATA(c), i, v);
	if (rc == 0)
		shmrt__mstore_refs_adjust(c->st, v, +1);
	return rc;
}

static int l_pop(shmrt__mcall_t *c)
{
	int64_t i = -1;
	if (ARGC(c) > 1 || (ARGC(c) == 1 && int_arg(ARG(c, 0), &i)))
		return -EINVAL;
	shmrt_mv_t *v;
	int rc = shmrt_mv_list_pop(DATA(c), i, &v);
	if (rc)
		return rc; /* -ERANGE: IndexError, an empty list's too */
	shmrt__mstore_refs_adjust(c->st, v, -1); /* the reply's refs are borrowed */
	return result(c, v);
}

/* The first index in [from, to) of an item equal to x, or -1. */
static int64_t find(const shmrt_mv_t *l, const shmrt_mv_t *x, int64_t from, int64_t to)
{
	for (int64_t i = from; i < to && i < (int64_t)l->u.l.len; i++)
		if (shmrt_mv_equal(l->u.l.items[i], x))
			return i;
	return -1;
}

static int l_remove(shmrt__mcall_t *c)
{
	if (ARGC(c) != 1)
		return -EINVAL;
	int64_t i = find(DATA(c), ARG(c, 0), 0, INT64_MAX);
	if (i < 0)
		return -ENOENT;
	shmrt_mv_t *v;
	if (shmrt_mv_list_pop(DATA(c), i, &v))
		return -ENOMEM; /* cannot happen: i is in range */
	shmrt__mstore_drop(c->st, v);
	return 0;
}

/* A slice bound as Python clamps it: negative counts from the end, then [0, len]. */
static int64_t clamp(int64_t i, int64_t len)
{
	if (i < 0)
		i = i + len < 0 ? 0 : i + len;
	return i > len ? len : i;
}

static int l_index(shmrt__mcall_t *c)
{
	size_t n = ARGC(c);
	int64_t len = (int64_t)shmrt_mv_list_len(DATA(c)), from = 0, to = len;
	if (n < 1 || n > 3 || (n >= 2 && int_arg(ARG(c, 1), &from)) ||
	    (n == 3 && int_arg(ARG(c, 2), &to)))
		return -EINVAL;
	int64_t i = find(DATA(c), ARG(c, 0), clamp(from, len), clamp(to, len));
	return i < 0 ? -ENOENT : result(c, shmrt_mv_int(i));
}

static int l_count(shmrt__mcall_t *c)
{
	if (ARGC(c) != 1)
		return -EINVAL;
	int64_t k = 0;
	const shmrt_mv_t *l = DATA(c);
	for (uint32_t i = 0; i < l->u.l.len; i++)
		k += shmrt_mv_equal(l->u.l.items[i], ARG(c, 0));
	return result(c, shmrt_mv_int(k));
}

static int l_contains(shmrt__mcall_t *c)
{
	if (ARGC(c) != 1)
		return -EINVAL;
	return result(c, shmrt_mv_bool(find(DATA(c), ARG(c, 0), 0, INT64_MAX) >= 0));
}

static void reverse_items(shmrt_mv_t **a, uint32_t n)
{
	for (uint32_t i = 0; i < n / 2; i++) {
		shmrt_mv_t *t = a[i];
		a[i] = a[n - 1 - i];
		a[n - 1 - i] = t;
	}
}

static int l_reverse(shmrt__mcall_t *c)
{
	if (ARGC(c) != 0)
		return -EINVAL;
	reverse_items(DATA(c)->u.l.items, DATA(c)->u.l.len);
	return 0;
}

/* Stable merge sort of a[0, n) with tmp of n slots; the kinds were checked orderable. */
static void merge_sort(shmrt_mv_t **a, shmrt_mv_t **tmp, uint32_t n)
{
	if (n < 2)
		return;
	uint32_t h = n / 2;
	merge_sort(a, tmp, h);
	merge_sort(a + h, tmp, n - h);
	uint32_t i = 0, j = h, k = 0;
	while (i < h && j < n) {
		int lt = 0;
		if (shmrt__mv_less(a[j], a[i], &lt)) /* the right one only if smaller */
			lt = 0;                      /* (cannot fail: kinds checked) */
		tmp[k++] = lt ? a[j++] : a[i++];
	}
	while (i < h)
		tmp[k++] = a[i++];
	while (j < n)
		tmp[k++] = a[j++];
	memcpy(a, tmp, n * sizeof(*a));
}

/* 0 numbers, 1 str, 2 bytes, -1 anything else. */
static int sort_class(const shmrt_mv_t *v)
{
	switch (v->kind) {
	case SHMRT_MV_BOOL:
	case SHMRT_MV_INT:
	case SHMRT_MV_FLOAT:
		return 0;
	case SHMRT_MV_STR:
		return 1;
	case SHMRT_MV_BYTES:
		return 2;
	default:
		return -1;
	}
}

/* sort [] or [reverse: bool]. */
static int l_sort(shmrt__mcall_t *c)
{
	bool rev = false;
	if (ARGC(c) > 1 || (ARGC(c) == 1 && shmrt_mv_as_bool(ARG(c, 0), &rev)))
		return -EINVAL;
	shmrt_mv_t **a = DATA(c)->u.l.items;
	uint32_t n = DATA(c)->u.l.len;
	if (n < 2)
		return 0; /* Python compares nothing */
	int cls = sort_class(a[0]);
	for (uint32_t i = 0; i < n; i++)
		if (cls < 0 || sort_class(a[i]) != cls)
			return -EINVAL;
	shmrt_mv_t **tmp = malloc(n * sizeof(*tmp));
	if (!tmp)
		return -ENOMEM;
	if (rev)
		reverse_items(a, n);
	merge_sort(a, tmp, n);
	if (rev)
		reverse_items(a, n);
	free(tmp);
	return 0;
}

static int l_len(shmrt__mcall_t *c)
{
	if (ARGC(c) != 0)
		return -EINVAL;
	return result(c, shmrt_mv_int((int64_t)shmrt_mv_list_len(DATA(c))));
}

static int l_getitem(shmrt__mcall_t *c)
{
	int64_t i;
	if (ARGC(c) != 1 || int_arg(ARG(c, 0), &i))
		return -EINVAL;
	shmrt_mv_t *v = shmrt_mv_list_get(DATA(c), i);
	return v ? result(c, shmrt_mv_copy(v)) : -ERANGE;
}

static int l_setitem(shmrt__mcall_t *c)
{
	int64_t i;
	if (ARGC(c) != 2 || int_arg(ARG(c, 0), &i))
		return -EINVAL;
	shmrt_mv_t *old = shmrt_mv_list_get(DATA(c), i);
	if (!old)
		return -ERANGE;
	shmrt_mv_t *v = take(c, 1);
	if (!v)
		return -ENOMEM;
	shmrt__mstore_refs_adjust(c->st, old, -1); /* the set below frees it */
	int rc = shmrt_mv_list_set(DATA(c), i, v);  /* in range: cannot fail */
	if (rc == 0)
		shmrt__mstore_refs_adjust(c->st, v, +1);
	return rc;
}

static int l_delitem(shmrt__mcall_t *c)
{
	int64_t i;
	if (ARGC(c) != 1 || int_arg(ARG(c, 0), &i))
		return -EINVAL;
	shmrt_mv_t *v;
	int rc = shmrt_mv_list_pop(DATA(c), i, &v);
	if (rc)
		return rc;
	shmrt__mstore_drop(c->st, v);
	return 0;
}

static int l_copy(shmrt__mcall_t *c)
{
	if (ARGC(c) != 0)
		return -EINVAL;
	return result(c, shmrt_mv_copy(DATA(c)));
}

static int list_init(shmrt_mv_t *init, shmrt_mv_t **data)
{
	if (!init) {
		*data = shmrt_mv_list();
		return *data ? 0 : -ENOMEM;
	}
	if (shmrt_mv_kind(init) != SHMRT_MV_LIST) {
		shmrt_mv_free(init);
		return -EINVAL;
	}
	*data = init;
	return 0;
}

static const shmrt__mmethod_t list_methods[] = {
	{ "append", l_append },
	{ "extend", l_extend },
	{ "insert", l_insert },
	{ "pop", l_pop },
	{ "remove", l_remove },
	{ "index", l_index },
	{ "count", l_count },
	{ "reverse", l_reverse },
	{ "sort", l_sort },
	{ "__len__", l_len },
	{ "__getitem__", l_getitem },
	{ "__setitem__", l_setitem },
	{ "__delitem__", l_delitem },
	{ "__contains__", l_contains },
	{ "__iter__", l_copy },
	{ "copy", l_copy },
};

const shmrt__mtype_t shmrt__mtype_list = {
	.name = "list",
	.init = list_init,
	.methods = list_methods,
	.nmethods = sizeof(list_methods) / sizeof(list_methods[0]),
};
