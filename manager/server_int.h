/*
 * The manager's server internals: the table of objects, their types and methods, and
 * the sessions' references (manager/objects.c, mtype_*.c), separate from the event
 * loop (manager/server.c) so that requests can be run, and tested, without sockets.
 *
 * An object is {id, type, refs, data}: data is a value tree (shmrt/mvalue.h) whose
 * shape the type decides (a map for dict and Namespace, a list for list). refs counts
 * every reference (docs/DESIGN.md 8b): the sessions' (each session keeps, in its own
 * id -> count map, how many it holds) and one per ref value stored in another object's
 * data. At zero the object goes on the store's dead list; shmrt__mstore_reap destroys
 * what is there (dropping the refs their data held, which may add more), after each
 * request, so a method never sees its own object freed under it.
 *
 * Parked calls (manager/park.c). A method may park its call instead of answering
 * (a Lock acquire on a held lock, a Queue get on an empty queue): the call becomes a
 * waiter on one of its object's FIFOs and on its session's list, and, when it has a
 * deadline, in the store's timer heap. It is answered later, by another request (a
 * release, a put), by its deadline (shmrt__mstore_expire), or dropped unanswered when
 * its session ends. Answers go out through the store's deliver callback (the server
 * queues the frame on the session's connection).
 *
 * Concurrency: a store, its objects and its sessions belong to the server's one
 * thread.
 */
#ifndef SHMRT_MANAGER_SERVER_INT_H
#define SHMRT_MANAGER_SERVER_INT_H

#include <stddef.h>
#include <stdint.h>

#include <shmrt/common.h>
#include <shmrt/mvalue.h>

/* ---- a map of 64-bit ids (never 0) to words: open addressing, linear probing ---- */

typedef struct shmrt__idmap {
	uint64_t *keys; /* 0: empty slot */
	uintptr_t *vals;
	size_t cap;     /* a power of two, or 0 */
	size_t n;
} shmrt__idmap_t;

/* The slot of key's value, or NULL. Concurrency: the owner's thread. */
uintptr_t *shmrt__idmap_find(const shmrt__idmap_t *m, uint64_t key);
/* Sets key (not 0) to val. Returns 0 or -ENOMEM. Concurrency: the owner's thread. */
SHMRT_MUST_USE int shmrt__idmap_put(shmrt__idmap_t *m, uint64_t key, uintptr_t val);
/* Removes key. Returns 0 or -ENOENT. Concurrency: the owner's thread. */
int shmrt__idmap_del(shmrt__idmap_t *m, uint64_t key);
/* Frees the map's memory (not what the values point to). */
void shmrt__idmap_fini(shmrt__idmap_t *m);

/* ---- objects and types ---------------------------------------------------------- */

struct shmrt__mstore;
struct shmrt__mtype;
struct shmrt__mwait;

/* A session: one authenticated connection's references and parked calls. */
typedef struct shmrt__msess {
	shmrt__idmap_t refs;          /* id -> references this session holds */
	uint64_t id;                  /* never 0, never reused (a lock's owner) */
	struct shmrt__mwait *waits;   /* its parked calls (at most one for a blocking
	                                 client; any number for a pipelining one) */
	void *user;                   /* the server's connection */
	size_t nwaits;                /* its parked calls */
} shmrt__msess_t;

#define SHMRT__MWAITQ 3 /* FIFOs of waiters per object (a Queue: getters, putters,
			   joiners) */

typedef struct shmrt__mobj {
	uint64_t id;
	const struct shmrt__mtype *type;
	uint64_t refs;
	shmrt_mv_t *data;
	void *priv;     /* the type's C state (sync types), freed by type->fini */
	struct shmrt__mwait *wq[SHMRT__MWAITQ][2]; /* waiter FIFOs: head, tail */
	struct shmrt__mobj *next_dead;
	int on_dead;    /* on the dead list (a later incref may have revived it) */
} shmrt__mobj_t;

