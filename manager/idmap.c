/*
 * The manager's maps of 64-bit ids to words (server_int.h): the store's table of
 * objects, each session's references and its pending (unclaimed) ones.
 *
 * Open addressing with linear probing in a power-of-two table kept at most half
 * full, keys mixed by murmur3's finaliser (ids are sequential: the mixer spreads
 * them); key 0 marks an empty slot, so ids are never 0. A deletion shifts back the
 * entries of its probe run (no tombstones), so lookups stay short however many
 * deletions a long-lived session makes.
 *
 * Concurrency: the map's owner's thread (the server's).
 */
#include "manager/server_int.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static size_t id_slot(uint64_t key, size_t mask)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdull;
	key ^= key >> 33;
	return (size_t)key & mask;
}

/*
 * The slot of key's value, or NULL.
 * Returns: a pointer into m (valid until the next put or del). Concurrency: owner.
 */
uintptr_t *shmrt__idmap_find(const shmrt__idmap_t *m, uint64_t key)
{
	if (!m->cap)
		return NULL;
	size_t mask = m->cap - 1;
	for (size_t i = id_slot(key, mask);; i = (i + 1) & mask) {
		if (m->keys[i] == key)
			return &m->vals[i];
		if (!m->keys[i])
			return NULL;
	}
}

/* Places key in a table that has room and does not hold it. */
static void id_place(uint64_t *keys, uintptr_t *vals, size_t cap, uint64_t key, uintptr_t val)
{
	size_t i = id_slot(key, cap - 1);
	while (keys[i])
		i = (i + 1) & (cap - 1);
	keys[i] = key;
	vals[i] = val;
}

/* Rehashes m into a table of cap slots (a power of two above 2 * m->n). 0; -ENOMEM
 * (m unchanged). */
static int id_rehash(shmrt__idmap_t *m, size_t cap)
{
	uint64_t *k = calloc(cap, sizeof(*k));
	uintptr_t *v = calloc(cap, sizeof(*v));
	if (!k || !v) {
		free(k);
		free(v);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++)
		if (m->keys[i])
			id_place(k, v, cap, m->keys[i], m->vals[i]);
	free(m->keys);
	free(m->vals);
	m->keys = k;
	m->vals = v;
	m->cap = cap;
	return 0;
}

/*
 * Sets key (not 0) to val; the table stays at most half full.
 * Returns: 0; -ENOMEM. Concurrency: owner.
 */
int shmrt__idmap_put(shmrt__idmap_t *m, uint64_t key, uintptr_t val)
{
	assert(key != 0);
	uintptr_t *p = shmrt__idmap_find(m, key);
	if (p) {
		*p = val;
		return 0;
	}
	if ((m->n + 1) * 2 > m->cap) {
		int rc = id_rehash(m, m->cap ? m->cap * 2 : 16);
		if (rc)
			return rc;
	}
	id_place(m->keys, m->vals, m->cap, key, val);
	m->n++;
	return 0;
}

/*
 * Removes key, shifting back the entries of its probe run (no tombstones).
 * Returns: 0; -ENOENT. Concurrency: owner.
 */
int shmrt__idmap_del(shmrt__idmap_t *m, uint64_t key)
{
	uintptr_t *p = shmrt__idmap_find(m, key);
	if (!p)
		return -ENOENT;
	size_t mask = m->cap - 1;
	size_t i = (size_t)(p - m->vals);
	for (size_t j = (i + 1) & mask; m->keys[j]; j = (j + 1) & mask) {
		size_t home = id_slot(m->keys[j], mask);
		/* j's entry may move to the hole i if i lies on its probe path home..j */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->keys[i] = m->keys[j];
			m->vals[i] = m->vals[j];
			i = j;
		}
	}
	m->keys[i] = 0;
	m->vals[i] = 0;
	m->n--;
	return 0;
}

/* Frees m's memory. Concurrency: owner. */
void shmrt__idmap_fini(shmrt__idmap_t *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}
