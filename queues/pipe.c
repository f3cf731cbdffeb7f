/*
 * Pipes (shmrt/pipe.h): two single-producer, single-consumer rings of byte messages.
 *
 * Layout (SHMRT_TYPE_PIPE; queues/pipe_int.h): a header (magic, geometry, per-endpoint
 * closed flag and owner, a pair's kernel pipe inodes for pipe_gc.c), then two directions: d[0] carries end 0 -> end 1, d[1] end 1 -> end 0.
 * A direction is two cache lines, the receiver's (head, its index, and the count of
 * senders sleeping on it) and the sender's (the count of receivers sleeping on a
 * slot), then nslots slots packed at 8-byte alignment: an 8-byte header (sequence
 * word, length) and the payload. A 64-byte message moves 1.125 cache lines
 * (64-byte-aligned slots moved 2).
 *
 * SPSC ring in which only the slots move between the cores. The sender owns tail and
 * keeps it in its handle only (a process taking the end over finds it in the ring:
 * taken_over_tail); the receiver owns head, keeps it in its handle and stores it in
 * shared memory for the sender. A slot's sequence word says what it holds:
 * i + 1 - nslots at creation (free), t + 1 once message t is in it.
 *  - Sender of message t: room is checked against a cached copy of head, reloaded
 *    (A2, acquire) only when the ring looks full, so the receiver's line is read
 *    once per lap in steady state. It writes the payload and length, then
 *    store-releases seq = t + 1 (R1).
 *  - Receiver of message h: load-acquires the slot's seq (A1) and takes the message
 *    if it is h + 1. It never reads the sender's tail line, only the slot it needs
 *    anyway: a caught-up receiver polls the slot the next message will fill. After
 *    the copy it store-releases head + 1 (R2), which pairs with A2.
 *
 * Waking without a fence per message: after R1 (R2) the sender (receiver) reads the
 * peer's waiter count through shmrt__light_barrier(), a compiler barrier, and a peer
 * about to sleep runs the heavy barrier (membarrier) after announcing itself
 * (base/asym.h): only sleeping costs a barrier. A receiver sleeps on its slot's sequence
 * word, a sender on head.
 *
 * A sender killed mid-send published nothing; a receiver killed mid-recv consumed
 * nothing. A dead peer is seen through the owner word of its endpoint (registry slot
 * and generation, as Barrier members): waiters check it every 50 ms.
 *
 * Memory ordering (the inline paths of shmrt/inline/pipe.h use the same labels):
 *   R1  sender: slot sequence = t + 1, after payload and length   pairs with A1
 *   A1  receiver: the slot's sequence                              pairs with R1
 *   R2  receiver: head + 1, after its copy out of the slot         pairs with A2
 *   A2  sender (and a process taking an end over): head            pairs with R2
 *   R3  an end's owner word (registry slot, generation)            pairs with A3
 *   R4/R5  an end reopened (closed = 0) / closed (closed = 1)      pair with A4
 *   A4  closed flags: what the peer sent before closing is visible
 *   LB  after R1 (R2), before reading the peer's waiter count: pairs with the HB of a
 *       peer going to sleep (base/wait.h's asymmetric wait, its W0/W1 labels)
 */
#define _GNU_SOURCE
#define SHMRT_NO_INLINE 1 /* this file defines the calls that the inline macros stand for */
#include "base/wait.h"
#include "core/region_int.h"
#include "pipe_int.h"
#include "shmrt/pipe.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PEER_CHECK_NS 50000000ull
/*
 * A waiter spins (with a yield every SHMRT_SPIN_ITERS pauses, so that a peer on our
 * core runs) for PIPE_SPIN_ROUNDS rounds, 70-80 us here, before it sleeps. A futex
 * wake-up takes tens of microseconds on a VM, longer than a short spin: with 5 us of
 * spin, a ping-pong in which one side slept once went on as a chain of sleeps (the
 * waker's reply came after the other side had given up spinning too), 1% of the
 * round trips slept, and the mean round trip was 0.35 us against 0.06 for a bare spin.
 */
#define PIPE_SPIN_ROUNDS 12
#define FULL_POLLS 64  /* a sender on a full ring re-reads head every 16 pauses, 64 times,
			* with a yield every 16 reads */
#define EMPTY_SPIN 64  /* a receiver on an empty ring spins this long before the clock */
#define RX_BACKOFF_MAX 16 /* pauses a streaming receiver waits before it polls again */
#define ROBBED_MAX 4096 /* the longest run of waits that sleep without spinning */

_Static_assert(SLOT_HDR == 8 && SHMRT__PIPE_FORMAT == 1, "the slot format of inline/pipe.h");