/* What a parked call answers at its deadline. */
typedef enum shmrt__mwait_tmo {
	SHMRT__TMO_FALSE = 0,     /* rc 0, result False (Lock.acquire, Event.wait) */
	SHMRT__TMO_ETIMEDOUT = 1, /* rc -ETIMEDOUT (Queue get and put: Empty, Full) */
} shmrt__mwait_tmo_t;

/* A parked call. */
typedef struct shmrt__mwait {
	shmrt__msess_t *sess;
	int64_t req_id;               /* the request's id, echoed in the late reply */
	uint64_t deadline;            /* mono ns; UINT64_MAX: none */
	size_t heap_at;               /* index in the timer heap; SIZE_MAX: not in it */
	shmrt__mobj_t *o;
	int q;                        /* which of o's FIFOs */
	shmrt__mwait_tmo_t tmo;
	shmrt_mv_t *arg;              /* what the call carries (a put's item: its refs
	                                 are counted while it waits), or NULL */
	struct shmrt__mwait *prev, *next;   /* o->wq[q] */
	struct shmrt__mwait *sprev, *snext; /* sess->waits */
} shmrt__mwait_t;

/* One method call: args is the request's argument list, the method's to take items
 * from (shmrt_mv_list_pop); res is its result (NULL: nil). sess and req_id are the
 * caller's, for a method that parks. */
typedef struct shmrt__mcall {
	struct shmrt__mstore *st;
	shmrt__mobj_t *o;
	shmrt_mv_t *args;
	shmrt_mv_t *res;
	shmrt__msess_t *sess;
	int64_t req_id;
} shmrt__mcall_t;

/* A method: 0 or a negative errno (the reply's rc), or SHMRT__MPARKED (the call
 * waits; no reply now). */
typedef int (*shmrt__mmethod_fn)(shmrt__mcall_t *c);
#define SHMRT__MPARKED 1

typedef struct shmrt__mmethod {
	const char *name;
	shmrt__mmethod_fn fn;
} shmrt__mmethod_t;

typedef struct shmrt__mtype {
	const char *name;
	/* Builds a new object's data from init (NULL: none; consumed, refs in it already
	 * checked live). The store counts the refs of the data it gets.
	 * Returns 0 and *data, -EINVAL (init of the wrong shape), -ENOMEM. */
	int (*init)(shmrt_mv_t *init, shmrt_mv_t **data);
	const shmrt__mmethod_t *methods;
	size_t nmethods;
	/* Optional (NULL: none). init_priv sets o->priv from init (before init consumes
	 * it; init may be NULL): 0, -EINVAL, -ENOMEM. fini frees o->priv when o is
	 * destroyed (its waiters are answered -ENOENT by the store first). sess_end
	 * runs for every object of the type when a session ends, after the session's
	 * waiters were dropped and before its references are (a Lock it holds is
	 * handed on). */
	int (*init_priv)(const shmrt_mv_t *init, void **priv);
	void (*fini)(struct shmrt__mstore *st, shmrt__mobj_t *o);
	void (*sess_end)(struct shmrt__mstore *st, shmrt__mobj_t *o, shmrt__msess_t *sess);
} shmrt__mtype_t;

extern const shmrt__mtype_t shmrt__mtype_dict;
extern const shmrt__mtype_t shmrt__mtype_list;
extern const shmrt__mtype_t shmrt__mtype_namespace;
extern const shmrt__mtype_t shmrt__mtype_lock;
extern const shmrt__mtype_t shmrt__mtype_rlock;
extern const shmrt__mtype_t shmrt__mtype_semaphore;
extern const shmrt__mtype_t shmrt__mtype_bsemaphore;
extern const shmrt__mtype_t shmrt__mtype_event;
extern const shmrt__mtype_t shmrt__mtype_queue;
extern const shmrt__mtype_t shmrt__mtype_jqueue;

