/*
 * shmrt remote region objects: a region's Value, Counter, Array, Queue and Dict
 * reached through a Manager server (shmrt/manager.h) that holds the region attached
 * (shmrt_manager_opts_t.regions, `shmrt manager serve --region NAME`), from another
 * machine or a process that does not map the region. Local processes keep using the
 * shared memory directly; remote clients see the same objects at the same time.
 *
 * A remote handle is opened by region and object name over a connection; it opens
 * the object the local program made (never creates one) and has the semantics and
 * error codes of the local handle's calls, plus the transport's:
 *   -ENOTCONN   the connection is broken (shmrt_manager_reconnect, then open again)
 *   -ECOMM      the server did not answer within the connection's timeout: the call
 *               may or may not have happened
 *   -ESTALE     a handle opened on an earlier socket of the connection
 * A call is one round trip (a fetch, a cas, a queue get), a burst or a range one
 * round trip too. A Queue call that cannot move now waits in the client (it asks
 * again, backing off from a yield to 1 ms between asks) until its timeout: the
 * server never blocks on it.
 *
 * When the network fails a call in flight may or may not have happened. Safe to
 * retry: value load, counter sum, array read, dict get, queue size (they change
 * nothing), value store and array write and dict set/delete of the same contents
 * (idempotent), and a value or dict cas given the expected value it was made for
 * (it cannot apply twice: a second try finds the new value and fails). Not safe:
 * value fetch and exchange, counter add, queue put and get (a retried put may
 * duplicate; a get whose reply was lost lost its message: at-most-once, as a local
 * consumer killed after its get).
 *
 *  call                         | concurrent with
 *  -----------------------------+------------------------------------------------
 *  any call on a handle         | calls on other connections and local processes;
 *                               | one thread per connection (and its handles)
 *
 * Ordering: each call runs as the local call in the server process, in the order a
 * connection sends them: what it returns observes what the local call observes.
 */
#ifndef SHMRT_REMOTE_H
#define SHMRT_REMOTE_H

#include <stdint.h>
#include "common.h"
#include "manager.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most bytes of data one range read, array write or queue burst carries. */
#define SHMRT_REMOTE_RANGE_MAX (8u << 20)
/* The most messages one queue burst moves. */
#define SHMRT_REMOTE_BURST_MAX 1024u
/* The most regions one server attaches. */
#define SHMRT_REMOTE_REGIONS_MAX 64u

/* Handles (fields private but for the read-only geometry named). */
typedef struct shmrt_remote_value {
	shmrt_proxy_t *proxy;
	int type;                 /* its shmrt_vtype_t */
} shmrt_remote_value_t;
typedef struct shmrt_remote_counter {
	shmrt_proxy_t *proxy;
} shmrt_remote_counter_t;
typedef struct shmrt_remote_array {
	shmrt_proxy_t *proxy;
	int type;                 /* its shmrt_vtype_t */
	uint64_t len;             /* elements */
} shmrt_remote_array_t;
typedef struct shmrt_remote_queue {
	shmrt_proxy_t *proxy;
	uint32_t max_msg;         /* the largest message */
	uint32_t capacity;        /* messages when full */
} shmrt_remote_queue_t;
typedef struct shmrt_remote_dict {
	shmrt_proxy_t *proxy;
	uint32_t max_key, max_value;
} shmrt_remote_dict_t;

/*
 * Open the object name of region (a region the server attached) over conn.
 * Returns 0 and *out; -EINVAL (NULL or malformed names); -ENXIO (the server attaches
 * no region of that name); -ENOENT (no such object); -EPROTOTYPE (an object of
 * another kind); -EBADMSG (a damaged object); -ENOMEM; the transport's errors.
 * Concurrency: conn's thread. Ordering: as the local open.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_remote_value_open(shmrt_manager_conn_t *conn,
						     const char *region, const char *name,
						     shmrt_remote_value_t *out);
SHMRT_API SHMRT_MUST_USE int shmrt_remote_counter_open(shmrt_manager_conn_t *conn,
						       const char *region, const char *name,
						       shmrt_remote_counter_t *out);
SHMRT_API SHMRT_MUST_USE int shmrt_remote_array_open(shmrt_manager_conn_t *conn,
						     const char *region, const char *name,
						     shmrt_remote_array_t *out);
SHMRT_API SHMRT_MUST_USE int shmrt_remote_queue_open(shmrt_manager_conn_t *conn,
						     const char *region, const char *name,
						     shmrt_remote_queue_t *out);
SHMRT_API SHMRT_MUST_USE int shmrt_remote_dict_open(shmrt_manager_conn_t *conn,
						    const char *region, const char *name,
						    shmrt_remote_dict_t *out);

/* Release a handle (the server drops it; the object stays). Returns 0 or the
 * transport's error (the handle is freed anyway). NULL or a zeroed handle: 0.
 * Concurrency: the connection's thread. Ordering: after every earlier call on it. */
SHMRT_API int shmrt_remote_value_release(shmrt_remote_value_t *v);
SHMRT_API int shmrt_remote_counter_release(shmrt_remote_counter_t *c);
SHMRT_API int shmrt_remote_array_release(shmrt_remote_array_t *a);
SHMRT_API int shmrt_remote_queue_release(shmrt_remote_queue_t *q);
SHMRT_API int shmrt_remote_dict_release(shmrt_remote_dict_t *d);

/*
 * Value: as shmrt_value_load, _store, _exchange, _fetch and _cas (shmrt/value.h),
 * with their errors (-EINVAL an op the type does not have; cas: -EAGAIN and
 * *expected updated) and the transport's. fetch is one round trip.
 * Concurrency: the connection's thread; any local process at once. Ordering: the
 * local call's (sequentially consistent on the value), run in the server.
 */
