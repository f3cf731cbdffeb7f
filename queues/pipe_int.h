/*
 * What the Pipe's files share (queues/pipe.c, the pipe itself; queues/pipe_gc.c, the
 * removal of pairs nobody holds): the shared-memory header. The layout is described
 * in pipe.c's opening comment.
 */
#ifndef SHMRT_QUEUES_PIPE_INT_H
#define SHMRT_QUEUES_PIPE_INT_H

#include <stddef.h>
#include <stdint.h>

#include <shmrt/pipe.h>

/*
 * Closes p's end as shmrt_pipe_close does, except that a pair nobody holds any more
 * is not taken out of the directory (no directory lock is taken): for a Pipe in a
 * region shared with a process that may hold that robust lock forever (the
 * Manager's shm channel); the region is then abandoned whole.
 * Concurrency: as shmrt_pipe_close.
 */
SHMRT_API void shmrt__pipe_close_keep(shmrt_pipe_t *p);

#define PIPE_MAGIC 0x45504950u /* "PIPE" */
#define SLOT_HDR 8u

struct dir {
	uint32_t head;          /* receiver's index */
	uint32_t head_waiters;  /* senders sleeping on head (full) */
	uint8_t pad0[56];
	uint32_t tail_waiters;  /* receivers sleeping on a slot (empty) */
	uint8_t pad1[60];
};

struct pipe_hdr {
	uint32_t magic;
	uint32_t nslots;
	uint32_t slot_size;
	uint32_t max_msg;
	uint32_t closed[2];     /* endpoint e closed */
	uint64_t owner[2];      /* endpoint e's process: (slot + 1) << 32 | generation */
	uint32_t removed;       /* a pair: taken out of the directory (by its last closer
				 * or shmrt_pipe_gc), once */
	uint32_t pad;
	/* A pair: the inode numbers of its two kernel pipes (0: not a pair, or one made
	 * by a version that did not record them). Every holder of either endpoint holds
	 * a descriptor of each (pipe.c, struct pair_fds), until its close no longer
	 * touches this header; no process holding one means nobody can use the pair. */
	uint64_t ino[2];
	struct dir d[2];
};

_Static_assert(sizeof(struct dir) == 128, "pipe direction layout");
_Static_assert(offsetof(struct pipe_hdr, d) == 64, "pipe layout");
_Static_assert(offsetof(struct pipe_hdr, closed) % 8 == 0, "closed flags: one word");

#endif /* SHMRT_QUEUES_PIPE_INT_H */
