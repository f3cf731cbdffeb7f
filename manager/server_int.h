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
 * queues the frame on the session's connection). A type may take over what happens
 * at a deadline (SHMRT__TMO_HOOK, type->expire: a Condition's waiter re-acquires its
 * lock, a Barrier breaks) and be told when a session's end drops one of its waiters
 * (type->sess_drop: a Barrier breaks).
 *
 * Holds. What a session holds (a Lock, an RLock, a Condition's own lock) is on the
 * session's list of holds, each embedded in the held object's state: taking and
 * handing on a lock moves it between lists in O(1) with no allocation, and a
 * session's end visits only its holds (type->sess_end), not every object.
 *
 * The event loop. Its connections and state (shmrt__mconn_t, shmrt__msrv_t) are here
 * too, shared by the loop (manager/server.c) and its limits (manager/server_limits.c:
 * timeouts, connection caps, the memory budget, the spare descriptor).
 *
 * Concurrency: a store, its objects and its sessions belong to the server's one
 * thread.
 */
#ifndef SHMRT_MANAGER_SERVER_INT_H
#define SHMRT_MANAGER_SERVER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <shmrt/common.h>
#include <shmrt/manager.h>
#include <shmrt/mvalue.h>

#include "manager/auth.h"
#include "manager/frame.h"
#include "manager/transport.h"

/* ---- a map of 64-bit ids (never 0) to words (manager/idmap.c) -------------------- */

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

struct shmrt__mhold;

/* A session: one authenticated connection's references and parked calls. */
typedef struct shmrt__msess {
	shmrt__idmap_t refs;          /* id -> references this session holds */
	uint64_t id;                  /* never 0, never reused (a lock's owner) */
	struct shmrt__mwait *waits;   /* its parked calls (at most one for a blocking
	                                 client; any number for a pipelining one) */
	struct shmrt__mhold *held;    /* what it holds (locks): its end visits these */
	void *user;                   /* the server's connection */
	shmrt__idmap_t pending;       /* id -> references given to it and not yet
	                                 claimed by an incref: a user method's
	                                 shmrt_mtype_create (manager/mtype_user.c), a
	                                 value taken out and returned to it (a pop, a
	                                 get: manager/objects_hand.c); part of refs */
	size_t nwaits;                /* its parked calls */
} shmrt__msess_t;

/*
 * A hold: an object's link on the list of what a session holds (a Lock's or RLock's
 * holder), embedded in the object's C state, so that holding needs no allocation and
 * a session's end visits only what it holds (each hold's object's type->sess_end),
 * never every object. An object links at most one hold per session it is held by.
 */
typedef struct shmrt__mhold {
	shmrt__msess_t *sess;          /* NULL: not linked */
	struct shmrt__mobj *o;
	struct shmrt__mhold *prev, *next;
} shmrt__mhold_t;

/* Links h (not linked) for o on sess's list; O(1). Concurrency: the server's thread. */
void shmrt__mhold_link(shmrt__mhold_t *h, shmrt__msess_t *sess, struct shmrt__mobj *o);
/* Unlinks h if it is linked; O(1). Concurrency: the server's thread. */
void shmrt__mhold_unlink(shmrt__mhold_t *h);

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
	SHMRT__TMO_HOOK = 2,      /* the object's type->expire answers (Condition.wait
	                             re-acquires its lock, Barrier.wait breaks it); a
	                             timeout of 0 parks until the next expiry pass */
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
	int64_t aux[2];               /* the type's own words (0 when parked): a
	                                 Condition's saved lock count and whether it was
	                                 notified, a Barrier waiter's index */
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
	int64_t aux[2]; /* a parking method's words for its waiter (its aux) */
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
	 * runs when a session ends for each object the session holds (each hold on
	 * its list, shmrt__mhold_t: not for other objects of the type), after the
	 * session's waiters were dropped and before its references are (a Lock it
	 * holds is handed on); it must unlink that hold. */
	int (*init_priv)(const shmrt_mv_t *init, void **priv);
	void (*fini)(struct shmrt__mstore *st, shmrt__mobj_t *o);
	void (*sess_end)(struct shmrt__mstore *st, shmrt__mobj_t *o, shmrt__msess_t *sess);
	/* Optional. check_init: whether init (refs in it live) suits the type when it
	 * needs the store to tell (a Condition's lock must be a Lock or RLock): 0 or
	 * -EINVAL, before init_priv. expire: answers w (unlinked) at its deadline, for a
	 * call parked with SHMRT__TMO_HOOK. sess_drop: w (unlinked, of an ending session)
	 * is about to be freed unanswered (a Barrier breaks: a party died). */
	int (*check_init)(struct shmrt__mstore *st, const shmrt_mv_t *init);
	void (*expire)(struct shmrt__mstore *st, struct shmrt__mwait *w);
	void (*sess_drop)(struct shmrt__mstore *st, struct shmrt__mwait *w);
	/* Optional: the len the objects listing reports, when the data's own length is
	 * not it (a Queue's items are in two lists). NULL: the data's. */
	size_t (*len)(const shmrt__mobj_t *o);
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
extern const shmrt__mtype_t shmrt__mtype_condition;
extern const shmrt__mtype_t shmrt__mtype_barrier;
extern const shmrt__mtype_t shmrt__mtype_value;
extern const shmrt__mtype_t shmrt__mtype_array;

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
	uint64_t instance;     /* 63 random bits naming this server's run (drawn at the
	                          first "hello"; 0: not yet), never 0 once drawn */
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
	struct shmrt__mutype *utypes; /* the user-registered types (mtype_user.c) */
	size_t nutypes;
	struct shmrt__mremote *remote; /* the attached regions (manager/remote.c); NULL */
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