static inline struct pipe_hdr *H(const shmrt_pipe_t *p)
{
	return p->shm;
}


struct pinit {
	uint32_t nslots, slot_size, max_msg;
};

static int pipe_init(void *mem, uint64_t size, void *ctx)
{
	(void)size;
	struct pinit *pi = ctx;
	struct pipe_hdr *h = mem;
	h->nslots = pi->nslots;
	h->slot_size = pi->slot_size;
	h->max_msg = pi->max_msg;
	char *slots = (char *)mem + sizeof(*h);
	for (uint32_t i = 0; i < 2 * pi->nslots; i++) {
		uint32_t *seq = (uint32_t *)(void *)(slots + (uint64_t)i * pi->slot_size);
		*seq = (i & (pi->nslots - 1)) + 1 - pi->nslots; /* free: the previous lap's */
	}
	h->magic = PIPE_MAGIC;
	return 0;
}

static inline uint64_t slots_off(void)
{
	return sizeof(struct pipe_hdr);
}

/*
 * The tail a process taking over a sending end starts from. The sender keeps its
 * index in its handle only, so find it in the ring: the slots from the receiver's
 * head up to the tail hold their messages (sequence t + 1 for message t) and the slot
 * at the tail holds the previous lap's. A previous sender that died after publishing
 * a slot counts it: writing that slot again would replace a message the receiver may
 * already have taken. head can only grow while we scan, and not past the tail.
 */
static uint32_t taken_over_tail(struct dir *d, char *slots, uint32_t mask, uint32_t slot_size)
{
	uint32_t t = load_acquire(&d->head); /* A2 */
	for (uint32_t k = 0; k <= mask; k++, t++) {
		uint32_t *seq = (uint32_t *)(void *)(slots + (size_t)(t & mask) * slot_size);
		if (load_acquire(seq) != t + 1) /* A1: a slot the previous sender published */
			break;
	}
	return t;
}

int shmrt_pipe_open(shmrt_region_t *r, const char *name, int oflags, int end, uint32_t capacity,
		    uint32_t max_msg, shmrt_pipe_t *out)
{
	struct shmrt_region *R = (struct shmrt_region *)r;
	if (!r || !out || (end != 0 && end != 1) || capacity == 0 || capacity > (1u << 24) ||
	    max_msg > (16u << 20))
		return -EINVAL;
	if (!R->attached || R->slot == REC_NONE)
		return -EPERM;
	uint32_t n = 2;
	while (n < capacity)
		n <<= 1;
	struct pinit pi = { n, (uint32_t)((SLOT_HDR + max_msg + 7) & ~7u), max_msg };
	uint64_t dir_bytes = (uint64_t)n * pi.slot_size;
	shmrt_object_info_t oi;
	int rc = shmrt__object_open(r, name, oflags, SHMRT_TYPE_PIPE, slots_off() + 2 * dir_bytes,
				    NULL, pipe_init, &pi, &oi);
	if (rc == -EMSGSIZE)
		return -EPROTOTYPE;
	if (rc)
		return rc;
	struct pipe_hdr *h = shmrt_ptr(r, oi.off);
	if (h->magic != PIPE_MAGIC || h->nslots < 2 || (h->nslots & (h->nslots - 1)) ||
	    h->slot_size < SLOT_HDR + h->max_msg || h->slot_size % 8 ||
	    slots_off() + 2ull * h->nslots * h->slot_size > oi.size)
		return -EBADMSG;
	if (h->nslots < capacity || h->max_msg < max_msg)
		return -EPROTOTYPE;
	char *slots = (char *)h + slots_off();
	(void)shmrt__asym_register(); /* before our first send or recv (base/asym.h) */
	uint64_t db = (uint64_t)h->nslots * h->slot_size;
	/* R3: release, pairs with A3 in peer_gone(): we own this end from now on (a
	 * reopen by a new process takes over), and our registry slot, claimed before, is
	 * what the peer then checks. */
	store_release(&h->owner[end], ((uint64_t)(R->slot + 1) << 32) | R->slot_gen);
	store_release(&h->closed[end], 0); /* R4: pairs with A4: the end is open again */
	*out = (shmrt_pipe_t){ .out_slots = slots + (uint64_t)end * db,
			       .in_slots = slots + (uint64_t)(1 - end) * db,
			       .slot_size = h->slot_size,
			       .mask = h->nslots - 1,
			       .tail = taken_over_tail(&h->d[end], slots + (uint64_t)end * db,
						       h->nslots - 1, h->slot_size),
			       .cached_head = load_acquire(&h->d[end].head), /* A2 */
			       /* Relaxed: where the previous owner of our receiving end
				* got to; the slots are read with A1. */
			       .head = load_relaxed(&h->d[1 - end].head),
			       .fast_max = h->max_msg < SHMRT__PIPE_FAST_MAX ? h->max_msg
									: SHMRT__PIPE_FAST_MAX,
			       .closed = (const uint64_t *)(const void *)h->closed,
			       .out_waiters = &h->d[end].tail_waiters,
			       .in_head = &h->d[1 - end].head,
			       .in_waiters = &h->d[1 - end].head_waiters,
			       .shm = h,
			       .out = &h->d[end],
			       .in = &h->d[1 - end],
			       .max_msg = h->max_msg,
			       .end = (uint32_t)end,
			       .rx_mark = load_relaxed(&h->d[1 - end].head), /* as .head */
			       .region = r,
			       .created = oi.created };
	return 0;
}

