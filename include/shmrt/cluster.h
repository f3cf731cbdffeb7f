/*
 * shmrt cluster mode: shared objects across the nodes of an MPI job, with the work
 * inside a node kept in shmrt shared memory and only the work between nodes on MPI.
 *
 * A cluster is opened collectively over an MPI communicator. Its ranks are grouped
 * into nodes (MPI_Comm_split_type(MPI_COMM_TYPE_SHARED), or pretend nodes of a fixed
 * number of ranks, so that one machine exercises the cross-node paths). Each node has
 * one shmrt region (its first rank, the node's leader, creates it; the others open it
 * after a barrier), and the cluster has one MPI RMA window, allocated with
 * MPI_Win_allocate, whose memory lives on the node leaders. The window is locked
 * (MPI_Win_lock_all) for the cluster's whole life: every remote operation is a
 * passive-target RMA call followed by MPI_Win_flush.
 *
 * THE RULE: no word is ever touched by both CPU atomics and MPI atomics. Open MPI's
 * osc/sm implements MPI atomics as a read-modify-write under a lock of its own; a CPU
 * atomic on the same word would not take it, and an update would be lost (other
 * osc components differ, and MPI promises nothing for such a mix). So each object
 * says which words are
 * MPI words (in the window: every rank, the home node's included, uses MPI calls on
 * them, never a pointer) and which are shmrt words (in the node's region: CPU atomics,
 * never MPI).
 *
 *  object   | where its words live                | which path each call takes
 *  ---------+-------------------------------------+----------------------------------
 *  Value    | one int64 word in the window of the | every call: MPI (1 round trip:
 *           | home node's leader (home = hash of  | the RMA atomic + MPI_Win_flush to
 *           | the name over the nodes)            | the home leader); none are local
 *  Counter  | node-local stripes: a shmrt Counter | add: shmrt (CPU, 0 round trips)
 *           | in each node's region; plus one     | read_node: shmrt (CPU)
 *           | published total per node, an MPI    | publish: MPI (1 round trip)
 *           | word in that node leader's window   | read: MPI (1 flush over all nodes)
 *           |                                     | sum: collective (barrier+allreduce)
 *  Array    | int64 elements block-distributed    | every call: MPI (range read: 3
 *           | over the nodes' windows, one block  | round trips per block, range
 *           | per node, each with a sequence word | write: 4 per block, element
 *           | (a seqlock driven by MPI atomics)   | atomics: 1)
 *  Queue    | a ring in the window of the home    | every call: MPI (push: 3 round
 *           | node's leader: head, tail, and per  | trips uncontended, pop: 3, each
 *           | slot a state word of laps           | 5 when this rank's hints of head
 *           |                                     | and tail are stale; a burst of
 *           |                                     | up to 64: 5; more while full,
 *           |                                     | empty or contended)
 *  Dict     | a table of buckets per node, in its | every call: MPI (get: 3 round
 *           | leader's window; a key is homed on  | trips per bucket probed, one-
 *           | a node by its hash; per bucket a    | sided; set/del: the probe, a CAS,
 *           | seqlock word                        | a re-read, the write, a release)
 *
 * Calls per object (handles are plain structs, copied freely; they stay valid until
 * shmrt_cluster_close):
 *
 *  call                            | concurrent with
 *  --------------------------------+------------------------------------------------
 *  shmrt_cluster_open/close        | collective over the communicator: every rank
 *  *_open (every kind of object)   | calls them, in the same order, same arguments
 *  value load/store/fetch_add/cas  | every call of every rank (MPI atomics); one
 *                                  | thread per rank calls MPI (MPI_THREAD_SINGLE)
 *  counter add / read_node         | everything, any thread of any process of the node
 *  counter publish / read          | everything (stale by design, see each call)
 *  counter sum                     | collective
 *  array read/write/load/store/... | every call of every rank (a range write waits
 *                                  | for another on the same block)
 *  queue push / pop                | every call of every rank (MPMC)
 *  dict get / set / del            | every call of every rank (writers of one
 *                                  | bucket are serialised by its seqlock)
 *
 * Fault model. Within a node every guarantee of shmrt holds: the region is a shmrt
 * region, a process of the node killed at any point loses no acknowledged counter
 * add, and a node's region (persistent unless opts.region_flags says otherwise)
 * survives the job, for a restart to re-attach. Across nodes the model is fail-stop:
 * Open MPI 4.1 aborts the whole job when a rank dies, and the window (Values,
 * Arrays, Queues, Dicts, the published counter totals) dies with it. A rank that dies
 * holding a seqlock or a claimed queue slot therefore never wedges a live job.
 *
 * The node-local fast paths are the Counter's add and whatever the node's region holds
 * (any shmrt object opened on shmrt_cluster_region()); every other cluster call is MPI.
 */