/* Ends a session: drops its parked calls unanswered (each type's sess_drop told),
 * lets each object the session holds hand it on (its type's sess_end, through the
 * session's holds: O(what it holds), not O(objects)), drops every reference it holds
 * and frees its map. */
void shmrt__mstore_session_end(shmrt__mstore_t *st, shmrt__msess_t *sess);

/*
 * Creates an object of type t (a built-in or user type) from init (consumed; NULL:
 * none), with one reference for sess. Returns 0 and *id; -EINVAL (init of the wrong
 * kind); -ESTALE, -ENOENT (a ref in init); -ENOSPC (ids spent); -ENOMEM; a user
 * constructor's error. Concurrency: the server's thread.
 */
SHMRT_MUST_USE int shmrt__mstore_create(shmrt__mstore_t *st, shmrt__msess_t *sess,
					const shmrt__mtype_t *t, shmrt_mv_t *init, uint64_t *id);

/* The type named name (n bytes): a built-in or a registered one, or NULL. */
const shmrt__mtype_t *shmrt__mstore_type(const shmrt__mstore_t *st, const char *name, size_t n);

/* Whether name is a built-in type's or reserved for one (Python's SyncManager's). */
int shmrt__mtype_reserved(const char *name);

/* Drops one of sess's references to id. Returns 0; -ENOENT (sess holds none; or no
 * such object); -ESTALE. Concurrency: the server's thread. */
int shmrt__mstore_release(shmrt__mstore_t *st, shmrt__msess_t *sess, uint64_t id);

/* ---- remote region objects (manager/remote.c) ----------------------------------- */

/* Attaches the regions named in names (NULL-terminated; NULL: none) to st, opening
 * each without creating it; max_frame: the server's frame cap, which bounds the data
 * of one reply. Returns 0; -EINVAL (a name twice); -E2BIG (more than
 * SHMRT_REMOTE_REGIONS_MAX); the errors of shmrt_region_open (-ENOENT ...); -ENOMEM.
 * On failure nothing stays attached. Concurrency: the server's thread. */
SHMRT_MUST_USE int shmrt__remote_attach(shmrt__mstore_t *st, const char *const *names,
					size_t max_frame);
