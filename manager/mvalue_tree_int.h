/*
 * Manager values: what the files of the tree share among themselves, besides the
 * layout (mvalue_int.h): mvalue.c (constructors, accessors, lists, free), mvalue_map.c
 * (maps, hash, key equality) and mvalue_copy.c (copy, equality). Private to them.
 */
#ifndef SHMRT_MANAGER_MVALUE_TREE_INT_H
#define SHMRT_MANAGER_MVALUE_TREE_INT_H

#include "mvalue_int.h"
#include "base/compiler.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* A new value of kind with extra bytes after it, its flags and payload zero; NULL
 * with errno ENOMEM. */
static inline shmrt_mv_t *shmrt__mv_new(uint8_t kind, size_t extra)
{
	if (extra > SIZE_MAX - sizeof(shmrt_mv_t)) {
		errno = ENOMEM;
		return NULL;
	}
	shmrt_mv_t *v = malloc(sizeof(*v) + extra);
	if (unlikely(!v)) {
		errno = ENOMEM;
		return NULL;
	}
	v->kind = kind;
	v->flags = 0;
	v->u.i = 0;
	return v;
}

/* Checks that container c (of kind) may take item: 0, or -ENOMEM (item is NULL: its
 * constructor failed), -EINVAL (item is owned already, or is c: left alone; c is not
 * a container of kind: item is freed). */
static inline int shmrt__mv_take_check(shmrt_mv_t *c, uint8_t kind, shmrt_mv_t *item)
{
	if (!item)
		return -ENOMEM;
	if ((item->flags & MV_OWNED) || item == c)
		return -EINVAL; /* not ours to free */
	if (!c || c->kind != kind) {
		shmrt_mv_free(item);
		return -EINVAL;
	}
	return 0;
}

/* Python's == on two scalars (keys or not): numbers by value across bool, int and
 * float; str and bytes as bytes, never equal to each other. */
bool shmrt__mv_scalar_eq(const shmrt_mv_t *a, const shmrt_mv_t *b);

/*
 * Finds key k (hash h) in m, which has arrays (ecap > 0): returns its entry's index,
 * or -1 with *ins the slot where it would go (the first dummy on the probe path, else
 * the empty slot ending it).
 */
int64_t shmrt__mv_map_find(const struct mv_map *m, const shmrt_mv_t *k, uint64_t h,
			   uint32_t *ins);

/* Appends a new entry (hash h) for a key known to be absent, taking key and val; ins
 * from shmrt__mv_map_find, or UINT32_MAX to probe. 0, -ENOMEM or -E2BIG (then key and
 * val are still the caller's). */
int shmrt__mv_map_insert_new(struct mv_map *m, uint64_t h, shmrt_mv_t *key, shmrt_mv_t *val,
			     uint32_t ins);

#endif /* SHMRT_MANAGER_MVALUE_TREE_INT_H */