#ifndef SHMRT_CLUSTER_H
#define SHMRT_CLUSTER_H

#include <stdbool.h>
#include <mpi.h>
#include "common.h"
#include "region.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct shmrt_cluster shmrt_cluster_t;

/* Longest cluster name (it is the prefix of the node regions' names). */
#define SHMRT_CLUSTER_NAME_MAX 160
/* Longest object name in a cluster. */
#define SHMRT_CLUSTER_OBJNAME_MAX 48

typedef struct shmrt_cluster_opts {
	int ranks_per_node;     /* 0: the real nodes (MPI_COMM_TYPE_SHARED), unless the
	                           environment variable SHMRT_CLUSTER_RANKS_PER_NODE
	                           says otherwise; N > 0: each real node is split into
	                           pretend nodes of N consecutive ranks (the last may
	                           have fewer) */
	size_t window_bytes;    /* window memory per node leader; 0 = 64 KiB (8192 words:
	                           each Value takes one word on its home node, each
	                           Counter one word on every node) */
	size_t region_size;     /* size of each node's region (shmrt_region_opts_t.size);
	                           0 = the default */
	uint32_t region_flags;  /* SHMRT_REGION_* for the node regions (default 0:
	                           persistent, so that a restart re-attaches) */
	bool fresh;             /* the node leader creates its region with
	                           SHMRT_O_EXCL | SHMRT_O_FRESH: a region left by dead
	                           processes is replaced, one in use is -EEXIST */
} shmrt_cluster_opts_t;

/* Initialises opts to the defaults above. */
SHMRT_API void shmrt_cluster_opts_init(shmrt_cluster_opts_t *opts);

/*
 * Opens a cluster over comm (collective: every rank of comm calls it, with the same
 * name and options). MPI must be initialised (any thread level; only one thread per
 * rank may call into the cluster at a time). The node regions are named
 * "NAME.nodeK" (K = 0 .. nodes-1); the window is allocated, zeroed and locked.
 * opts may be NULL (defaults).
 *
 * Returns 0 and *out on every rank, or the same error on every rank:
 *  -EINVAL        bad name, options, or ranks that disagree on them
 *  -ENAMETOOLONG  name longer than SHMRT_CLUSTER_NAME_MAX
 *  -ENOMEM        out of process memory
 *  -EEXIST, -ENOSPC, ...  a node region could not be created or opened (the errors
 *                 of shmrt_region_open; reported by every rank)
 *  -EIO           an MPI call failed (with MPI_ERRORS_RETURN on the communicator;
 *                 with the default MPI_ERRORS_ARE_FATAL the job aborts instead)
 * Concurrency: collective over comm. Ordering: on return every rank's region and
 * window are ready (the call ends with a barrier).
 */
SHMRT_API SHMRT_MUST_USE int shmrt_cluster_open(const char *name, MPI_Comm comm,
						const shmrt_cluster_opts_t *opts,
						shmrt_cluster_t **out);

/*
 * Closes the cluster (collective): unlocks and frees the window, closes this rank's
 * node region (its contents stay, unless the region was AUTO_UNLINK) and frees the
 * communicators. Handles of the cluster's objects become invalid.
 * Returns 0, or -EINVAL for a NULL cluster.
 * Concurrency: collective; no other call on this cluster meanwhile. Ordering: every
 * RMA operation of every rank completes before any rank returns (barrier).
 */
SHMRT_API int shmrt_cluster_close(shmrt_cluster_t *cl);