/* Closes the attached regions (their handles' objects destroyed first). */
void shmrt__remote_detach(shmrt__mstore_t *st);
/* The "ropen [region, kind, name]" request: 0 and *res [ref, a, b]; -EINVAL (bad
 * args, unknown kind); -ENXIO (no such region served); -ENOENT (no such object);
 * -EPROTOTYPE (another kind); the local open's errors; -ENOMEM. */
SHMRT_MUST_USE int shmrt__remote_open(shmrt__mstore_t *st, shmrt__msess_t *sess,
				      const shmrt_mv_t *args, shmrt_mv_t **res);

/* ---- user-registered types (manager/mtype_user.c) --------------------------------- */

struct shmrt_mtype;

/* Checks a table of user types (shmrt/mtype.h). Returns 0 or -EINVAL. */
SHMRT_MUST_USE int shmrt__mutypes_check(const struct shmrt_mtype *const *types, size_t n);

/*
 * Checks and registers the user types in st (freed by shmrt__mstore_fini).
 * Returns 0; -EINVAL (a bad table); -ENOMEM. Concurrency: before the server runs.
 */
SHMRT_MUST_USE int shmrt__mstore_set_types(shmrt__mstore_t *st,
					   const struct shmrt_mtype *const *types, size_t n);

/* The registered type named name, or NULL. */
const shmrt__mtype_t *shmrt__mutype_find(const shmrt__mstore_t *st, const char *name);

/* t's user table, or NULL for a built-in type. */
const struct shmrt_mtype *shmrt__mutype_of(const shmrt__mtype_t *t);

/* Runs a user constructor for a create of type t (init: NULL for none). 0, -EINVAL,
 * or the constructor's error. */
SHMRT_MUST_USE int shmrt__mutype_construct(const shmrt__mtype_t *t, const shmrt_mv_t *init,
					   void **priv);

/*
 * Calls method name of the user object o for sess with args (the request's list; refs
 * checked live). Returns 0 and *res (NULL: None); -ENOENT (no such method); the
 * method's error; the result check's (-EINVAL, -ENOENT, -ESTALE, -ELOOP); -ENOMEM.
 * Concurrency: the server's thread.
 */
SHMRT_MUST_USE int shmrt__mutype_call(shmrt__mstore_t *st, shmrt__msess_t *sess,
				      shmrt__mobj_t *o, const char *name, shmrt_mv_t *args,
				      shmrt_mv_t **res);

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

/* Links an unlinked w at the tail of o's FIFO q and on its session's list, with no
 * deadline (a Condition waiter moving to its lock's FIFO). Concurrency: server. */
void shmrt__mwait_relink(shmrt__mstore_t *st, shmrt__mwait_t *w, shmrt__mobj_t *o, int q);

/* Answers an unlinked w with rc and res (consumed; NULL: nil), frees w and its arg
 * (whose refs are dropped). */
void shmrt__mwait_answer(shmrt__mstore_t *st, shmrt__mwait_t *w, int rc, shmrt_mv_t *res);

/*
 * Cancels sess's parked calls whose request ids are among ids[0, n) (sorted here, in
 * place; the client gave up on them): each is unlinked and freed unanswered, what it
 * carried dropped (a put's item is not put: its refs are dropped). Ids of calls
 * answered already, or never parked, are ignored. Returns how many were dropped.
 * Concurrency: the server's thread.
 */
size_t shmrt__mwait_cancel(shmrt__mstore_t *st, shmrt__msess_t *sess, int64_t *ids, size_t n);

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

/*
 * Hands the refs of v (a value a call takes out of an object and returns, or a put's
 * item given to a parked getter) to sess as pending references (manager/objects_hand.c):
 * one each time a ref occurs in v, each claimed by the session's next incref of its
 * id (the client's proxy), the unclaimed ones dropped when the session ends.
 * counted: v's refs are counted already (v is still in an object's data, about to be
 * taken out: the container's counts become the session's); false: each is counted
 * now (v is in no object). Call it before taking v out of its container.
 * Returns 0; -ENOMEM (nothing changed). Concurrency: the server's thread.
 */