/*
 * Sends a late reply ([id, rc, result], consumed) to sess's connection. It must not
 * end any session (a connection that cannot take it is closed later).
 */
typedef void (*shmrt__mdeliver_fn)(void *arg, shmrt__msess_t *sess, shmrt_mv_t *reply);
/* Whether sess's peer still lives (a connection at EOF or hung up does not). */
typedef int (*shmrt__malive_fn)(void *arg, shmrt__msess_t *sess);

typedef struct shmrt__mstore {
	shmrt__idmap_t objs;   /* id -> shmrt__mobj_t * */
	uint64_t epoch;        /* 1..65535, the ids' high 16 bits */
	uint64_t next;         /* the next id's low 48 bits */
	shmrt__mobj_t *dead;   /* objects at zero references, to destroy */
	size_t nsessions;
	uint64_t next_sess;    /* the next session's id */
	shmrt__mwait_t **heap; /* parked calls with a deadline: a binary min-heap */
	size_t nheap, capheap;
	size_t nwaits;         /* parked calls */
	size_t max_parked;     /* a session's parked calls (0: no cap); past it -EAGAIN */
	size_t nbuffered;      /* the server's buffered bytes (for stats) */
	size_t nhandshakes;    /* connections in the handshake (for stats) */
	shmrt__mdeliver_fn deliver; /* NULL: late replies are dropped (tests) */
	shmrt__malive_fn alive;     /* NULL: every session lives */
	void *cb_arg;
} shmrt__mstore_t;

#define SHMRT__MID_EPOCH_SHIFT 48

/*
 * Initialises st with a random epoch (getrandom; epoch_or_0 forces one, for tests).
 * Returns 0 or the errno of getrandom. Concurrency: st is the caller's.
 */
SHMRT_MUST_USE int shmrt__mstore_init(shmrt__mstore_t *st, uint16_t epoch_or_0);

/* Destroys every object and frees the table. Sessions must have ended. */
void shmrt__mstore_fini(shmrt__mstore_t *st);

/*
 * Runs one decoded request (consumed) for the session whose references are in *sess,
 * and builds its reply ([id, rc, result]) into *reply. A request of the wrong shape
 * gets an -EINVAL reply (id 0 if it has none). Objects that reached zero references
 * are destroyed before it returns.
 * Returns 0 and *reply; -ENOMEM (no reply could be built: drop the client).
 * Concurrency: the server's thread.
 */
SHMRT_MUST_USE int shmrt__mstore_request(shmrt__mstore_t *st, shmrt__msess_t *sess,
					 shmrt_mv_t *req, shmrt_mv_t **reply);

/* Starts a session (zeroes *sess, gives it an id). Concurrency: the server's thread. */
void shmrt__mstore_session_start(shmrt__mstore_t *st, shmrt__msess_t *sess, void *user);

/* Ends a session: drops its parked calls unanswered, lets each sync object hand on
 * what the session held, drops every reference it holds and frees its map. */
void shmrt__mstore_session_end(shmrt__mstore_t *st, shmrt__msess_t *sess);

/* ---- parked calls (manager/park.c) ---------------------------------------------- */

/*
 * Parks call c on its object's FIFO q with timeout (the method's argument: nil for
 * none, else a non-negative int of nanoseconds; NULL: none), carrying arg (consumed;
 * NULL: none; its refs must be counted by the caller). A timeout of 0 does not park:
 * the deadline's answer is given at once.
 * Returns: SHMRT__MPARKED; at a timeout of 0, tmo's answer (0 with c->res False, or
 * -ETIMEDOUT); -EINVAL (a bad timeout); -ENOMEM. Concurrency: the server's thread.
 */
SHMRT_MUST_USE int shmrt__mwait_park(shmrt__mcall_t *c, int q, const shmrt_mv_t *timeout,
				     shmrt__mwait_tmo_t tmo, shmrt_mv_t *arg);

