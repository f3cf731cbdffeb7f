/*
 * libFuzzer target: the manager server's request path after the handshake, in
 * process and without sockets: the bytes a client sends, cut into frames by the
 * server's frame reader, decoded by the bounded decoder with the server's limits and
 * run by the object store (manager/server_int.h) as manager/server.c runs them.
 *
 * Input: a control byte, then the stream of frames (4-byte big-endian lengths, as on
 * the wire; the frame cap is 64 KiB here). Control bit 0: the frames go to two
 * sessions in turn (else all to one); bit 1: the first session ends and a new one
 * starts after every fourth frame (a client that disconnects and comes back); bit 2:
 * after every frame, every parked call with a deadline reaches it. Parked calls'
 * late answers are dropped (the store has no deliver callback). A
 * frame that does not decode ends its session, as the server drops such a client.
 * The store's epoch is fixed (1), so seeds can hold the refs of the objects they
 * create (1 << 48 | n, n from 1). A user-registered type, "Box" (shmrt/mtype.h), is
 * served too: its methods create objects of any type named by the input
 * (shmrt_mtype_create), return values taken from their arguments, borrowed values,
 * and any int as their error code.
 *
 * Calls that park (a blocking get, an acquire of a held Lock) have no reply; their
 * late answers are dropped (the store has no deliver callback), and "cancel" takes
 * them back.
 *
 * Oracles, after every request: the reply is [id, rc, result] with the request's id
 * (when it had an int one), rc 0 or a negative errno, result nil on an error, and it
 * encodes; every object's reference count equals the sessions' counts for it plus
 * the refs to it held in objects' data, and is not zero; every session's entry names
 * a live object; a session's unclaimed references (made by a Box method) are part of
 * its own. At the end, once every session has ended: what is left holds only
 * references from containers (cycles, which the store never collects), and the
 * store frees everything (LeakSanitizer checks). Every frame that the server's fast
 * path for calls reads (shmrt__mcall_read) must decode, by the general decoder, into
 * the same request; control bit 3 runs such frames as the server does
 * (shmrt__mstore_call), the others through shmrt__mstore_request.
 * Remote region objects (manager/remote.c): a region, "shmrt-fuzz-remote", is made
 * once per process (replacing one that only dead fuzzers held) with a Value "v"
 * (int64), a Counter "c", an Array "a" (8 int32), a Queue "q" (8 messages of up to
 * 16 bytes) and a Dict "d" (keys of 16, values of 64 bytes), and attached to every
 * input's store, so that "ropen [region, kind, name]" and the remote.* methods meet
 * the input's arguments. Their contents carry over from input to input (a full
 * queue, a dict out of room: each a clear error); it is unlinked at exit.
 * Built with clang -fsanitize=fuzzer,address,undefined.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manager/frame.h"
#include "manager/server_int.h"

#include <shmrt.h>
#include <shmrt/mtype.h>

#define MAX_FRAME (64u << 10)
#define NSESS 2

/* ---- Box: a user type whose state is an int (len: the int) -------------------------- */

static int box_init(const shmrt_mv_t *init, void **state)
{
	int64_t v = 0;
	if (init && shmrt_mv_as_int(init, &v))
		return -EINVAL;
	int64_t *p = malloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	*p = v;
	*state = p;
	return 0;
}

static void box_fini(void *state)
{
	free(state);
}

static size_t box_len(const void *state)
{
	return (size_t)*(const int64_t *)state;
}

/* make [type, init?] -> a new object's ref; make2 [type] -> [ref], a second made and
 * not returned */
static int box_make(shmrt_mtype_ctx_t *ctx, void *state, shmrt_mv_t *args, shmrt_mv_t **res)
{
	(void)state;
	const char *t;
	shmrt_mv_t *init = NULL;
	if (shmrt_mv_as_str(shmrt_mv_list_get(args, 0), &t, NULL))
		return -EINVAL;
	if (shmrt_mv_list_len(args) > 1 && shmrt_mv_list_pop(args, 1, &init))
		return -EINVAL;
	return shmrt_mtype_create(ctx, t, init, res);
}

static int box_make2(shmrt_mtype_ctx_t *ctx, void *state, shmrt_mv_t *args, shmrt_mv_t **res)
{
	shmrt_mv_t *a = NULL, *b = NULL;
	int rc = box_make(ctx, state, args, &a);
	if (rc == 0)
		rc = shmrt_mtype_create(ctx, "Box", NULL, &b);
	shmrt_mv_free(b);
	if (rc == 0) {
		*res = shmrt_mv_list();
		rc = shmrt_mv_list_append(*res, a);
		a = NULL;
	}
	shmrt_mv_free(a);
	return rc;
}