static int hung_up(int fd);

/*
 * The kernel descriptors of this process's pair endpoints. A handle holds an index
 * and a generation, not descriptors: a copy of a handle closed twice, or after the
 * original, finds its entry gone and closes nothing (never another file that took the
 * numbers). Chunks are never freed or moved, so a reader needs no lock; allocation
 * and release take one. fork copies the table with the descriptors it names.
 */
struct pair_fds {
	int hold, self, peer; /* -1: free */
	uint32_t gen;
};
#define PAIR_CHUNK 256
#define PAIR_CHUNKS 256
static struct pair_fds *pair_chunks[PAIR_CHUNKS];
static pthread_mutex_t pair_lock = PTHREAD_MUTEX_INITIALIZER;

static struct pair_fds *pair_get(const shmrt_pipe_t *p)
{
	struct pair_fds *c = __atomic_load_n(&pair_chunks[p->pair_ix / PAIR_CHUNK],
					     __ATOMIC_ACQUIRE);
	struct pair_fds *e = c ? &c[p->pair_ix % PAIR_CHUNK] : NULL;
	return e && e->hold >= 0 && e->gen == p->pair_gen ? e : NULL;
}

static int pair_new(int hold, int self, int peer, shmrt_pipe_t *p)
{
	pthread_mutex_lock(&pair_lock);
	for (uint32_t k = 0; k < PAIR_CHUNKS; k++) {
		if (!pair_chunks[k]) {
			struct pair_fds *c = malloc(PAIR_CHUNK * sizeof(*c));
			if (!c)
				break;
			for (int i = 0; i < PAIR_CHUNK; i++)
				c[i] = (struct pair_fds){ -1, -1, -1, 0 };
			/* Release: initialised before a lock-free reader finds it. */
			__atomic_store_n(&pair_chunks[k], c, __ATOMIC_RELEASE);
		}
		for (uint32_t i = 0; i < PAIR_CHUNK; i++) {
			struct pair_fds *e = &pair_chunks[k][i];
			if (e->hold < 0) {
				e->gen++;
				e->self = self;
				e->peer = peer;
				e->hold = hold;
				p->pair_ix = k * PAIR_CHUNK + i;
				p->pair_gen = e->gen;
				pthread_mutex_unlock(&pair_lock);
				return 0;
			}
		}
	}
	pthread_mutex_unlock(&pair_lock);
	return -EMFILE;
}

/* Drops this process's hold on p's endpoint: 1 if it was the last holder, 0 if
 * another process holds it, -1 if this handle's entry is gone already. *peer_gone:
 * whether the peer endpoint had no holder either, looked at after our hold was
 * dropped (of two last closers at once, the later look sees the other's drop).
 * *keep: a descriptor of the pair (or -1) left open for the caller to close once it
 * no longer touches the pipe's memory: while it is open, shmrt_pipe_gc sees the pair
 * held (queues/pipe_gc.c). */
static int pair_drop(const shmrt_pipe_t *p, int *peer_gone, int *keep)
{
	pthread_mutex_lock(&pair_lock);
	struct pair_fds *e = pair_get(p);
	int last = -1;
	*peer_gone = 0;
	*keep = -1;
	if (e) {
		close(e->hold);
		last = hung_up(e->self);
		*peer_gone = hung_up(e->peer);
		*keep = e->self;
		close(e->peer);
		e->hold = e->self = e->peer = -1;
	}
	pthread_mutex_unlock(&pair_lock);
	return last;
}

/* Whether fd, the read end of a kernel pipe nobody writes to, has hung up: every
 * write end is closed, by close, exit or death. */
static int hung_up(int fd)
{
	if (fd < 0)
		return 1;
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	return poll(&pf, 1, 0) == 1 && (pf.revents & (POLLHUP | POLLERR | POLLNVAL));
}