SHMRT_MUST_USE int shmrt__mstore_hand(shmrt__mstore_t *st, shmrt__msess_t *sess,
				      const shmrt_mv_t *v, bool counted);

/*
 * Runs "call" with its parts already read (the server's path for a request of the
 * usual shape, decoded without a tree for its head): object id, method name, args (a
 * list, consumed). The same as shmrt__mstore_request on [req_id, "call", [ref id,
 * name, args]], the reply left unbuilt: *rrc its rc, *res its result (NULL: nil).
 * Returns: 0 and *rrc, *res; SHMRT__MPARKED (the call parked: answered later).
 * Concurrency: the server's thread.
 */
int shmrt__mstore_call(shmrt__mstore_t *st, shmrt__msess_t *sess, int64_t req_id, uint64_t id,
		       const char *name, shmrt_mv_t *args, int *rrc, shmrt_mv_t **res);

/* The head of [id, "call", [ref obj, name, args]] (manager/objects_call.c). */
typedef struct shmrt__mcall_head {
	int64_t id;
	uint64_t obj;
	char name[32];
} shmrt__mcall_head_t;

/*
 * Reads the frame p[0, n) as a call request of the usual shape without decoding its
 * head into a tree (manager/objects_call.c says which shape), and decodes its args
 * (a list) into *args (the caller's) with the limits that decoding the whole frame
 * under max_bytes and the default limits would leave it.
 * Returns: 0, *h and *args: the general decoder gives the same request; 1: not of
 * that shape, or args would not decode (use the general path).
 * Concurrency: any thread.
 */
int shmrt__mcall_read(const uint8_t *p, size_t n, size_t max_bytes, shmrt__mcall_head_t *h,
		      shmrt_mv_t **args);

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

/* A method's argument count and i-th argument. */
#define SHMRT__MARGC(c) shmrt_mv_list_len((c)->args)
#define SHMRT__MARG(c, i) shmrt_mv_list_get((c)->args, (i))

/* Sets c's result to v (consumed). Returns 0, or -ENOMEM if v is NULL. */
SHMRT_MUST_USE int shmrt__mcall_result(shmrt__mcall_t *c, shmrt_mv_t *v);

/* A truth value argument (bool or int; NULL: dflt). Returns 0 and *out, -EINVAL. */
SHMRT_MUST_USE int shmrt__mv_truth(const shmrt_mv_t *v, int dflt, int *out);

/* A type's init for C-state types whose data is nil (init consumed). */
SHMRT_MUST_USE int shmrt__mtype_nil_data(shmrt_mv_t *init, shmrt_mv_t **data);

/* A type's fini that frees o->priv. */
void shmrt__mtype_free_priv(shmrt__mstore_t *st, shmrt__mobj_t *o);

/* ---- the locks, shared by Lock, RLock and Condition (mtype_sync.c) -------------- */

/* A lock's state (o->priv of Lock and RLock; the head of a Condition's). */
typedef struct shmrt__lock {
	uint64_t owner;      /* the holder's session id; 0: free */
	int64_t count;       /* RLock: the holder's recursion depth */
	int owner_died;      /* free because its holder died: the next acquire is told */
	int recursive;
	shmrt__mhold_t hold; /* on the holder's list while held */
} shmrt__lock_t;

/*
 * lo is a Lock or RLock object, or a Condition (whose own RLock's state leads its C
 * state). acquire and release run c's "acquire" [blocking, timeout] and "release" []
 * on lo (c->o may be a Condition over lo): as Lock's methods.
 */