/* echo [x] -> x (taken); borrow [x] -> x (not taken: refused) */
static int box_echo(shmrt_mtype_ctx_t *ctx, void *state, shmrt_mv_t *args, shmrt_mv_t **res)
{
	(void)ctx;
	(void)state;
	return shmrt_mv_list_pop(args, 0, res) ? -EINVAL : 0;
}

static int box_borrow(shmrt_mtype_ctx_t *ctx, void *state, shmrt_mv_t *args, shmrt_mv_t **res)
{
	(void)ctx;
	(void)state;
	*res = shmrt_mv_list_get(args, 0);
	return 0;
}

/* fail [rc, x?] -> returns rc, whatever int it is, with x as a result to drop; add
 * [n] adds n to the state */
static int box_fail(shmrt_mtype_ctx_t *ctx, void *state, shmrt_mv_t *args, shmrt_mv_t **res)
{
	int64_t rc;
	if (shmrt_mv_as_int(shmrt_mv_list_get(args, 0), &rc))
		return -EINVAL;
	if (shmrt_mv_list_len(args) > 1)
		(void)box_make(ctx, state, shmrt_mv_list_get(args, 1), res);
	return (int)rc;
}

static int box_add(shmrt_mtype_ctx_t *ctx, void *state, shmrt_mv_t *args, shmrt_mv_t **res)
{
	(void)ctx;
	(void)res;
	int64_t n;
	if (shmrt_mv_as_int(shmrt_mv_list_get(args, 0), &n) || n < 0 || n > 1000)
		return -EINVAL;
	*(int64_t *)state += n;
	return 0;
}

static const shmrt_mtype_method_t box_methods[] = {
	{ "make", box_make }, { "make2", box_make2 }, { "echo", box_echo },
	{ "borrow", box_borrow }, { "fail", box_fail }, { "add", box_add },
};
static const shmrt_mtype_t box_type = {
	.name = "Box", .init = box_init, .fini = box_fini, .methods = box_methods,
	.nmethods = sizeof(box_methods) / sizeof(box_methods[0]), .len = box_len,
};
static const shmrt_mtype_t *const user_types[] = { &box_type };

/* incoming[id] += 1 for every ref in v. */
static void count_refs(const shmrt_mv_t *v, shmrt__idmap_t *incoming)
{
	switch (shmrt_mv_kind(v)) {
	case SHMRT_MV_REF: {
		uint64_t id;
		if (shmrt_mv_as_ref(v, &id))
			abort();
		uintptr_t *p = shmrt__idmap_find(incoming, id);
		if (p)
			(*p)++;
		else if (shmrt__idmap_put(incoming, id, 1))
			abort();
		break;
	}
	case SHMRT_MV_LIST:
		for (size_t i = 0; i < shmrt_mv_list_len(v); i++)
			count_refs(shmrt_mv_list_get(v, (int64_t)i), incoming);
		break;
	case SHMRT_MV_MAP: {
		size_t pos = 0;
		const shmrt_mv_t *k;
		shmrt_mv_t *val;
		while (shmrt_mv_map_next(v, &pos, &k, &val)) {
			count_refs(k, incoming);
			count_refs(val, incoming);
		}
		break;
	}
	default:
		break;
	}
}

/* Every object's refs = its sessions' counts + the refs to it in objects' data and in
 * what parked calls carry (a put's item). */
static void check_store(shmrt__mstore_t *st, shmrt__msess_t *sess, size_t nsess)
{
	shmrt__idmap_t incoming = { 0 };
	for (size_t i = 0; i < st->objs.cap; i++)
		if (st->objs.keys[i])
			count_refs(((shmrt__mobj_t *)st->objs.vals[i])->data, &incoming);
	for (size_t s = 0; s < nsess; s++)
		for (const shmrt__mwait_t *w = sess[s].waits; w; w = w->snext)
			if (w->arg)
				count_refs(w->arg, &incoming);
	for (size_t s = 0; s < nsess; s++)
		for (size_t i = 0; i < sess[s].refs.cap; i++) {
			shmrt__mobj_t *o;
			if (sess[s].refs.keys[i] &&
			    (sess[s].refs.vals[i] == 0 || shmrt__mstore_lookup(st, sess[s].refs.keys[i], &o)))
				abort(); /* a session holds a reference to no live object */
		}
	for (size_t s = 0; s < nsess; s++)
		for (size_t i = 0; i < sess[s].pending.cap; i++) {
			uint64_t id = sess[s].pending.keys[i];
			uintptr_t *held = id ? shmrt__idmap_find(&sess[s].refs, id) : NULL;
			if (id && (sess[s].pending.vals[i] == 0 || !held ||
				   *held < sess[s].pending.vals[i]))
				abort(); /* unclaimed references beyond the session's own */
		}
	for (size_t i = 0; i < incoming.cap; i++) {
		shmrt__mobj_t *o;
		if (incoming.keys[i] && shmrt__mstore_lookup(st, incoming.keys[i], &o))
			abort(); /* a stored ref to no live object */
	}
	for (size_t i = 0; i < st->objs.cap; i++) {
		if (!st->objs.keys[i])
			continue;
		shmrt__mobj_t *o = (shmrt__mobj_t *)st->objs.vals[i];
		if (o->id != st->objs.keys[i] || o->refs == 0 || o->on_dead)
			abort();
		uint64_t want = 0;
		uintptr_t *p = shmrt__idmap_find(&incoming, o->id);
		if (p)
			want += *p;
		for (size_t s = 0; s < nsess; s++)
			if ((p = shmrt__idmap_find(&sess[s].refs, o->id)) != NULL)
				want += *p;
		if (o->refs != want)
			abort();
	}
	if (st->dead)
		abort(); /* reaped after every request */
	shmrt__idmap_fini(&incoming);
}

