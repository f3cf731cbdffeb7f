/*
 * The Dict's consistency check, for tests and tools (dict_int.h): it walks every
 * partition under its lock, so it sees a quiescent partition, and recovers one whose
 * writer died before it looks. Nothing here is on a user's path.
 */
#define _GNU_SOURCE
#include "dict_int.h"

#include <errno.h>

static int check_part(struct wctx *w, const char **why)
{
	struct shmrt_region *r = w->r;
	struct dict_part *pt = w->pt;
	uint64_t lo = r->geo.arena_off, hi = r->pub.size - sizeof(struct dict_node);
	struct dict_table *t = at(r, w->d->tables[w->p]);
	if (t->magic != TABLE_MAGIC || (t->mask & (t->mask + 1))) {
		*why = "table header";
		return -EBADMSG;
	}
	if (pt->j_op != J_NONE) {
		*why = "journal left open";
		return -EBADMSG;
	}
	uint64_t count = 0, bytes = table_bytes(t->mask + 1);
	for (uint64_t b = 0; b <= t->mask; b++) {
		for (uint64_t o = t->buckets[b]; o; o = ((struct dict_node *)at(r, o))->next) {
			if (o < lo || o > hi || count > pt->count + 1) {
				*why = "chain offset out of bounds, or a cycle";
				return -EBADMSG;
			}
			struct dict_node *n = at(r, o);
			if ((n->hash & t->mask) != b || part_of(w->d, n->hash) != w->p ||
			    n->hash != hash_key(n->kv, n->klen, w->d->seed) ||
			    n->klen > w->d->max_key || n->vlen > w->d->max_value) {
				*why = "node in the wrong bucket or with a wrong hash";
				return -EBADMSG;
			}
			uint32_t steps = 0;
			for (uint64_t q = n->next; q && node_ok(r, q) && steps++ < MAX_CHAIN;
			     q = ((struct dict_node *)at(r, q))->next) {
				struct dict_node *m = at(r, q);
				if (m->hash == n->hash && m->klen == n->klen &&
				    !memcmp(m->kv, n->kv, n->klen)) {
					*why = "a key twice";
					return -EBADMSG;
				}
			}
			if (shmrt__dict_in_limbo(w, o)) {
				*why = "a reachable node is retired";
				return -EBADMSG;
			}
			count++;
			bytes += node_bytes(n);
		}
	}
	if (count != pt->count || bytes != pt->bytes) {
		*why = "count or bytes differ from the table";
		return -EBADMSG;
	}
	uint64_t ln = 0, prev = UINT64_MAX;
	for (uint64_t o = pt->limbo; o; o = ((struct limbo *)at(r, o))->rnext) {
		struct limbo *e = at(r, o);
		if (o < lo || o > hi || ln > pt->limbo_n || (e->repoch >> 1) > prev) {
			*why = "limbo list malformed or out of order";
			return -EBADMSG;
		}
		if (o == w->d->tables[w->p]) {
			*why = "the current table is retired";
			return -EBADMSG;
		}
		prev = e->repoch >> 1;
		ln++;
	}
	if (ln != pt->limbo_n) {
		*why = "limbo count differs";
		return -EBADMSG;
	}
	return 0;
}

int shmrt__dict_check(const shmrt_dict_t *d, const char **why)
{
	for (uint32_t p = 0; p < d->nparts; p++) {
		struct wctx w;
		int rc = shmrt__dict_wlock(d, p, &w);
		if (rc) {
			*why = "partition lock";
			return rc;
		}
		rc = check_part(&w, why);
		shmrt__pmutex_unlock(&w.pt->lock);
		if (rc)
			return rc;
	}
	return 0;
}