SHMRT_MUST_USE int shmrt__lock_acquire(shmrt__mcall_t *c, shmrt__mobj_t *lo);
SHMRT_MUST_USE int shmrt__lock_release(shmrt__mcall_t *c, shmrt__mobj_t *lo);
/* Whether sess holds lo. */
int shmrt__lock_held_by(const shmrt__mobj_t *lo, const shmrt__msess_t *sess);
/* Releases lo fully for its holder sess (handing it on): the count it had (>= 1). */
int64_t shmrt__lock_release_all(shmrt__mstore_t *st, shmrt__mobj_t *lo, shmrt__msess_t *sess);
/*
 * w (unlinked; w->aux[0] the count to restore, aux[1] its answer: notified) takes lo
 * back: at once if lo is free (answered aux[1], or -EOWNERDEAD), else queued on lo's
 * FIFO with the acquirers, no deadline, answered when handed lo.
 */
void shmrt__lock_reacquire(shmrt__mstore_t *st, shmrt__mobj_t *lo, shmrt__mwait_t *w);
/* For a type whose C state starts with a shmrt__lock_t: sess_end (hands on the lock
 * if sess holds it, -EOWNERDEAD to the next holder) and fini (unlinks its hold). */
void shmrt__lock_sess_end(shmrt__mstore_t *st, shmrt__mobj_t *o, shmrt__msess_t *sess);
void shmrt__lock_fini(shmrt__mstore_t *st, shmrt__mobj_t *o);

/* (shmrt__mv_hashable, in mvalue_int.h, says whether v may be a map key.) */

/* Python's a < b for the orderable pairs (numbers with numbers, str with str, bytes
 * with bytes): 0 and *lt, or -EINVAL (unorderable: Python's TypeError). */
SHMRT_MUST_USE int shmrt__mv_less(const shmrt_mv_t *a, const shmrt_mv_t *b, int *lt);

/* ---- slices (manager/mtype_list.c), shared by list and Array ------------------------ */

/* A slice resolved against a length: the n indices start + i * step, i in [0, n). */
typedef struct shmrt__mslice {
	int64_t start, stop, step, n;
} shmrt__mslice_t;

/* Resolves the slice args[0..2] (start, stop, step: each nil or an int) over len
 * items as Python does. Returns 0 and *s; -EINVAL (a bound of another kind, step 0). */
SHMRT_MUST_USE int shmrt__mslice_parse(const shmrt_mv_t *args, int64_t len,
				       shmrt__mslice_t *s);

/* An item about to be stored in o's data: 0 (possibly changed in place into its
 * stored form), or the call's error (-EINVAL, -ERANGE). */
typedef int (*shmrt__mitem_check_fn)(const shmrt__mobj_t *o, shmrt_mv_t *item);

/* The __getslice__ [start, stop, step] method of a type whose data is a list. */
int shmrt__mlist_getslice(shmrt__mcall_t *c);

/* __setslice__ [start, stop, step, seq] on a list-shaped data: each item of seq
 * checked first (check NULL: none); with fixed_len, or step != 1, seq must be as
 * long as the slice (-EINVAL); else the list grows or shrinks. Returns 0, -EINVAL,
 * check's error, -E2BIG, -ENOMEM; on error the data is unchanged. */
int shmrt__mlist_setslice(shmrt__mcall_t *c, shmrt__mitem_check_fn check, bool fixed_len);

/* ---- the event loop (manager/server.c) and its limits (manager/server_limits.c) ---- */

#define SHMRT__MSRV_LISTENERS 16