int shmrt_pipe_pair(shmrt_region_t *r, const char *name, uint32_t capacity, uint32_t max_msg,
		    shmrt_pipe_t *end0, shmrt_pipe_t *end1)
{
	static uint32_t seq; /* names of anonymous pairs: pid and a counter */
	char gen[SHMRT_OBJNAME_MAX + 1];
	if (!end0 || !end1 || end0 == end1)
		return -EINVAL;
	memset(end0, 0, sizeof(*end0));
	memset(end1, 0, sizeof(*end1));
	int k0[2], k1[2];
	if (pipe2(k0, O_CLOEXEC))
		return -errno;
	if (pipe2(k1, O_CLOEXEC)) {
		int e = -errno;
		close(k0[0]);
		close(k0[1]);
		return e;
	}
	int p0 = fcntl(k1[0], F_DUPFD_CLOEXEC, 0), p1 = fcntl(k0[0], F_DUPFD_CLOEXEC, 0);
	int rc = p0 < 0 || p1 < 0 ? -errno : 0;
	/* A generated name may exist already: left in a persistent region by a run
	 * whose pid this one reuses. The next numbers are tried. */
	for (int tries = 0; !rc && tries < 64; tries++) {
		const char *nm = name;
		if (!name) {
			snprintf(gen, sizeof(gen), "pipe.%d.%u", (int)getpid(),
				 __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED));
			nm = gen;
		}
		rc = shmrt_pipe_open(r, nm, SHMRT_O_CREATE | SHMRT_O_EXCL, 0, capacity, max_msg,
				     end0);
		if (rc == -EEXIST && !name) {
			rc = 0;
			continue;
		}
		unsigned swept = 0; /* a name left by a pair nobody holds: taken out, once */
		if (rc == -EEXIST && !tries && shmrt_pipe_gc(r, &swept) == 0 && swept) {
			rc = 0;
			continue;
		}
		if (!rc && (rc = shmrt_pipe_open(r, nm, 0, 1, capacity, max_msg, end1)))
			(void)shmrt_object_remove(r, nm);
		break;
	}
	if (!rc && !(rc = pair_new(k0[1], k0[0], p0, end0)) &&
	    (rc = pair_new(k1[1], k1[0], p1, end1))) {
		int ignored, keep;
		(void)pair_drop(end0, &ignored, &keep);
		close(keep);
		k0[0] = k0[1] = p0 = -1; /* closed by the drop */
	}
	if (!rc) {
		/* The kernel pipes' inodes, by which shmrt_pipe_gc finds the pair's
		 * holders. Release (ino[1] last): pairs with pipe_gc.c's acquire. */
		struct stat st0, st1;
		struct pipe_hdr *h = end0->shm;
		if (fstat(k0[1], &st0) == 0 && fstat(k1[1], &st1) == 0) {
			store_release(&h->ino[0], (uint64_t)st0.st_ino);
			store_release(&h->ino[1], (uint64_t)st1.st_ino);
		}
	}
	if (rc) {
		if (end0->shm)
			(void)shmrt__object_remove_at((struct shmrt_region *)r,
						      shmrt_offset(r, end0->shm), SHMRT_TYPE_PIPE);
		int fds[] = { k0[0], k0[1], k1[0], k1[1], p0, p1 };
		for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
			if (fds[i] >= 0)
				close(fds[i]);
		memset(end0, 0, sizeof(*end0));
		memset(end1, 0, sizeof(*end1));
		return rc;
	}
	end0->paired = end1->paired = true;
	return 0;
}

int shmrt_pipe_fds(const shmrt_pipe_t *p, int fds[3])
{
	if (!p || !fds || !p->shm || !p->paired)
		return -EINVAL;
	pthread_mutex_lock(&pair_lock);
	struct pair_fds *e = pair_get(p);
	if (e) {
		fds[0] = e->hold;
		fds[1] = e->self;
		fds[2] = e->peer;
	}
	pthread_mutex_unlock(&pair_lock);
	return e ? 0 : -EINVAL;
}

/* Whether fd is the write end (want_write) or the read end of a kernel pipe. */
static int is_pipe_end(int fd, int want_write)
{
	struct stat st;
	int fl = fcntl(fd, F_GETFL);
	if (fd < 0 || fl < 0 || fstat(fd, &st) || !S_ISFIFO(st.st_mode))
		return 0;
	return want_write ? (fl & O_ACCMODE) == O_WRONLY : (fl & O_ACCMODE) == O_RDONLY;
}