static void check_reply(const shmrt_mv_t *req_copy, const shmrt_mv_t *reply, shmrt_mv_buf_t *buf)
{
	int64_t id, rc, want_id = 0;
	if (shmrt_mv_list_len(reply) != 3 || shmrt_mv_as_int(shmrt_mv_list_get(reply, 0), &id) ||
	    shmrt_mv_as_int(shmrt_mv_list_get(reply, 1), &rc) || rc > 0 || rc < -4095)
		abort();
	if (shmrt_mv_list_len(req_copy) == 3 &&
	    shmrt_mv_as_int(shmrt_mv_list_get(req_copy, 0), &want_id) == 0 && id != want_id)
		abort();
	if (rc && shmrt_mv_kind(shmrt_mv_list_get(reply, 2)) != SHMRT_MV_NIL)
		abort();
	buf->len = 0;
	int e = shmrt_mv_encode(reply, buf);
	if (e && e != -EMSGSIZE)
		abort();
}

/* Whether req (the general decoder's) is [h->id, "call", [ref h->obj, h->name, args]]. */
static bool same_call(const shmrt_mv_t *req, const shmrt__mcall_head_t *h, const shmrt_mv_t *args)
{
	shmrt_mv_t *inner = shmrt_mv_list_get(req, 2);
	int64_t id;
	uint64_t obj;
	const char *op, *name;
	return shmrt_mv_list_len(req) == 3 && shmrt_mv_as_int(shmrt_mv_list_get(req, 0), &id) == 0 &&
	       id == h->id && shmrt_mv_as_str(shmrt_mv_list_get(req, 1), &op, NULL) == 0 &&
	       strcmp(op, "call") == 0 && shmrt_mv_list_len(inner) == 3 &&
	       shmrt_mv_as_ref(shmrt_mv_list_get(inner, 0), &obj) == 0 && obj == h->obj &&
	       shmrt_mv_as_str(shmrt_mv_list_get(inner, 1), &name, NULL) == 0 &&
	       strcmp(name, h->name) == 0 && shmrt_mv_identical(shmrt_mv_list_get(inner, 2), args);
}

static void end_session(shmrt__mstore_t *st, shmrt__msess_t *sess)
{
	st->nsessions--;
	shmrt__mstore_session_end(st, sess);
	shmrt__mstore_session_start(st, sess, NULL);
	st->nsessions++; /* the client comes back at once */
}

#define FUZZ_REGION "shmrt-fuzz-remote"

static void remote_unlink(void)
{
	(void)shmrt_region_unlink(FUZZ_REGION); /* a fuzzer sharing it keeps its mapping */
}

/* The attached region, made and attached once (a store of its own holds it). */
static struct shmrt__mremote *remote_once(void)
{
	static shmrt__mstore_t holder;
	static int done;
	if (done)
		return holder.remote;
	done = 1;
	shmrt_region_t *r;
	shmrt_region_opts_t ro;
	shmrt_region_opts_init(&ro);
	ro.size = 16u << 20;
	if (shmrt_region_open(FUZZ_REGION, SHMRT_O_CREATE | SHMRT_O_FRESH, &ro, &r))
		abort();
	atexit(remote_unlink);
	shmrt_value_t v;
	shmrt_counter_t c;
	shmrt_array_t a;
	shmrt_queue_t q;
	shmrt_dict_t d;
	shmrt_dict_opts_t dopt = { .max_key = 16, .max_value = 64, .partitions = 4 };
	if (shmrt_value_open(r, "v", SHMRT_O_CREATE, SHMRT_VT_INT64, NULL, &v) ||
	    shmrt_counter_open(r, "c", SHMRT_O_CREATE, &c) ||
	    shmrt_array_open(r, "a", SHMRT_O_CREATE, SHMRT_VT_INT32, 8, NULL, &a) ||
	    shmrt_queue_open(r, "q", SHMRT_O_CREATE | SHMRT_QUEUE_NO_EOF, 8, 16, &q) ||
	    shmrt_dict_open(r, "d", SHMRT_O_CREATE, &dopt, &d))
		abort();
	static const char *const names[] = { FUZZ_REGION, NULL };
	if (shmrt__remote_attach(&holder, names, MAX_FRAME))
		abort();
	(void)shmrt_region_close(r); /* the holder's attachment keeps it */
	return holder.remote;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned ctrl = data[0];
	data++, size--;