/* A connection of the event loop. */
typedef struct shmrt__mconn {
	int fd;
	int authed;
	int want_out;                 /* EPOLLOUT is watched */
	shmrt__auth_t auth;
	shmrt__frame_reader_t r;
	shmrt__frame_writer_t w;
	int doomed;                   /* to close after this batch of events */
	int pending;                  /* frames read ahead wait to be run */
	shmrt__msess_t sess;          /* its references and parked calls */
	struct shmrt__mconn *prev, *next;
	/* The timer list it is on (on_timer): the handshake list while !authed, the
	 * partial-frame list while authed and mid-frame. Each list is in deadline order
	 * (every deadline is its start plus one fixed limit), so only heads are checked. */
	struct shmrt__mconn *tprev, *tnext;
	int on_timer;
	uint64_t deadline;            /* the partial frame's (the handshake's is in auth) */
	size_t acct;                  /* its bytes counted in the server's buffered */
	struct shmrt__tls *tls;       /* its TLS stream (server_tls.c), or NULL */
	int tls_hs;                   /* in the TLS handshake: frames are queued only */
	struct shmrt__shmchan *shm;   /* its shared-memory channel (manager/shmchan.c), or
	                                 NULL: requests and replies on its socket */
} shmrt__mconn_t;

typedef struct shmrt__mconn_list {
	shmrt__mconn_t *head, *tail;
} shmrt__mconn_list_t;

/* The event loop's state. */
typedef struct shmrt__msrv {
	int ep;
	int stop_fd;
	int slot;
	shmrt__listener_t l[SHMRT__MSRV_LISTENERS];
	size_t nl;
	char tmpdir[SHMRT__UNIX_PATH_MAX + 1]; /* "unix:" alone: our private directory */
	shmrt__mconn_t *conns;
	size_t nauth;                 /* connections in the handshake (on hs) */
	size_t nconns;                /* connections, doomed ones included */
	shmrt__mconn_list_t hs;       /* handshaking connections, oldest first */
	shmrt__mconn_list_t pf;       /* authenticated connections mid-frame, oldest first */
	size_t buffered;              /* sum of the connections' acct */
	shmrt__mstore_t st;
	shmrt_mv_buf_t buf;
	shmrt_mv_buf_t dbuf;          /* late replies */
	size_t ndoomed;
	size_t npending;              /* connections marked pending */
	const shmrt_manager_opts_t *o;
	size_t max_frame, max_queued;
	int64_t auth_timeout;
	int spare_fd;                 /* given up to refuse a connection at EMFILE; -1 */
	uint64_t paused_until;        /* listeners paused until then (mono ns); 0 */
	int64_t frame_timeout;
	size_t max_buffered, max_conns, max_handshakes;
	struct shmrt__tls_ctx *tls;   /* TCP listeners speak TLS (server_tls.c); NULL */
	struct shmrt__shmsrv *shm;    /* the shared-memory channels (manager/shmchan.c),
	                                 made at the first; NULL: none yet */
	shmrt__mconn_t *hot;          /* the one plain connection the last wake-ups served
	                                 (server.c: hot_look); NULL */
	unsigned hot_turns;           /* how many wake-ups in a row served it alone */
	unsigned looks;               /* polling looks in hot mode, across wake-ups */
	uint64_t frames;              /* frames read, ever (hot_look's witness) */
} shmrt__msrv_t;

/* The loop's side (server.c). conn_close closes c at once and frees it; doom marks c
 * to be closed after the batch of events (it may have an event in this batch). */
void shmrt__msrv_conn_close(shmrt__msrv_t *s, shmrt__mconn_t *c);
void shmrt__msrv_doom(shmrt__msrv_t *s, shmrt__mconn_t *c);
/* Runs one complete frame of c (a request; the handshake's before it), as read from
 * its socket or its shared-memory channel. Returns 0, or an error that drops c. */
int shmrt__msrv_frame(shmrt__msrv_t *s, shmrt__mconn_t *c, const uint8_t *p, size_t n);

/* The limits' side (server_limits.c). All run on the server's thread. */