int shmrt_pipe_adopt(shmrt_region_t *r, const char *name, int end, uint32_t capacity,
		     uint32_t max_msg, const int fds[3], shmrt_pipe_t *out)
{
	if (!fds || !out || !is_pipe_end(fds[0], 1) || !is_pipe_end(fds[1], 0) ||
	    !is_pipe_end(fds[2], 0))
		return -EINVAL;
	shmrt_pipe_t p;
	int rc = shmrt_pipe_open(r, name, 0, end, capacity, max_msg, &p);
	if (rc)
		return rc;
	if ((rc = pair_new(fds[0], fds[1], fds[2], &p)))
		return rc;
	for (int i = 0; i < 3; i++)
		(void)fcntl(fds[i], F_SETFD, FD_CLOEXEC);
	p.paired = true;
	*out = p;
	return 0;
}

/* The peer closed its end: one load, for the fast paths. */
static inline int peer_closed(const shmrt_pipe_t *p)
{
	return load_acquire(&H(p)->closed[1 - p->end]) != 0; /* A4: pairs with R5 */
}

/* The peer closed its end, or its process is gone. Reads /proc: only between
 * sleeps (every PEER_CHECK_NS, or SHMRT_TEST_SLICE_MS), never per message. */
static int peer_gone(const shmrt_pipe_t *p)
{
	struct pipe_hdr *h = H(p);
	uint32_t e = 1 - p->end;
	if (load_acquire(&h->closed[e])) /* A4 */
		return 1;
	if (p->paired) { /* the kernel knows who holds the peer */
		struct pair_fds *f = pair_get(p);
		return f ? hung_up(f->peer) : 1;
	}
	uint64_t o = load_acquire(&h->owner[e]); /* A3: pairs with R3 */
	if (!o)
		return 0; /* not opened yet: not gone */
	struct shmrt_region *R = (struct shmrt_region *)p->region;
	uint32_t slot = (uint32_t)(o >> 32) - 1, gen = (uint32_t)o;
	if (slot >= R->geo.max_procs)
		return 1;
	/* Acquire, pairs with the registry's release of a claimed slot (core/registry.c):
	 * its generation and start time are those of the claim we compare against. */
	uint64_t ctl = load_acquire(&R->procs[slot].ctl);
	return load_acquire(&R->procs[slot].gen) != gen || !shmrt__slot_alive(R, slot, ctl);
}

static int gone_check(void *ctx)
{
	return peer_gone(ctx) ? -EPIPE : 0;
}

/* Slot header: the sequence word (file comment), then the length. */
static inline uint32_t *slot_seq(char *slot)
{
	return (uint32_t *)(void *)slot;
}

static inline uint32_t *slot_len(char *slot)
{
	return (uint32_t *)(void *)(slot + 4);
}

/*
 * Spinning pays only while the peer runs on another core. When it shares ours (more
 * runnable processes than cores: other programs, or both ends of a ping-pong on one
 * core), the spin holds the core the peer needs to answer: measured with both ends of a
 * Python ping-pong on one core, 264 pauses of spin before each yield made a round trip
 * 9.2 us, against 4.5 us for sleeping at once. The sign is a yield that gave the core
 * away (shmrt__yield_switched, base/wait.h: a slow yield checked against the kernel's
 * count of switches; timing alone misread the noise of a VM whose system calls cost 1.2
 * us as a shared core, and made a ping-pong sleep: 0.80-33.5 us a round trip idle
 * against 0.50-0.58, 198-200 us with a busy loop on the receiver's core against 10-63;
 * docs/DESIGN.md 8, the Pipe). One such yield ends the spin (the wait sleeps), and the
 * next waits of this process sleep at once without spinning: 8 of them, then twice as
 * many after each further robbed spin, up to ROBBED_MAX; a spin whose yields all came
 * back at once halves the run (the Manager client's transport does the same). A wait
 * that sleeps costs a futex wake to its peer and the wake-up latency (20-40 us on a
 * VM), which the peer's own long spin bridges while its core is free. Process-wide and
 * relaxed: the state is a hint about the machine's load, and a stale reading costs one
 * spin or one sleep.
 */
static uint32_t robbed_skip; /* waits left that sleep without spinning */
static uint32_t robbed_next; /* the length of the next such run; 0: none yet */

/* Whether this wait may spin (consumes one wait of a run without spin). */
static int spin_allowed(void)
{
	uint32_t k = load_relaxed(&robbed_skip); /* relaxed: a hint (above) */
	if (likely(k == 0))
		return 1;
	store_relaxed(&robbed_skip, k - 1);
	return 0;
}