/*
 * Removes the node regions of a cluster named name, for nodes 0 .. nodes-1 (after a
 * run whose regions were persistent). Returns 0 or the first error other than
 * -ENOENT of shmrt_region_unlink. Concurrency: any time (mappings stay valid).
 */
SHMRT_API int shmrt_cluster_unlink(const char *name, int nodes);

/* This rank's place: its rank in the cluster's communicator, its node, the number of
 * nodes, its rank within its node and the node's size, and its node's region. */
SHMRT_API int shmrt_cluster_rank(const shmrt_cluster_t *cl);
SHMRT_API int shmrt_cluster_size(const shmrt_cluster_t *cl);
SHMRT_API int shmrt_cluster_node(const shmrt_cluster_t *cl);
SHMRT_API int shmrt_cluster_nodes(const shmrt_cluster_t *cl);
SHMRT_API int shmrt_cluster_node_rank(const shmrt_cluster_t *cl);
SHMRT_API int shmrt_cluster_node_size(const shmrt_cluster_t *cl);
SHMRT_API shmrt_region_t *shmrt_cluster_region(const shmrt_cluster_t *cl);
/* The node an object name is homed on (hash of the name over the nodes). */
SHMRT_API int shmrt_cluster_home(const shmrt_cluster_t *cl, const char *name);

/* ---- Value: one int64 homed on one node, every access by MPI atomics ------------- */

/* Handle (fields private). */
typedef struct shmrt_cluster_value {
	shmrt_cluster_t *cl;
	int target;       /* rank (in the cluster's communicator) holding the word */
	int64_t disp;     /* its displacement in the window, in words */
	int home;         /* home node */
} shmrt_cluster_value_t;

/*
 * Opens the int64 Value `name` (collective). The first open of a name in a cluster
 * creates it holding init; opening it again returns the same Value (init ignored).
 * Returns 0, or on every rank: -EINVAL (bad name, ranks that disagree on name or
 * init), -ENAMETOOLONG, -EPROTOTYPE (the name is a Counter), -ENOSPC (the home
 * node's window is full), -EIO (MPI).
 * Concurrency: collective. Ordering: init is visible to every rank on return.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_cluster_value_open(shmrt_cluster_t *cl, const char *name,
						      int64_t init, shmrt_cluster_value_t *out);

/*
 * The operations. Path: MPI, also on the home node (the rule above); each is one RMA
 * atomic on the home leader's window plus MPI_Win_flush: 1 round trip.
 *  load       MPI_Fetch_and_op(MPI_NO_OP)
 *  store      MPI_Accumulate(MPI_REPLACE)
 *  fetch_add  MPI_Fetch_and_op(MPI_SUM); *old (may be NULL) gets the previous value
 *  cas        MPI_Compare_and_swap: if the value equals *expected, stores desired and
 *             returns 0; otherwise -EAGAIN with *expected set to the current value
 * Return 0 (cas: or -EAGAIN), -EINVAL for a bad handle, -EIO when MPI fails.
 * Concurrency: any rank, at any time (one thread per rank in MPI). Ordering: each
 * call is atomic on the word and complete (flushed) when it returns, so the calls on
 * one Value are linearizable; calls on two Values are not ordered with each other
 * beyond that (accumulate_ordering=none), nor with the node's shared memory.
 */
SHMRT_API int shmrt_cluster_value_load(const shmrt_cluster_value_t *v, int64_t *out);
SHMRT_API int shmrt_cluster_value_store(const shmrt_cluster_value_t *v, int64_t x);
SHMRT_API int shmrt_cluster_value_fetch_add(const shmrt_cluster_value_t *v, int64_t x,
					    int64_t *old);
SHMRT_API int shmrt_cluster_value_cas(const shmrt_cluster_value_t *v, int64_t *expected,
				      int64_t desired);

/* ---- Counter: node-local stripes, cross-node sums --------------------------------- */

/* Handle (fields private). */
typedef struct shmrt_cluster_counter {
	shmrt_cluster_t *cl;
	shmrt_counter_t local;  /* the node's shmrt Counter (its region) */
	int64_t disp;           /* the published total's word, on every node's leader */
} shmrt_cluster_counter_t;