	shmrt__mstore_t st;
	if (shmrt__mstore_init(&st, 1) || shmrt__mstore_set_types(&st, user_types, 1))
		abort();
	st.remote = remote_once(); /* lent: taken back before the store ends */
	shmrt__msess_t sess[NSESS];
	for (unsigned s = 0; s < NSESS; s++)
		shmrt__mstore_session_start(&st, &sess[s], NULL);
	st.nsessions = NSESS;
	shmrt_mv_buf_t buf;
	shmrt_mv_buf_init(&buf);
	shmrt_mv_limits_t lim = { .max_bytes = MAX_FRAME };

	shmrt__frame_reader_t r;
	shmrt__frame_reader_init(&r, MAX_FRAME);
	size_t off = 0, k = 0;
	while (off < size) {
		size_t used;
		int rc = shmrt__frame_feed(&r, data + off, size - off, &used);
		off += used;
		if (rc < 0)
			break; /* a bad length: the server drops the client */
		if (rc == 0)
			break; /* the stream ends mid-frame */
		size_t n;
		const uint8_t *p = shmrt__frame_data(&r, &n);
		unsigned s = (ctrl & 1) ? k & 1 : 0;
		shmrt_mv_t *req, *reply, *fargs = NULL;
		shmrt__mcall_head_t h;
		int fast = p && shmrt__mcall_read(p, n, MAX_FRAME, &h, &fargs) == 0;
		rc = shmrt_mv_decode(p ? p : (const uint8_t *)"", n, &lim, &req);
		shmrt__frame_next(&r);
		if (fast && (rc || !same_call(req, &h, fargs)))
			abort(); /* the fast path read what the general one does not */
		if (rc) {
			end_session(&st, &sess[s]);
		} else {
			shmrt_mv_t *copy = shmrt_mv_copy(req);
			if (!copy)
				abort();
			if (fast && (ctrl & 8)) { /* as the server runs it: head unbuilt */
				shmrt_mv_t *res;
				int crc;
				shmrt_mv_free(req);
				reply = NULL;
				if (!shmrt__mstore_call(&st, &sess[s], h.id, h.obj, h.name, fargs, &crc,
							&res)) {
					fargs = NULL;
					reply = shmrt_mv_list_cap(3);
					if (!reply || shmrt_mv_list_append(reply, shmrt_mv_int(h.id)) ||
					    shmrt_mv_list_append(reply, shmrt_mv_int(crc)) ||
					    shmrt_mv_list_append(reply, res ? res : shmrt_mv_nil()))
						abort();
				}
				fargs = NULL; /* consumed either way */
			} else if (shmrt__mstore_request(&st, &sess[s], req, &reply)) {
				abort(); /* -ENOMEM only, which the fuzzer's limits never reach */
			}
			if (reply) /* NULL: the call parked (its late answer is dropped) */
				check_reply(copy, reply, &buf);
			shmrt_mv_free(copy);
			shmrt_mv_free(reply);
		}
		shmrt_mv_free(fargs);
		if ((ctrl & 2) && k % 4 == 3)
			end_session(&st, &sess[0]);
		if (ctrl & 4) /* every parked call's deadline passes */
			(void)shmrt__mstore_expire(&st, UINT64_MAX - 1);
		check_store(&st, sess, NSESS);
		k++;
	}
	shmrt__frame_reader_fini(&r);

	/* Every client goes: only containers' references may remain (cycles). */
	for (unsigned s = 0; s < NSESS; s++) {
		st.nsessions--;
		shmrt__mstore_session_end(&st, &sess[s]);
	}
	check_store(&st, NULL, 0);
	if (st.nsessions != 0)
		abort();
	shmrt_mv_buf_free(&buf);
	struct shmrt__mremote *lent = st.remote;
	st.remote = NULL;
	shmrt__mstore_fini(&st); /* the handles go; the attachment stays */
	(void)lent;
	return 0;
}
