/* Internals of the Dict exposed to tests (core/dict.c). */
#ifndef SHMRT_CORE_DICT_INT_H
#define SHMRT_CORE_DICT_INT_H

#include "shmrt/dict.h"

/*
 * Full consistency check, partition by partition under its lock (which also runs the
 * recovery of a partition whose writer died): every chain offset in bounds and every
 * node in the partition and bucket of its hash, no key twice, counts and byte totals
 * equal to what the structure holds, the limbo list ordered by tag, well formed, and
 * disjoint from the tables. Returns 0, or -EBADMSG with *why set.
 */
int shmrt__dict_check(const shmrt_dict_t *d, const char **why);

#endif /* SHMRT_CORE_DICT_INT_H */