/*
 * Opens the Counter `name` (collective): a shmrt Counter named "c.NAME" in every
 * node's region (created by the first open; a node region re-attached after a restart
 * keeps its count) and one word per node in the window for the published totals.
 * Returns 0, or on every rank: -EINVAL, -ENAMETOOLONG, -EPROTOTYPE (the name is a
 * Value), -ENOSPC (window or region full), the errors of shmrt_counter_open, -EIO.
 * Concurrency: collective. Ordering: none beyond the call's barrier.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_cluster_counter_open(shmrt_cluster_t *cl, const char *name,
							shmrt_cluster_counter_t *out);

/*
 * Adds x to the node's count. Path: shmrt (the calling thread's stripe in the node's
 * region, a plain store: 0 round trips, no MPI). Any process attached to the node's
 * region may add, MPI rank or not (a process forked by a rank, with the Counter
 * opened through shmrt_counter_open on the region).
 * Concurrency: everything. Ordering: relaxed. An add is never lost once it returned.
 */
SHMRT_API void shmrt_cluster_counter_add(const shmrt_cluster_counter_t *c, int64_t x);

/* The node's count (the sum of its stripes). Path: shmrt. Ordering: relaxed. */
SHMRT_API int64_t shmrt_cluster_counter_read_node(const shmrt_cluster_counter_t *c);

/*
 * Publishes the node's current count to the node's word in the window
 * (MPI_Accumulate(MPI_REPLACE) to the node leader + flush: 1 round trip), for
 * shmrt_cluster_counter_read on other nodes. Any rank of the node may publish; the
 * last publication wins. Returns 0, -EINVAL, -EIO.
 * Concurrency: any rank. Ordering: complete on return.
 */
SHMRT_API int shmrt_cluster_counter_publish(const shmrt_cluster_counter_t *c);

/*
 * One-sided cluster total: this node's count read now (shmrt) plus every other node's
 * last published count (MPI_Fetch_and_op(MPI_NO_OP) to each other node's leader, all
 * in flight at once, then one MPI_Win_flush_all: 1 round trip). Stale by whatever the
 * other nodes added since they last published. Returns 0 and *out, -EINVAL, -EIO.
 * Concurrency: any rank. Ordering: relaxed.
 */
SHMRT_API int shmrt_cluster_counter_read(const shmrt_cluster_counter_t *c, int64_t *out);

/*
 * Exact cluster total (collective): a barrier in each node, then each node's leader
 * reads the node's count and an MPI_Allreduce sums them. Every add that returned on
 * any rank before that rank entered this call is counted (adds by other processes of
 * a node: those that returned before the node's barrier ended). Returns 0 and *out
 * on every rank, -EINVAL, -EIO. Concurrency: collective. Ordering: the barrier.
 */
SHMRT_API int shmrt_cluster_counter_sum(const shmrt_cluster_counter_t *c, int64_t *out);

/* ---- Array: int64 elements block-distributed over the nodes --------------------- */

/* Handle (fields private). */
typedef struct shmrt_cluster_array {
	shmrt_cluster_t *cl;
	int64_t len;      /* elements */
	int64_t block;    /* elements per node (the last nodes may hold fewer, or none) */
	int64_t disp;     /* on every node's leader: the block's sequence word, then its
	                     elements */
} shmrt_cluster_array_t;

