/*
 * Internals of libshmrt_cluster shared by its files: the cluster handle, the table of
 * objects, and the collective helpers (cluster.c says how objects are placed).
 */
#ifndef SHMRT_CLUSTER_INT_H
#define SHMRT_CLUSTER_INT_H

#include "shmrt/cluster.h"

#include <stdbool.h>

#define DEFAULT_WINDOW_BYTES (64u * 1024u)

enum { KIND_VALUE = 1, KIND_COUNTER = 2, KIND_ARRAY = 3, KIND_QUEUE = 4, KIND_DICT = 5 };

struct object {
	char name[SHMRT_CLUSTER_OBJNAME_MAX + 1];
	int kind;
	int home;         /* Value: its home node; Counter: -1 (every node) */
	int64_t disp;     /* in words */
	int64_t len;      /* Array: its length; Queue: capacity << 32 | msg_max */
	int64_t hint_head, hint_tail;  /* Queue: the last head and tail this rank saw
	                                  (lower bounds: both only grow), for the fast
	                                  paths of cluster/queue.c */
};

struct shmrt_cluster {
	MPI_Comm comm;          /* dup of the user's communicator */
	MPI_Comm node_comm;     /* this rank's node */
	MPI_Win win;
	int64_t *base;          /* this rank's window memory (leaders); never touched
	                           after the open but by MPI */
	int64_t words;          /* window words per leader */
	int rank, size, node, nodes, node_rank, node_size;
	int *leader;            /* leader[k]: rank of node k's leader */
	int *scratch_int;       /* size ints, for the open */
	int64_t *next;          /* next[k]: next free word of node k's window */
	int64_t *scratch;       /* nodes results of shmrt_cluster_counter_read */
	struct object *objs;
	size_t nobjs, capobjs;
	shmrt_region_t *region;
	bool split_writes;      /* SHMRT_CLUSTER_SPLIT_WRITES=1 (tests): an Array's range
	                           writes go element by element, with yields between, to
	                           widen the window a torn read would need */
	char name[SHMRT_CLUSTER_NAME_MAX + 1];
};

/* Every rank's rc in, the same rc out on every rank (the most negative). */
int shmrt__cl_agree(MPI_Comm comm, int rc);

/*
 * Checks a collective object open's arguments on every rank, then finds the object
 * `name` (returns 1, or -EPROTOTYPE when it has another kind) or places a new one
 * (returns 0): home >= 0: `words` words on node home; home < 0: `words` words at one
 * displacement on every node. extra: what else every rank must agree on. Errors, on
 * every rank: -EINVAL, -ENAMETOOLONG, -ENOSPC, -ENOMEM, -EIO.
 */
int shmrt__cl_place(shmrt_cluster_t *cl, const char *name, int kind, uint64_t extra, int home,
		    int64_t words, struct object **obj);

/* Backs off after the n-th failed try of a wait (a yield, then short sleeps). */
void shmrt__cl_backoff(unsigned n);

#endif