/* A spin's verdict: robbed (a yield gave our core away) or clean. */
static void spin_learn(int robbed)
{
	uint32_t n = load_relaxed(&robbed_next); /* relaxed: a hint (above) */
	if (robbed) {
		n = n == 0 ? 8 : n * 2 > ROBBED_MAX ? ROBBED_MAX : n * 2;
		store_relaxed(&robbed_next, n);
		store_relaxed(&robbed_skip, n);
	} else if (n) {
		store_relaxed(&robbed_next, n / 2);
	}
}

/* The spin rounds before a sleep: rounds of SHMRT_SPIN_ITERS pauses with a timed
 * sched_yield between them (a peer on our core runs). 1 when *addr changed from val,
 * 0 when the spin ran out or a yield was robbed (the caller then sleeps). */
static int spin_rounds(uint32_t *addr, uint32_t val)
{
	struct shmrt__yield_probe probe = { 0 };
	for (int r = 0;; r++) {
		for (int i = 0; i < SHMRT_SPIN_ITERS; i++) {
			if (load_acquire(addr) != val) { /* W0 of base/wait.h: A1 or A2 */
				spin_learn(0);
				return 1;
			}
			cpu_relax();
		}
		if (r == PIPE_SPIN_ROUNDS) {
			spin_learn(0);
			return 0;
		}
		if (shmrt__yield_switched(&probe)) {
			spin_learn(1);
			return 0;
		}
	}
}

/* Waits for room in the ring (0), or fails: -EAGAIN, -ETIMEDOUT, -EPIPE. */
static SHMRT_NOINLINE int wait_writable(shmrt_pipe_t *p, uint32_t tail, int64_t timeout)
{
	struct dir *d = p->out;
	uint64_t deadline = 0; /* read the clock only if we must wait */
	for (;;) {
		/* A2: acquire, pairs with R2: the receiver is done with the slot. */
		p->cached_head = load_acquire(&d->head);
		if (tail - p->cached_head <= p->mask)
			return 0;
		if (peer_closed(p))
			return -EPIPE;
		if (timeout == 0)
			return -EAGAIN;
		int spun = 0;
		if (!deadline) {
			/* First poll head at intervals (no clock, no syscall): a sender that
			 * re-read head after each message the receiver took would move the
			 * receiver's line once per message and slow the slower side; every
			 * 16 pauses it finds a batch of room instead. Not while our core is
			 * shared (spin_allowed). */
			spun = spin_allowed();
			for (int i = 0; spun && i < FULL_POLLS; i++) {
				for (int k = 0; k < 16; k++)
					cpu_relax();
				if (i % 16 == 15)
					sched_yield(); /* a receiver on our core runs */
				p->cached_head = load_acquire(&d->head); /* A2 */
				if (tail - p->cached_head <= p->mask)
					return 0;
			}
			deadline = shmrt__deadline(timeout);
		}
		if (spun && spin_rounds(&d->head, p->cached_head))
			continue;
		int rc = shmrt__wait_ne_spin(&d->head, p->cached_head, &d->head_waiters, deadline,
					     shmrt__slice_ns(PEER_CHECK_NS), gone_check, p, 0, 0,
					     SHMRT_WAIT_ASYM);
		if (rc)
			return rc; /* -ETIMEDOUT, or -EPIPE: the peer closed or died */
	}
}

/* The inline paths' futex wake (shmrt/inline/pipe.h). */
int shmrt__pipe_wake(uint32_t *word)
{
	shmrt__futex_wake(word, 1);
	return 0;
}

/* send, every case: checks, waits for room, then writes and publishes the slot. */
static SHMRT_NOINLINE int send_slow(shmrt_pipe_t *p, const void *msg, size_t len,
				    shmrt_ns_t timeout)
{
	if (!p->shm || (len && !msg))
		return -EINVAL;
	if (len > p->max_msg)
		return -EMSGSIZE;
	uint32_t tail = p->tail;
	if (load_acquire(&H(p)->closed[p->end])) /* A4: our own end, closed by another handle */
		return -EPIPE;
	if (tail - p->cached_head > p->mask) {
		int rc = wait_writable(p, tail, timeout);
		if (rc)
			return rc;
	}
	if (peer_closed(p))
		return -EPIPE;
	struct dir *d = p->out;
	char *s = p->out_slots + (size_t)(tail & p->mask) * p->slot_size;
	if (len)
		shmrt__copy_racy(s + SLOT_HDR, msg, len);
	store_relaxed(slot_len(s), (uint32_t)len); /* published by R1 */
	/* R1: release, pairs with A1 in recv: the slot is written before it is full. */
	store_release(slot_seq(s), tail + 1);
	SHMRT_YIELD_POINT(); /* published, not counted in the handle: taken_over_tail */
	p->tail = tail + 1;
	/* LB: pairs with the heavy barrier of a receiver going to sleep (file comment). */
	shmrt__light_barrier();
	if (load_relaxed(&d->tail_waiters)) /* after LB */
		shmrt__pipe_wake(slot_seq(s));
	return 0;
}

