/*
 * The head of a call request read in place: the server's fast path for the request
 * that nearly every proxy method sends, [id, "call", [ref, name, args]].
 *
 * Decoding a whole request into a tree costs about ten allocations (the two lists,
 * the id, "call", the ref, the name, each with its own node) that are freed as soon
 * as the call has run. When the frame has the usual shape - a plain unsigned id (a
 * positive fixint or uint 8/16/32/64 up to INT64_MAX), "call" as a fixstr, the ref as
 * fixext 8 of type SHMRT_MV_EXT_REF, the name a fixstr of 1-31 printable ASCII bytes
 * - the head is read straight from the bytes and only args is decoded, with the
 * limits that decoding the whole frame would have left it (six values and two levels
 * fewer). Anything else, or args that would not decode, is refused here and takes
 * the general path, which then decides exactly as it always has: the fast path
 * accepts only frames that the general decoder turns into the same request (the
 * manager_frames fuzz target checks it on every frame).
 *
 * Concurrency: any thread; p is only read.
 */
#include "manager/server_int.h"
#include "manager/mvalue_int.h"

#include <errno.h>
#include <string.h>

int shmrt__mcall_read(const uint8_t *p, size_t n, size_t max_bytes, shmrt__mcall_head_t *h,
		      shmrt_mv_t **args)
{
	size_t off = 1;
	uint64_t id = 0, obj = 0;
	if (n < 21 || n > max_bytes || p[0] != 0x93)
		return 1;
	uint8_t t = p[off++];
	int w = t < 0x80 ? 0 : t >= 0xcc && t <= 0xcf ? 1 << (t - 0xcc) : -1;
	if (w < 0 || n - off < (size_t)w + 18)
		return 1;
	id = w ? 0 : t;
	for (int i = 0; i < w; i++)
		id = id << 8 | p[off++];
	if (id > INT64_MAX || memcmp(p + off, "\xa4"
					      "call"
					      "\x93\xd7\x01",
				     8))
		return 1;
	off += 8;
	for (int i = 0; i < 8; i++)
		obj = obj << 8 | p[off++];
	t = p[off++];
	size_t ln = t >= 0xa1 && t <= 0xbf ? (size_t)(t - 0xa0) : 0;
	if (!ln || n - off < ln + 1)
		return 1;
	for (size_t i = 0; i < ln; i++) {
		if (p[off + i] < 0x21 || p[off + i] > 0x7e)
			return 1;
		h->name[i] = (char)p[off + i];
	}
	h->name[ln] = 0;
	off += ln;
	shmrt_mv_limits_t lim = { .max_bytes = max_bytes,
				  .max_elems = SHMRT_MV_MAX_ELEMS_DEFAULT - 6,
				  .max_depth = SHMRT_MV_MAX_DEPTH_DEFAULT - 2 };
	shmrt_mv_t *a;
	if (shmrt_mv_decode(p + off, n - off, &lim, &a))
		return 1;
	if (a->kind != SHMRT_MV_LIST) {
		shmrt_mv_free(a);
		return 1;
	}
	h->id = (int64_t)id;
	h->obj = obj;
	*args = a;
	return 0;
}
