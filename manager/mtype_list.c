/*
 * The manager's list type: its data is a list value (shmrt/mvalue.h), and each method
 * does what Python's list method of the same name does, with Python's exceptions as
 * errnos: IndexError is -ERANGE, ValueError (remove or index of an absent value) is
 * -ENOENT, TypeError (a wrong argument, a sort of unorderable values) is -EINVAL.
 *
 * Indexes are Python's (negative ones count from the end). Slices are three methods,
 * __getslice__, __setslice__ and __delslice__, whose first three arguments are a
 * slice's start, stop and step (each nil or an int), bounded and clamped as CPython
 * does (shmrt__mslice_parse); step 0, and an extended slice (step other than 1)
 * assigned a list of another length, are Python's ValueError, -EINVAL here (the
 * argument's value is invalid for the call: C's EINVAL; -ENOENT stays "no such
 * value"). A step-1 assignment rebuilds the item array in one pass (the list grows
 * or shrinks); an extended one replaces items in place; a deletion compacts in one
 * pass: O(len + len(seq)) each, whatever the slice. The Array type (mtype_value.c)
 * shares __getslice__ and __setslice__ (with its item check and a fixed length).
 *
 * sort orders numbers (bool, int, float: ints and floats compared exactly) or
 * str (by code point) or bytes, or lists of them (Python's lists and tuples, both
 * lists here: compared lexicographically, as Python compares sequences: at the first
 * index where the items differ, by those items, recursively; a prefix first), stably,
 * as Python's sort (reverse=True keeps equal items in their order, as CPython does
 * by reversing before and after a stable sort); two items that do not compare
 * (mixed kinds, nil, refs, maps: Python's TypeError) are -EINVAL and the list is
 * left as it was (it is sorted in a copy of its item array). extend takes what
 * Python's list.extend takes from a list, a map (its keys), a str (its characters),
 * bytes (its byte values); anything else, a ref included, is -EINVAL. __iter__ and
 * copy give a snapshot of the whole list.
 *
 * Stored refs are counted once the list took them, removed values dropped
 * (shmrt__mstore_drop), results are copies (their refs borrowed), but for the value
 * pop takes out and returns: its refs are handed to the caller's session
 * (shmrt__mstore_hand), pending references that its proxies claim. (remove,
 * __delitem__ and __delslice__ return nothing: what they remove is dropped.)
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

/* The i-th item extend takes from src (a list's item, a map's key, a str's character,
 * a bytes' byte as an int), a new value; NULL (errno ENOMEM). */
static shmrt_mv_t *extend_item(const shmrt_mv_t *src, size_t *pos, const char **at)
{
	switch (src->kind) {
	case SHMRT_MV_LIST:
		return shmrt_mv_copy(src->u.l.items[(*pos)++]);
	case SHMRT_MV_MAP: {
		const shmrt_mv_t *k = NULL;
		(void)shmrt_mv_map_next(src, pos, &k, NULL);
		return shmrt_mv_copy(k);
	}
	case SHMRT_MV_BYTES:
		return shmrt_mv_int((uint8_t)src->u.s.p[(*pos)++]);
	default: { /* str: valid UTF-8, one code point of 1 to 4 bytes */
		const unsigned char *p = (const unsigned char *)*at;
		size_t n = *p < 0x80 ? 1 : *p < 0xe0 ? 2 : *p < 0xf0 ? 3 : 4;
		*at += n;
		(*pos)++;
		return shmrt_mv_strn((const char *)p, n);
	}
	}
}

/* How many items extend takes from src, or -1 (not iterable here). */
static int64_t extend_len(const shmrt_mv_t *src)
{
	switch (src->kind) {
	case SHMRT_MV_LIST:
		return src->u.l.len;
	case SHMRT_MV_MAP:
		return (int64_t)shmrt_mv_map_len(src);
	case SHMRT_MV_BYTES:
		return (int64_t)src->u.s.n;
	case SHMRT_MV_STR: {
		int64_t n = 0;
		for (size_t i = 0; i < src->u.s.n; i++)
			n += ((unsigned char)src->u.s.p[i] & 0xc0) != 0x80;
		return n;
	}
	default:
		return -1;
	}
}

/*
 * extend [iterable]: appends what Python's list.extend takes from it: a list's items,
 * a map's keys (a dict iterates its keys), a str's characters, a bytes' byte values
 * (ints). Anything else is -EINVAL (TypeError), a ref too: the objects a proxy names
 * are not iterated (pass their copy). All or nothing: on -ENOMEM or -E2BIG what was
 * appended is taken back.
 */