/* The common case inline (shmrt__pipe_try_send: one branch, no call but in tail
 * position, so no stack frame), every other one in send_slow. */
int shmrt_pipe_send(shmrt_pipe_t *p, const void *msg, size_t len, shmrt_ns_t timeout)
{
	if (unlikely(!p))
		return -EINVAL;
	int r = shmrt__pipe_try_send(p, msg, len);
	if (likely(r == SHMRT__PIPE_DONE))
		return 0;
	if (r == SHMRT__PIPE_WAKE)
		return shmrt__pipe_wake_receiver(p);
	return send_slow(p, msg, len, timeout);
}

/*
 * A receiver that finds the ring empty polls the slot the next message will fill, a
 * line the sender is writing: when it keeps up with a streaming sender, every message
 * costs that line a round trip between the two (or, on sibling hyperthreads, a
 * pause per message), and the pair settles at half the rate it reaches when the
 * receiver lags by a batch. So a receiver that streams backs off before it polls
 * again (B-Queue's idea): hint pauses without touching the ring, which lets the
 * sender fill several slots, then a batch is read in one pass. A ping-pong must not
 * pay for it, so the hint is learnt from what the last wait ended:
 *  - two or more messages taken since the wait before (run >= 2): streaming, grow the
 *    hint (1, 3, 7, 15, up to RX_BACKOFF_MAX pauses);
 *  - one message, found within one poll with no backoff: maybe a stream we keep up
 *    with: try a backoff of 1;
 *  - one message otherwise (a reply, a long wait): no backoff.
 * Measured on this VM (paired runs, 64-byte messages): a stream went from 88 to 190 M
 * msg/s, and a ping-pong round trip from 128 to 133 ns.
 */
static void rx_learn(shmrt_pipe_t *p, uint32_t head, int polls, int long_wait)
{
	uint32_t run = head - p->rx_mark, h = p->rx_hint;
	if (long_wait)
		h = 0;
	else if (run >= 2)
		h = 2 * h + 1 > RX_BACKOFF_MAX ? RX_BACKOFF_MAX : 2 * h + 1;
	else
		h = h == 0 && polls <= 1 ? 1 : 0;
	p->rx_hint = h;
	p->rx_mark = head;
}

/* Waits until message `head` is in its slot (0) or the stream ended (-EPIPE). */
static SHMRT_NOINLINE int wait_readable(shmrt_pipe_t *p, int64_t timeout, int try_once)
{
	uint64_t deadline = 0; /* read the clock only if we must wait */
	struct dir *d = p->in;
	uint32_t head = p->head;
	uint32_t *seq = slot_seq(p->in_slots + (size_t)(head & p->mask) * p->slot_size);
	int gone = 0;
	if (!try_once)
		for (uint32_t k = 0; k < p->rx_hint; k++)
			cpu_relax(); /* the adaptive backoff (above): not a look at the ring */
	for (;;) {
		/* A1: acquire, pairs with R1 in send. */
		uint32_t v = load_acquire(seq);
		if (v == head + 1) {
			if (!try_once)
				rx_learn(p, head, 0, deadline != 0);
			return 0;
		}
		if (gone || peer_closed(p)) {
			/* Everything sent before the close is visible now: re-check once. */
			return load_acquire(seq) == head + 1 ? 0 : -EPIPE; /* A1 */
		}
		if (try_once)
			return -EAGAIN;
		int spun = 0;
		if (!deadline) {
			/* A short spin before the clock is read: a caught-up receiver comes
			 * here for most messages, and two clock reads per wait were 4% of
			 * the profile. Not while our core is shared (spin_allowed). */
			int i = 0;
			spun = spin_allowed();
			while (spun && i < EMPTY_SPIN && load_acquire(seq) == v) { /* A1 */
				cpu_relax();
				i++;
			}
			if (load_acquire(seq) == head + 1) { /* A1 */
				rx_learn(p, head, i + 1, 0);
				return 0;
			}
			deadline = shmrt__deadline(timeout);
		}
		if (spun && spin_rounds(seq, v))
			continue;
		int rc = shmrt__wait_ne_spin(seq, v, &d->tail_waiters, deadline,
					     shmrt__slice_ns(PEER_CHECK_NS), gone_check, p, 0, 0,
					     SHMRT_WAIT_ASYM);
		if (rc == -ETIMEDOUT)
			return rc;
		gone = rc == -EPIPE; /* the peer closed or died while we slept */
	}
}

