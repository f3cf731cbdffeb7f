/*
 * The "objects" request: what the store holds, for `shmrt manager ls` and for tests
 * that check that nothing leaked.
 *
 *   objects [] -> {"epoch": e, "sessions": n, "count": n, "truncated": bool,
 *                  "objects": [{"id": ref, "type": str, "len": n, "bytes": n,
 *                               "refs": n}, ...]}
 *
 * Objects are listed by id (so in creation order), at most SHMRT__MSTORE_LS_MAX of
 * them (a reply stays far below the 16 MiB frame cap; "count" is the true number and
 * "truncated" says whether some were left out). "len" is what Python's len() gives
 * (items of a list, keys of a dict, attributes of a Namespace, a Queue's items:
 * its type's len hook); "bytes" the size of
 * the object's value in msgpack, what a copy of it costs on the wire; "refs" its
 * reference count (the sessions' and the containers'). A user-registered type's
 * object (manager/mtype_user.c) has no value: "len" is what its type's len callback
 * says (0 without one), "bytes" 0.
 *
 * It reads the store and changes nothing. Concurrency: the server's thread.
 */
#include "manager/server_int.h"

#include <shmrt/mtype.h>

#include <errno.h>
#include <stdlib.h>

static int by_id(const void *a, const void *b)
{
	uint64_t x = (*(shmrt__mobj_t *const *)a)->id, y = (*(shmrt__mobj_t *const *)b)->id;
	return x < y ? -1 : x > y;
}

static size_t value_len(const shmrt_mv_t *v)
{
	switch (shmrt_mv_kind(v)) {
	case SHMRT_MV_LIST:
		return shmrt_mv_list_len(v);
	case SHMRT_MV_MAP:
		return shmrt_mv_map_len(v);
	default:
		return 0;
	}
}

/* {"id": ..., ...} of one object; NULL on -ENOMEM. A user type's object holds no
 * value: its len is its type's len callback's (0 without one), its bytes 0. */
static shmrt_mv_t *describe(const shmrt__mobj_t *o, shmrt_mv_buf_t *buf)
{
	const shmrt_mtype_t *u = shmrt__mutype_of(o->type);
	buf->len = 0;
	int64_t bytes = u ? 0 : shmrt_mv_encode(o->data, buf) == 0 ? (int64_t)buf->len : -1;
	size_t len = u ? (u->len ? u->len(o->priv) : 0)
		       : o->type->len ? o->type->len(o) : value_len(o->data);
	shmrt_mv_t *m = shmrt_mv_map_cap(5);
	if (!m)
		return NULL;
	int rc = shmrt_mv_map_set(m, shmrt_mv_str("id"), shmrt_mv_ref(o->id));
	if (!rc)
		rc = shmrt_mv_map_set(m, shmrt_mv_str("type"), shmrt_mv_str(o->type->name));
	if (!rc)
		rc = shmrt_mv_map_set(m, shmrt_mv_str("len"), shmrt_mv_int((int64_t)len));
	if (!rc)
		rc = shmrt_mv_map_set(m, shmrt_mv_str("bytes"), shmrt_mv_int(bytes));
	if (!rc)
		rc = shmrt_mv_map_set(m, shmrt_mv_str("refs"), shmrt_mv_int((int64_t)o->refs));
	if (rc) {
		shmrt_mv_free(m);
		return NULL;
	}
	return m;
}

/*
 * Builds the reply of "objects" into *res.
 * Returns: 0 and *res; -EINVAL (arguments given); -ENOMEM. Concurrency: server thread.
 */
int shmrt__mstore_objects(shmrt__mstore_t *st, const shmrt_mv_t *args, shmrt_mv_t **res)
{
	if (shmrt_mv_list_len(args) != 0)
		return -EINVAL;
	size_t n = 0, count = st->objs.n;
	shmrt__mobj_t **v = count ? malloc(count * sizeof(*v)) : NULL;
	if (count && !v)
		return -ENOMEM;
	for (size_t i = 0; i < st->objs.cap && n < count; i++)
		if (st->objs.keys[i])
			v[n++] = (shmrt__mobj_t *)st->objs.vals[i];
	if (n > 1)
		qsort(v, n, sizeof(*v), by_id); /* (qsort of NULL is undefined, even for 0) */
	size_t shown = n < SHMRT__MSTORE_LS_MAX ? n : SHMRT__MSTORE_LS_MAX;

	shmrt_mv_buf_t buf;
	shmrt_mv_buf_init(&buf);
	shmrt_mv_t *list = shmrt_mv_list_cap(shown), *m = shmrt_mv_map_cap(5);
	int rc = list && m ? 0 : -ENOMEM;
	for (size_t i = 0; i < shown && !rc; i++) {
		shmrt_mv_t *d = describe(v[i], &buf);
		rc = d ? shmrt_mv_list_append(list, d) : -ENOMEM;
	}
	shmrt_mv_buf_free(&buf);
	free(v);
	if (!rc)
		rc = shmrt_mv_map_set(m, shmrt_mv_str("epoch"), shmrt_mv_int((int64_t)st->epoch));
	if (!rc)
		rc = shmrt_mv_map_set(m, shmrt_mv_str("sessions"),
				      shmrt_mv_int((int64_t)st->nsessions));
	if (!rc)
		rc = shmrt_mv_map_set(m, shmrt_mv_str("count"), shmrt_mv_int((int64_t)n));
	if (!rc)
		rc = shmrt_mv_map_set(m, shmrt_mv_str("truncated"), shmrt_mv_bool(shown < n));
	if (!rc) {
		rc = shmrt_mv_map_set(m, shmrt_mv_str("objects"), list);
		list = NULL; /* consumed */
	}
	shmrt_mv_free(list);
	if (rc) {
		shmrt_mv_free(m);
		return rc < 0 ? rc : -ENOMEM;
	}
	*res = m;
	return 0;
}