/* Sets s's limits from o (0: each one's default), and the store's max_parked. */
void shmrt__msrv_limits_init(shmrt__msrv_t *s, const shmrt_manager_opts_t *o);
/* A new connection c (accepted, not yet authenticated) joins the handshake list. */
void shmrt__msrv_hs_join(shmrt__msrv_t *s, shmrt__mconn_t *c);
/* Takes c out of the handshake count (authenticated, doomed or closed). */
void shmrt__msrv_hs_leave(shmrt__msrv_t *s, shmrt__mconn_t *c);
/* Takes c (authenticated) off the partial-frame list. */
void shmrt__msrv_pf_leave(shmrt__msrv_t *s, shmrt__mconn_t *c);
/* The partial-frame timer of c (authenticated) after a read; done: a frame completed. */
void shmrt__msrv_pf_update(shmrt__msrv_t *s, shmrt__mconn_t *c, int done);
/* Before a newcomer is taken: at a cap, the oldest handshake is doomed to make room.
 * Returns 1 if the newcomer may stay, 0 if it must be refused. */
int shmrt__msrv_admit(shmrt__msrv_t *s);
/* accept on l failed with EMFILE or ENFILE: refuses one waiting connection through
 * the spare descriptor, or pauses the listeners. Returns 1 if one was refused. */
int shmrt__msrv_refuse_one(shmrt__msrv_t *s, shmrt__listener_t *l);
/* Resumes paused listeners once their pause is over (now: mono ns). */
void shmrt__msrv_listeners_resume(shmrt__msrv_t *s, uint64_t now);
/* Opens the spare descriptor: it, or -1. */
int shmrt__msrv_spare_open(void);
/* Raises the process's soft RLIMIT_NOFILE to its hard limit (best effort). */
void shmrt__msrv_fd_limit_raise(void);
/* Drops the connections past their handshake or partial-frame deadline; returns the
 * epoll timeout (ms) until the nearest remaining one, or -1. */
int shmrt__msrv_check_deadlines(shmrt__msrv_t *s);
/* Drops the connections holding the most until s holds at most max_buffered. */
void shmrt__msrv_check_budget(shmrt__msrv_t *s);

/* TLS (server_tls.c). All run on the server's thread. */

/* Makes s's TLS context from its options (none without a certificate). Returns 0,
 * -EINVAL (a certificate without a key or the reverse), or shmrt__tls_server_ctx's
 * errors. */
SHMRT_MUST_USE int shmrt__msrv_tls_init(shmrt__msrv_t *s);
/* The listen policy for l, just bound: a TCP listener not on loopback needs TLS or
 * SHMRT_MANAGER_INSECURE_NO_TLS. Returns 0 or -EPERM (the caller closes l). */
SHMRT_MUST_USE int shmrt__msrv_tls_listen_check(shmrt__msrv_t *s, const shmrt__listener_t *l);
/* A connection c accepted on l: over TCP with TLS on, it gets its stream and starts
 * in the TLS handshake. Returns 0 or -ENOMEM. */
SHMRT_MUST_USE int shmrt__msrv_tls_accept(shmrt__msrv_t *s, shmrt__mconn_t *c,
					  const shmrt__listener_t *l);
/* Before c (with a stream) serves events: drives its TLS handshake and widens events
 * by what the stream waits for. Returns 0 (serve *events), 1 (nothing to serve: the
 * handshake waits), or a negative errno (the handshake failed: close c). */
SHMRT_MUST_USE int shmrt__msrv_tls_event(shmrt__msrv_t *s, shmrt__mconn_t *c,
					 uint32_t *events);
/* Whether c (with a stream) needs EPOLLOUT, its queue holding bytes or not (queued). */
int shmrt__msrv_tls_want_out(const shmrt__mconn_t *c, int queued);
/* Frees s's context. */
void shmrt__msrv_tls_fini(shmrt__msrv_t *s);

/* Re-counts c's buffered bytes: its reader's buffers and its unread replies. */
static inline void shmrt__msrv_account(shmrt__msrv_t *s, shmrt__mconn_t *c)
{
	size_t now = c->r.cap + c->r.a_cap + shmrt__frame_queued(&c->w);
	s->buffered = s->buffered - c->acct + now;
	c->acct = now;
	s->st.nbuffered = s->buffered;
}

#endif /* SHMRT_MANAGER_SERVER_INT_H */