/* recv, every case: waits for the message, checks its length, then copies it out and
 * releases the slot. */
static SHMRT_NOINLINE int recv_slow(shmrt_pipe_t *p, void *buf, size_t cap, size_t *len,
				    shmrt_ns_t timeout)
{
	if (!p->shm || !len || (cap && !buf))
		return -EINVAL;
	struct dir *d = p->in;
	uint32_t head = p->head;
	char *s = p->in_slots + (size_t)(head & p->mask) * p->slot_size;
	/* A1: acquire, pairs with R1 in send. */
	if (load_acquire(slot_seq(s)) != head + 1) {
		int rc = wait_readable(p, timeout, timeout == 0);
		if (rc)
			return rc;
	}
	uint32_t n = load_relaxed(slot_len(s)); /* after A1 */
	if (n > p->max_msg)
		return -EBADMSG; /* a corrupted slot: refuse rather than overrun */
	if (n > cap) {
		*len = n;
		return -EMSGSIZE;
	}
	if (n)
		shmrt__copy_racy(buf, s + SLOT_HDR, n);
	/* R2: release, pairs with A2 in send: we are done with the slot. */
	store_release(&d->head, head + 1);
	p->head = head + 1;
	*len = n;
	/* LB: pairs with the heavy barrier of a sender going to sleep (file comment). */
	shmrt__light_barrier();
	if (load_relaxed(&d->head_waiters)) /* after LB */
		shmrt__pipe_wake(&d->head);
	return 0;
}

/* As shmrt_pipe_send: shmrt__pipe_try_recv, or recv_slow. */
int shmrt_pipe_recv(shmrt_pipe_t *p, void *buf, size_t cap, size_t *len, shmrt_ns_t timeout)
{
	if (unlikely(!p))
		return -EINVAL;
	int r = shmrt__pipe_try_recv(p, buf, cap, len);
	if (likely(r == SHMRT__PIPE_DONE))
		return 0;
	if (r == SHMRT__PIPE_WAKE)
		return shmrt__pipe_wake_sender(p);
	return recv_slow(p, buf, cap, len, timeout);
}

int shmrt_pipe_poll(shmrt_pipe_t *p, shmrt_ns_t timeout)
{
	if (!p || !p->shm)
		return -EINVAL;
	int rc = wait_readable(p, timeout, timeout == 0);
	return rc == -EPIPE ? 0 : rc; /* end of stream is readable: recv says -EPIPE */
}

static void pipe_close(shmrt_pipe_t *p, int may_remove);

void shmrt_pipe_close(shmrt_pipe_t *p)
{
	pipe_close(p, 1);
}

void shmrt__pipe_close_keep(shmrt_pipe_t *p)
{
	pipe_close(p, 0);
}

/* Closes p's end; the last closer removes the pair from the directory if
 * may_remove. */
static void pipe_close(shmrt_pipe_t *p, int may_remove)
{
	if (!p || !p->shm)
		return;
	struct pipe_hdr *h = H(p);
	int peer_gone = 0;
	/* Drop our hold; the endpoint closes for the peer only if it was the last
	 * (another process may hold it: the parent that forked us). */
	int keep = -1;
	if (p->paired && pair_drop(p, &peer_gone, &keep) != 1) {
		if (keep >= 0)
			close(keep);
		return;
	}
	/* R5: release, pairs with A4: every message sent before the close is visible to
	 * a peer that sees the flag. */
	store_release(&h->closed[p->end], 1);
	/* Full fence: the close is visible before the wakes below (a woken peer, or one
	 * about to sleep, re-reads the flag in its check). */
	fence_seq_cst();
	/* Wake the peer wherever it sleeps: receiving, on the slot our next message would
	 * fill; sending, on head. */
	shmrt__futex_wake(slot_seq(p->out_slots + (size_t)(p->tail & p->mask) * p->slot_size),
			  INT_MAX);
	shmrt__futex_wake(&((struct dir *)p->in)->head, INT_MAX);
	/* A pair nobody holds any more: the last closer takes it out of the directory
	 * (the CAS elects one when both endpoints close at once), last of all: nothing
	 * here touches it after. */
	uint32_t zero = 0;
	if (may_remove && peer_gone &&
	    __atomic_compare_exchange_n(&h->removed, &zero, 1, false,
						     __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		(void)shmrt__object_remove_at((struct shmrt_region *)p->region,
					      shmrt_offset(p->region, h), SHMRT_TYPE_PIPE);
	/* A peer whose last holder is still running removes the pair when it closes;
	 * one that dies first leaves it to shmrt_pipe_gc, which waits for this. */
	if (keep >= 0)
		close(keep);
}