/*
 * Opens the Array `name` of len int64 elements, all zero at creation (collective).
 * Node k holds elements [k*B, (k+1)*B) with B = ceil(len / nodes), after a sequence
 * word of its own: each node's window takes B + 1 words whatever its share. Opening
 * a name again returns the same Array (len must match).
 * Returns 0, or on every rank: -EINVAL (bad name, len < 1, ranks that disagree, len
 * other than the existing Array's), -ENAMETOOLONG, -EPROTOTYPE (the name is another
 * kind of object), -ENOSPC (the window cannot hold B + 1 more words: raise
 * opts.window_bytes), -EIO.
 * Concurrency: collective. Ordering: the zeroes are visible to every rank on return.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_cluster_array_open(shmrt_cluster_t *cl, const char *name,
						      int64_t len, shmrt_cluster_array_t *out);

/*
 * Reads elements [start, start+count) into buf. Path: MPI. Per block the range
 * touches: a seqlock read on the block's node leader: MPI_Fetch_and_op(MPI_NO_OP) of
 * the sequence word, MPI_Get_accumulate(MPI_NO_OP) of the elements, the sequence
 * word again, each flushed (3 round trips), retried (with backoff) while a write of
 * the block runs or ran meanwhile. So each block's part is one state of the block
 * between range writes, never a torn write; two blocks' parts may be of different
 * moments. Element atomics (below) do not take the block's seqlock: a range read sees
 * each element as of some moment of the read.
 * Returns 0, -EINVAL (bad handle, buf NULL with count > 0), -ERANGE (the range is not
 * inside the Array), -EIO.
 * Concurrency: everything. Ordering: each block's part as of one moment.
 */
SHMRT_API int shmrt_cluster_array_read(const shmrt_cluster_array_t *a, int64_t start,
				       int64_t count, int64_t *buf);

/*
 * Writes buf to elements [start, start+count). Path: MPI. Per block: takes the
 * block's seqlock (MPI_Compare_and_swap of its sequence word from even to odd,
 * retried with backoff while another writer holds it), MPI_Accumulate(MPI_REPLACE)
 * of the elements, then the sequence word to the next even value, each flushed (4
 * round trips uncontended: the first CAS guesses the sequence word is 0 and learns
 * it; 3 on a block never written). Element-wise atomic with the element atomics.
 * Returns 0, -EINVAL, -ERANGE, -EIO.
 * (With SHMRT_CLUSTER_SPLIT_WRITES=1 in the environment at shmrt_cluster_open, for
 * tests, each block's part is written one element per call, yielding between, so
 * that only the seqlock keeps reads whole.)
 * Concurrency: everything; writers of one block are serialised. Ordering: each
 * block's part is complete (flushed) before its sequence word is released, and the
 * whole write before the call returns.
 */
SHMRT_API int shmrt_cluster_array_write(const shmrt_cluster_array_t *a, int64_t start,
					int64_t count, const int64_t *buf);

/*
 * Element atomics, as a Value's (1 round trip to the element's node leader, MPI only):
 * load (MPI_NO_OP), store (MPI_REPLACE), fetch_add (MPI_SUM; *old may be NULL).
 * Returns 0, -EINVAL, -ERANGE (i outside the Array), -EIO.
 * Concurrency: everything. Ordering: atomic on the element, complete on return.
 */
SHMRT_API int shmrt_cluster_array_load(const shmrt_cluster_array_t *a, int64_t i, int64_t *out);
SHMRT_API int shmrt_cluster_array_store(const shmrt_cluster_array_t *a, int64_t i, int64_t x);
SHMRT_API int shmrt_cluster_array_fetch_add(const shmrt_cluster_array_t *a, int64_t i, int64_t x,
					    int64_t *old);

/* ---- Queue: MPMC byte messages, homed on one node --------------------------------- */

/* Most messages one burst call moves per round of round trips. */
#define SHMRT_CLUSTER_BURST_MAX 64

/* Handle (fields private). */
typedef struct shmrt_cluster_queue {
	shmrt_cluster_t *cl;
	int target;          /* the home node's leader */
	int home;
	int64_t disp;        /* head, tail, then the slots */
	int64_t cap;         /* slots */
	int64_t slot_words;  /* per slot: its state, then its record (length, bytes) */
	size_t msg_max;
	size_t obj;          /* the cluster's record of it (this rank's hints) */
} shmrt_cluster_queue_t;