static int l_extend(shmrt__mcall_t *c)
{
	if (ARGC(c) != 1)
		return -EINVAL;
	const shmrt_mv_t *src = ARG(c, 0);
	int64_t n = extend_len(src);
	if (n < 0)
		return -EINVAL;
	size_t pos = 0;
	const char *at = src->kind == SHMRT_MV_STR ? src->u.s.p : NULL;
	int64_t done = 0;
	int rc = 0;
	for (; done < n; done++) {
		shmrt_mv_t *v = extend_item(src, &pos, &at);
		if ((rc = shmrt_mv_list_append(DATA(c), v)) != 0)
			break;
		shmrt__mstore_refs_adjust(c->st, v, +1);
	}
	while (rc && done-- > 0) { /* take back what this call appended */
		shmrt_mv_t *v;
		if (shmrt_mv_list_pop(DATA(c), -1, &v) == 0)
			shmrt__mstore_drop(c->st, v);
	}
	return rc;
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
	shmrt_mv_t *v = shmrt_mv_list_get(DATA(c), i);
	if (!v)
		return -ERANGE; /* IndexError, an empty list's too */
	/* the value leaves the list: its refs become the caller's pending references */
	int rc = shmrt__mstore_hand(c->st, c->sess, v, true);
	if (rc)
		return rc; /* the list unchanged */
	rc = shmrt_mv_list_pop(DATA(c), i, &v);
	if (rc)
		return rc; /* cannot happen: i is in range */
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

/*
 * Python's a < b, with lists (Python's lists and tuples) compared as Python compares
 * sequences: at the first index where the items differ (==, shmrt_mv_equal) those
 * two are compared, recursively; if one is a prefix of the other, the shorter is
 * less. 0 and *lt, or -EINVAL (unorderable: Python's TypeError). Stored trees passed
 * refs_check, so the recursion is bounded by SHMRT_MV_DEPTH_MAX.
 */
static int seq_less(const shmrt_mv_t *a, const shmrt_mv_t *b, int *lt)
{
	if (a->kind != SHMRT_MV_LIST || b->kind != SHMRT_MV_LIST)
		return shmrt__mv_less(a, b, lt);
	uint32_t n = a->u.l.len < b->u.l.len ? a->u.l.len : b->u.l.len;
	for (uint32_t i = 0; i < n; i++) {
		const shmrt_mv_t *x = a->u.l.items[i], *y = b->u.l.items[i];
		if (x != y && !shmrt_mv_equal(x, y))
			return seq_less(x, y, lt);
	}
	*lt = a->u.l.len < b->u.l.len;
	return 0;
}

/* Stable merge sort of a[0, n) with tmp of n slots. 0, or -EINVAL (two items that do
 * not compare: a is then in some order, its items all there). */
static int merge_sort(shmrt_mv_t **a, shmrt_mv_t **tmp, uint32_t n)
{
	if (n < 2)
		return 0;
	uint32_t h = n / 2;
	int rc = merge_sort(a, tmp, h);
	if (rc == 0)
		rc = merge_sort(a + h, tmp, n - h);
	if (rc)
		return rc;
	uint32_t i = 0, j = h, k = 0;
	while (i < h && j < n) {
		int lt = 0;
		if ((rc = seq_less(a[j], a[i], &lt)) != 0) /* the right one only if smaller */
			return rc;
		tmp[k++] = lt ? a[j++] : a[i++];
	}
	while (i < h)
		tmp[k++] = a[i++];
	while (j < n)
		tmp[k++] = a[j++];
	memcpy(a, tmp, n * sizeof(*a));
	return 0;
}

/* sort [] or [reverse: bool]. The items are sorted in a copy of the item array,
 * stored back only once sorted: a sort that fails leaves the list as it was. */
static int l_sort(shmrt__mcall_t *c)
{
	bool rev = false;
	if (ARGC(c) > 1 || (ARGC(c) == 1 && shmrt_mv_as_bool(ARG(c, 0), &rev)))
		return -EINVAL;
	shmrt_mv_t **a = DATA(c)->u.l.items;
	uint32_t n = DATA(c)->u.l.len;
	if (n < 2)
		return 0; /* Python compares nothing */
	shmrt_mv_t **work = malloc(2 * (size_t)n * sizeof(*work));
	if (!work)
		return -ENOMEM;
	memcpy(work, a, n * sizeof(*a));
	if (rev)
		reverse_items(work, n);
	int rc = merge_sort(work, work + n, n);
	if (rc == 0) {
		if (rev)
			reverse_items(work, n);
		memcpy(a, work, n * sizeof(*a));
	}
	free(work);
	return rc;
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

/* ---- slices ---------------------------------------------------------------------- */

/*
 * A slice's bounds args[0..2] (each nil or an int; a bool counts) over a sequence of
 * len items, as CPython's PySlice_Unpack then PySlice_AdjustIndices: step nil is 1,
 * step 0 is Python's ValueError (-EINVAL here), a step below -INT64_MAX is taken as
 * -INT64_MAX (so that -step exists); a nil start is 0 (len - 1 going backwards), a
 * nil stop the end (before 0 going backwards); a negative bound counts from the end;
 * bounds are then clamped into [0, len] ([-1, len - 1] going backwards). The slice is
 * the n indices start + i * step, i in [0, n).
 * Returns: 0 and *s; -EINVAL (a bound neither nil nor int, step 0).
 */
int shmrt__mslice_parse(const shmrt_mv_t *args, int64_t len, shmrt__mslice_t *s)
{
	int64_t b[3] = { 0, 0, 1 };
	bool none[3];
	for (int i = 0; i < 3; i++) {
		const shmrt_mv_t *v = shmrt_mv_list_get(args, i);
		none[i] = shmrt_mv_kind(v) == SHMRT_MV_NIL;
		if (!v || (!none[i] && int_arg(v, &b[i])))
			return -EINVAL;
	}
	int64_t start = b[0], stop = b[1], step = none[2] ? 1 : b[2];
	if (step == 0)
		return -EINVAL; /* ValueError: slice step cannot be zero */
	if (step < -INT64_MAX)
		step = -INT64_MAX;
	if (none[0])
		start = step < 0 ? INT64_MAX : 0;
	if (none[1])
		stop = step < 0 ? INT64_MIN : INT64_MAX;
	int64_t *bd[2] = { &start, &stop };
	for (int i = 0; i < 2; i++) {
		int64_t *x = bd[i];
		if (*x < 0) {
			*x += len;
			if (*x < 0)
				*x = step < 0 ? -1 : 0;
		} else if (*x >= len) {
			*x = step < 0 ? len - 1 : len;
		}
	}
	int64_t n = 0;
	if (step < 0 && stop < start)
		n = (start - stop - 1) / -step + 1;
	else if (step > 0 && start < stop)
		n = (stop - start - 1) / step + 1;
	s->start = start;
	s->stop = stop;
	s->step = step;
	s->n = n;
	return 0;
}

/* __getslice__ [start, stop, step] -> a list: copies of the items (refs borrowed). */
int shmrt__mlist_getslice(shmrt__mcall_t *c)
{
	shmrt__mslice_t s;
	shmrt_mv_t *l = DATA(c);
	if (ARGC(c) != 3 || shmrt__mslice_parse(c->args, l->u.l.len, &s))
		return -EINVAL;
	shmrt_mv_t *r = shmrt__mv_list_new((size_t)s.n);
	if (!r)
		return -ENOMEM;
	for (int64_t i = 0; i < s.n; i++) {
		shmrt_mv_t *v = shmrt_mv_copy(l->u.l.items[s.start + i * s.step]);
		if (!v) {
			shmrt_mv_free(r);
			return -ENOMEM;
		}
		shmrt__mv_list_push(r, v);
	}
	return result(c, r);
}

/*
 * Replaces the slice's n items with the n items of seq, in place (cannot fail): the
 * old ones' refs dropped, the new ones' counted; seq is left empty.
 */
static void replace_items(shmrt__mstore_t *st, shmrt_mv_t *l, const shmrt__mslice_t *s,
			  shmrt_mv_t *seq)
{
	for (int64_t i = 0; i < s->n; i++) {
		shmrt_mv_t **slot = &l->u.l.items[s->start + i * s->step];
		shmrt_mv_t *old = *slot, *v = seq->u.l.items[i];
		*slot = v; /* v stays MV_OWNED: it moves from seq to l */
		shmrt__mstore_refs_adjust(st, v, +1);
		old->flags &= ~MV_OWNED;
		shmrt__mstore_drop(st, old);
	}
	seq->u.l.len = 0;
}

/*
 * l[start:stop] = seq for step 1 (Python's list_ass_slice: a stop before start is
 * start, so seq is inserted there): a new item array of the new length, built in one
 * pass, so any slice costs O(len + len(seq)). Returns 0, -E2BIG, -ENOMEM (l unchanged).
 */
static int splice(shmrt__mcall_t *c, const shmrt__mslice_t *s, shmrt_mv_t *seq)
{
	shmrt_mv_t *l = DATA(c);
	uint32_t len = l->u.l.len, m = seq->u.l.len;
	uint32_t a = (uint32_t)s->start;
	uint32_t k = s->stop > s->start ? (uint32_t)(s->stop - s->start) : 0;
	uint64_t nlen = (uint64_t)len - k + m;
	if (nlen > MV_LIST_MAX)
		return -E2BIG;
	shmrt_mv_t *nl = shmrt__mv_list_new((size_t)nlen);
	if (!nl)
		return -ENOMEM;
	shmrt_mv_t **it = l->u.l.items;
	/* the items keep MV_OWNED: they move from l and seq into nl */
	for (uint32_t i = 0; i < a; i++)
		nl->u.l.items[nl->u.l.len++] = it[i];
	for (uint32_t i = 0; i < m; i++) {
		nl->u.l.items[nl->u.l.len++] = seq->u.l.items[i];
		shmrt__mstore_refs_adjust(c->st, seq->u.l.items[i], +1);
	}
	for (uint32_t i = a + k; i < len; i++)
		nl->u.l.items[nl->u.l.len++] = it[i];
	seq->u.l.len = 0;
	for (uint32_t i = a; i < a + k; i++) {
		it[i]->flags &= ~MV_OWNED;
		shmrt__mstore_drop(c->st, it[i]);
	}
	l->u.l.len = 0;
	shmrt_mv_free(l);
	c->o->data = nl;
	return 0;
}

/*
 * __setslice__ [start, stop, step, seq]: seq a list. Each of seq's items is first
 * passed to check (NULL: none), which may reject it (its error is the call's) or
 * turn it into the stored form in place (an Array's 'd' takes an int as a float).
 * With fixed_len, or an extended slice (step other than 1), seq must have as many
 * items as the slice (Python's ValueError: -EINVAL); else the list grows or shrinks.
 * Every check runs before anything changes: an error leaves the list as it was.
 */
int shmrt__mlist_setslice(shmrt__mcall_t *c, shmrt__mitem_check_fn check, bool fixed_len)
{
	shmrt__mslice_t s;
	shmrt_mv_t *l = DATA(c), *seq = ARG(c, 3);
	if (ARGC(c) != 4 || shmrt__mslice_parse(c->args, l->u.l.len, &s) ||
	    shmrt_mv_kind(seq) != SHMRT_MV_LIST)
		return -EINVAL;
	for (uint32_t i = 0; check && i < seq->u.l.len; i++) {
		int rc = check(c->o, seq->u.l.items[i]);
		if (rc)
			return rc;
	}
	if (fixed_len || s.step != 1) {
		if ((int64_t)seq->u.l.len != s.n)
			return -EINVAL; /* ValueError: a sequence of the wrong size */
		replace_items(c->st, l, &s, seq);
		return 0;
	}
	return splice(c, &s, seq);
}

/* __delslice__ [start, stop, step]: removes the slice's items in one pass. */
static int l_delslice(shmrt__mcall_t *c)
{
	shmrt__mslice_t s;
	shmrt_mv_t *l = DATA(c);
	if (ARGC(c) != 3 || shmrt__mslice_parse(c->args, l->u.l.len, &s))
		return -EINVAL;
	if (s.n == 0)
		return 0;
	int64_t first = s.start, step = s.step;
	if (step < 0) { /* the same indices, ascending */
		first = s.start + (s.n - 1) * step;
		step = -step;
	}
	uint32_t len = l->u.l.len, w = (uint32_t)first;
	int64_t next = first, left = s.n;
	for (uint32_t r = (uint32_t)first; r < len; r++) {
		shmrt_mv_t *v = l->u.l.items[r];
		if (left && (int64_t)r == next) {
			left--;
			next = left ? next + step : -1;
			v->flags &= ~MV_OWNED;
			shmrt__mstore_drop(c->st, v);
		} else {
			l->u.l.items[w++] = v;
		}
	}
	l->u.l.len = w;
	return 0;
}

static int l_setslice(shmrt__mcall_t *c)
{
	return shmrt__mlist_setslice(c, NULL, false);
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
	{ "__getslice__", shmrt__mlist_getslice },
	{ "__setslice__", l_setslice },
	{ "__delslice__", l_delslice },
};

const shmrt__mtype_t shmrt__mtype_list = {
	.name = "list",
	.init = list_init,
	.methods = list_methods,
	.nmethods = sizeof(list_methods) / sizeof(list_methods[0]),
};