SHMRT_API int shmrt_remote_value_load(const shmrt_remote_value_t *v, shmrt_scalar_t *out);
SHMRT_API int shmrt_remote_value_store(const shmrt_remote_value_t *v, shmrt_scalar_t x);
SHMRT_API int shmrt_remote_value_exchange(const shmrt_remote_value_t *v, shmrt_scalar_t x,
					  shmrt_scalar_t *old);
SHMRT_API int shmrt_remote_value_fetch(const shmrt_remote_value_t *v, shmrt_vop_t op,
				       shmrt_scalar_t arg, shmrt_scalar_t *old);
SHMRT_API int shmrt_remote_value_cas(const shmrt_remote_value_t *v, shmrt_scalar_t *expected,
				     shmrt_scalar_t desired);

/* Counter: add x (0 or the transport's error; local adds cannot fail) and the sum
 * of the stripes (shmrt_counter_read's relaxed sum) into *sum.
 * Concurrency: the connection's thread. Ordering: relaxed, as the local Counter's. */
SHMRT_API int shmrt_remote_counter_add(const shmrt_remote_counter_t *c, int64_t x);
SHMRT_API int shmrt_remote_counter_sum(const shmrt_remote_counter_t *c, int64_t *sum);

/*
 * Array: read copies elements [off, off + count) into dst as one instant's state
 * (shmrt_array_snapshot); write copies count elements from src (shmrt_array_write);
 * fetch is shmrt_array_fetch. Returns 0; -EINVAL (a range outside the array);
 * -EMSGSIZE (more than SHMRT_REMOTE_RANGE_MAX bytes, or than a reply of the
 * server's max_frame carries: nothing read or written);
 * -EUCLEAN (read: a stripe torn by a dead writer); the local call's errors; the
 * transport's.
 * Concurrency: the connection's thread. Ordering: the local calls' (a read is one
 * instant's state of the range; a write is seen whole by snapshots).
 */
SHMRT_API int shmrt_remote_array_read(const shmrt_remote_array_t *a, uint64_t off, void *dst,
				      uint64_t count);
SHMRT_API int shmrt_remote_array_write(const shmrt_remote_array_t *a, uint64_t off,
				       const void *src, uint64_t count);
SHMRT_API int shmrt_remote_array_fetch(const shmrt_remote_array_t *a, uint64_t i,
				       shmrt_vop_t op, shmrt_scalar_t arg, shmrt_scalar_t *old);

/*
 * Queue: as shmrt_queue_put, _get, _put_burst, _get_burst (shmrt/queue.h), with
 * their results: -EAGAIN (timeout 0), -ETIMEDOUT, -EPIPE (closed, or every producer
 * gone and drained), -EMSGSIZE (get: *len says the size needed, the message stays
 * queued; also for a message larger than a reply can carry: SHMRT_REMOTE_RANGE_MAX,
 * or the server's max_frame less a few KiB); bursts move 1..n (n at most SHMRT_REMOTE_BURST_MAX, -EINVAL above) in one
 * round trip, a get burst stopping before SHMRT_REMOTE_RANGE_MAX bytes; -EPERM (a
 * queue made SHMRT_QUEUE_SP refuses remote puts, SHMRT_QUEUE_SC remote gets: the
 * server would be a second producer or consumer); the transport's errors.
 * The server process becomes one of the queue's producers at its first remote put
 * and stays one while it runs (consumers see the end only after it stops).
 * Concurrency: the connection's thread. Ordering: the local queue's (a get observes
 * what its producer wrote before the put; FIFO per producer, a connection's puts in
 * the order it sent them).
 */
SHMRT_API int shmrt_remote_queue_put(const shmrt_remote_queue_t *q, const void *msg, size_t len,
				     shmrt_ns_t timeout);
SHMRT_API int shmrt_remote_queue_get(const shmrt_remote_queue_t *q, void *buf, size_t cap,
				     size_t *len, shmrt_ns_t timeout);
SHMRT_API int shmrt_remote_queue_put_burst(const shmrt_remote_queue_t *q,
					   const void *const *msgs, const size_t *lens,
					   unsigned n, shmrt_ns_t timeout);
SHMRT_API int shmrt_remote_queue_get_burst(const shmrt_remote_queue_t *q, void *const *bufs,
					   size_t cap, size_t *lens, unsigned n,
					   shmrt_ns_t timeout);

/*
 * Dict: as shmrt_dict_get, _set, _delete and _cas (shmrt/dict.h), with their errors
 * (-ENOENT absent, -EMSGSIZE a key or value over the maxima or cap too small (*vlen
 * then says how much is needed), -EAGAIN a cas that did not replace) and the
 * transport's.
 * Concurrency: the connection's thread. Ordering: the local Dict's (a get observes
 * the whole value of a set that completed before it).
 */
SHMRT_API int shmrt_remote_dict_get(const shmrt_remote_dict_t *d, const void *key, size_t klen,
				    void *buf, size_t cap, size_t *vlen);
SHMRT_API int shmrt_remote_dict_set(const shmrt_remote_dict_t *d, const void *key, size_t klen,
				    const void *val, size_t vlen);
SHMRT_API int shmrt_remote_dict_delete(const shmrt_remote_dict_t *d, const void *key,
				       size_t klen);
SHMRT_API int shmrt_remote_dict_cas(const shmrt_remote_dict_t *d, const void *key, size_t klen,
				    const void *expect, size_t elen, const void *val,
				    size_t vlen);

#ifdef __cplusplus
}
#endif
#endif /* SHMRT_REMOTE_H */