/*
 * Opens the Queue `name` of capacity messages of at most msg_max bytes (collective),
 * homed on the node shmrt_cluster_home(name), in its leader's window (2 + capacity *
 * (2 + ceil(msg_max / 8)) words). Opening a name again returns the same Queue
 * (capacity and msg_max must match).
 * Returns 0, or on every rank: -EINVAL (bad name; capacity not in 1 .. 2^24, msg_max
 * not in 1 .. 1 MiB; ranks that disagree; another capacity or msg_max than the
 * existing Queue's), -ENAMETOOLONG, -EPROTOTYPE, -ENOSPC (raise opts.window_bytes),
 * -EIO. Concurrency: collective. Ordering: empty on return.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_cluster_queue_open(shmrt_cluster_t *cl, const char *name,
						      size_t capacity, size_t msg_max,
						      shmrt_cluster_queue_t *out);

/*
 * Appends a copy of msg (len bytes, 0 allowed). Path: MPI to the home leader: CAS
 * tail from the tail this rank last saw and CAS the slot's state to claimed, in flight
 * together (1 round trip; head read along when this rank's hints leave less than half
 * the ring), put length and bytes (1), state to full (1): 3 round trips uncontended.
 * When another rank took that ticket (a claim made for it is given back: +1) or the
 * hints say full: read head and tail (1), CAS tail (1), claim (1), put, full: 5. While
 * the queue is full it waits (backing off) up to timeout (ns; 0: do not wait; < 0:
 * forever) without taking a ticket, so a full queue is left as it was.
 * Returns 0; -EAGAIN (full, timeout 0); -ETIMEDOUT (still full at the timeout);
 * -EMSGSIZE (len > msg_max); -EINVAL; -EIO.
 * Concurrency: every rank (MPMC). Ordering: the bytes are complete at the home before
 * the slot reads full: a pop that returns the message returns all of it.
 */
SHMRT_API int shmrt_cluster_queue_push(const shmrt_cluster_queue_t *q, const void *msg,
				       size_t len, shmrt_ns_t timeout);

/*
 * Removes the oldest message into buf (cap >= msg_max) and its length into *len.
 * Path: MPI: CAS head from the head this rank last saw and read the slot's state, in
 * flight together, when this rank's hints say the queue is not empty (1), get the
 * length and bytes (1), free the slot (1): 3 round trips; else read head and tail (1),
 * CAS head (1), the state (1), get (1), free (1): 5; more while the slot's producer
 * has not marked it full. While the
 * queue is empty it waits up to timeout (as push) without taking a ticket. A ticket
 * whose producer has not yet claimed its slot when the timeout expires is skipped
 * (that producer retries with another ticket: nothing is lost); a slot a producer is
 * writing is waited for, beyond the timeout if need be (fail-stop: it finishes).
 * Returns 0; -EAGAIN (empty, timeout 0); -ETIMEDOUT; -EMSGSIZE (cap < msg_max);
 * -ENOMEM (msg_max > 64 and no memory for the bounce buffer; no ticket taken);
 * -EINVAL; -EIO.
 * Concurrency: every rank (MPMC). Ordering: messages leave in ticket order: FIFO per
 * producer for each consumer; a message is returned whole.
 */
SHMRT_API int shmrt_cluster_queue_pop(const shmrt_cluster_queue_t *q, void *buf, size_t cap,
				      size_t *len, shmrt_ns_t timeout);

/*
 * Bursts: the same protocol for many messages, with the operations of each step in
 * flight together and one flush per step, so that a burst costs the round trips of
 * one message (5 per SHMRT_CLUSTER_BURST_MAX messages).
 *
 * push_burst appends msgs[0..n) (lengths lens[]) in order: it takes as many tickets
 * as there is room for (at most SHMRT_CLUSTER_BURST_MAX per round), claims their slots
 * at once, puts every message, and marks them full at once; it goes on until all are
 * in or the timeout. A ticket a consumer skipped meanwhile (its timeout ran out first)
 * is given up with every later ticket of the round (their slots carry holes, which
 * pops pass over), and those messages go again with new tickets: a producer's
 * messages stay in order. *pushed: how many of the first messages are in. Returns 0
 * when at least one is in; else as push (-EAGAIN, -ETIMEDOUT); -EMSGSIZE or -EINVAL
 * for a bad message (checked before anything is pushed); -EIO.
 *
 * pop_burst removes up to n (at most SHMRT_CLUSTER_BURST_MAX) of the oldest messages:
 * message i into buf + i * stride (stride >= msg_max), its length into lens[i];
 * *popped says how many (at least 1 on success). Waits and skips as pop. Returns 0;
 * -EAGAIN; -ETIMEDOUT; -EMSGSIZE (stride < msg_max); -ENOMEM (the bounce buffer, before
 * any ticket); -EINVAL (n = 0, NULL pointers); -EIO.
 * Concurrency: as push and pop (the single calls are bursts of one). Ordering: as push
 * and pop; the messages of one push_burst are FIFO among themselves.
 */