/* A method's timeout argument: 0 and *ns (-1: none), or -EINVAL. */
SHMRT_MUST_USE int shmrt__mwait_timeout(const shmrt_mv_t *timeout, int64_t *ns);

/*
 * The first live waiter of o's FIFO q, unlinked (the caller answers it with
 * shmrt__mwait_answer), or NULL. Waiters of sessions whose peer is gone are dropped
 * on the way (a dead getter takes no item).
 */
shmrt__mwait_t *shmrt__mwait_pop(shmrt__mstore_t *st, shmrt__mobj_t *o, int q);

/* Unlinks w from its FIFO, its session and the heap. */
void shmrt__mwait_unlink(shmrt__mstore_t *st, shmrt__mwait_t *w);

/* Answers an unlinked w with rc and res (consumed; NULL: nil), frees w and its arg
 * (whose refs are dropped). */
void shmrt__mwait_answer(shmrt__mstore_t *st, shmrt__mwait_t *w, int rc, shmrt_mv_t *res);

/* Drops every parked call of sess unanswered. */
void shmrt__mwait_drop_session(shmrt__mstore_t *st, shmrt__msess_t *sess);

/* Answers every waiter of o -ENOENT (o is being destroyed). */
void shmrt__mwait_drop_object(shmrt__mstore_t *st, shmrt__mobj_t *o);

/* Answers the calls whose deadline passed (at now) and returns the nearest deadline
 * left (UINT64_MAX: none). */
uint64_t shmrt__mstore_expire(shmrt__mstore_t *st, uint64_t now);

/*
 * The object a ref names. Returns 0 and *out; -ESTALE (another epoch: a server that
 * has restarted since); -ENOENT (never made, or destroyed).
 */
SHMRT_MUST_USE int shmrt__mstore_lookup(shmrt__mstore_t *st, uint64_t id, shmrt__mobj_t **out);

/* Every ref in v names a live object: 0, or -ESTALE / -ENOENT for the first that does
 * not, -ELOOP for a tree deeper than SHMRT_MV_DEPTH_MAX. */
SHMRT_MUST_USE int shmrt__mstore_refs_check(shmrt__mstore_t *st, const shmrt_mv_t *v);

/* Adds delta (+1 or -1) to the count of every object v refers to (v's refs must be
 * live). An object reaching zero goes on the dead list. */
void shmrt__mstore_refs_adjust(shmrt__mstore_t *st, const shmrt_mv_t *v, int delta);

/* A value taken out of an object's data: its refs are dropped and it is freed. */
void shmrt__mstore_drop(shmrt__mstore_t *st, shmrt_mv_t *v);

/* Destroys the objects on the dead list, and those their destruction kills. */
void shmrt__mstore_reap(shmrt__mstore_t *st);

/*
 * The "objects" request (manager/objects_ls.c): every object's id, type, len, size in
 * msgpack and reference count, by id, at most SHMRT__MSTORE_LS_MAX of them.
 * Returns 0 and *res; -EINVAL (args not empty); -ENOMEM. Concurrency: server thread.
 */
#define SHMRT__MSTORE_LS_MAX 100000
SHMRT_MUST_USE int shmrt__mstore_objects(shmrt__mstore_t *st, const shmrt_mv_t *args,
					 shmrt_mv_t **res);

/* ---- helpers for the types ------------------------------------------------------ */

/* (shmrt__mv_hashable, in mvalue_int.h, says whether v may be a map key.) */

/* Python's a < b for the orderable pairs (numbers with numbers, str with str, bytes
 * with bytes): 0 and *lt, or -EINVAL (unorderable: Python's TypeError). */
SHMRT_MUST_USE int shmrt__mv_less(const shmrt_mv_t *a, const shmrt_mv_t *b, int *lt);

#endif /* SHMRT_MANAGER_SERVER_INT_H */