SHMRT_API int shmrt_cluster_queue_push_burst(const shmrt_cluster_queue_t *q,
					     const void *const *msgs, const size_t *lens,
					     size_t n, shmrt_ns_t timeout, size_t *pushed);
SHMRT_API int shmrt_cluster_queue_pop_burst(const shmrt_cluster_queue_t *q, void *buf,
					    size_t stride, size_t *lens, size_t n,
					    shmrt_ns_t timeout, size_t *popped);

/* ---- Dict: byte keys to byte values, homed by key over the nodes ------------------ */

/* Handle (fields private). */
typedef struct shmrt_cluster_dict {
	shmrt_cluster_t *cl;
	int64_t buckets;  /* per node */
	int64_t disp;
	size_t key_max, val_max;
} shmrt_cluster_dict_t;

/*
 * Opens the Dict `name` (collective): `buckets` buckets on every node (each of
 * 2 + ceil(key_max / 8) + ceil(val_max / 8) words of its leader's window), for keys of
 * 1 .. key_max bytes (at most 4096) and values of 0 .. val_max bytes (at most 65535).
 * A key lives on the node its hash names, in the first free bucket of a linear probe;
 * a deleted key keeps its bucket (a tombstone), so a node holds at most `buckets`
 * distinct keys over the Dict's life. Opening a name again returns the same Dict
 * (same sizes). Returns 0, or on every rank: -EINVAL, -ENAMETOOLONG, -EPROTOTYPE,
 * -ENOSPC (raise opts.window_bytes), -EIO. Concurrency: collective. Ordering: empty.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_cluster_dict_open(shmrt_cluster_t *cl, const char *name,
						     size_t buckets, size_t key_max,
						     size_t val_max, shmrt_cluster_dict_t *out);

/*
 * Copies key's value into val (cap bytes) and its length into *vlen. Path: MPI,
 * one-sided: seqlock reads of the buckets probed on the key's home node (3 round trips
 * each; one when the key is in its first bucket).
 * Returns 0; -ENOENT; -EMSGSIZE (key longer than key_max, or the value longer than cap:
 * *vlen says how long); -EINVAL; -EIO.
 * Concurrency: everything. Ordering: the value of one completed set, never torn.
 */
SHMRT_API int shmrt_cluster_dict_get(const shmrt_cluster_dict_t *d, const void *key, size_t klen,
				     void *val, size_t cap, size_t *vlen);

/*
 * Sets key to a copy of val (vlen bytes). Path: MPI: the probe (as get), then the
 * bucket's seqlock (CAS), a re-read under it, the write (MPI_Accumulate(MPI_REPLACE))
 * and the release: 7 round trips when the key is in its first bucket.
 * Returns 0; -ENOSPC (no free bucket on the key's node); -EMSGSIZE (key or value too
 * long); -EINVAL; -EIO.
 * Concurrency: everything (sets of one key are serialised). Ordering: complete when it
 * returns: a get that starts afterwards, on any rank, sees it (or a later set).
 */
SHMRT_API int shmrt_cluster_dict_set(const shmrt_cluster_dict_t *d, const void *key, size_t klen,
				     const void *val, size_t vlen);

/* The node key is homed on, or -EINVAL. Concurrency: any. */
SHMRT_API int shmrt_cluster_dict_home(const shmrt_cluster_dict_t *d, const void *key, size_t klen);

/* Deletes key (its bucket stays the key's). Path and costs as set. Returns 0, -ENOENT,
 * -EMSGSIZE, -EINVAL, -EIO. Concurrency and Ordering: as set. */
SHMRT_API int shmrt_cluster_dict_del(const shmrt_cluster_dict_t *d, const void *key, size_t klen);

#ifdef __cplusplus
}
#endif

#endif /* SHMRT_CLUSTER_H */
