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

typedef struct shmrt__mobj {
	uint64_t id;
	const struct shmrt__mtype *type;
	uint64_t refs;
	shmrt_mv_t *data;
	struct shmrt__mobj *next_dead;
	int on_dead;    /* on the dead list (a later incref may have revived it) */
} shmrt__mobj_t;

/* One method call: args is the request's argument list, the method's to take items
 * from (shmrt_mv_list_pop); res is its result (NULL: nil). */
typedef struct shmrt__mcall {
	struct shmrt__mstore *st;
	shmrt__mobj_t *o;
	shmrt_mv_t *args;
	shmrt_mv_t *res;
} shmrt__mcall_t;

/* A method: 0 or a negative errno (the reply's rc). */
typedef int (*shmrt__mmethod_fn)(shmrt__mcall_t *c);

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
} shmrt__mtype_t;

extern const shmrt__mtype_t shmrt__mtype_dict;
extern const shmrt__mtype_t shmrt__mtype_list;
extern const shmrt__mtype_t shmrt__mtype_namespace;

typedef struct shmrt__mstore {
	shmrt__idmap_t objs;   /* id -> shmrt__mobj_t * */
	uint64_t epoch;        /* 1..65535, the ids' high 16 bits */
	uint64_t next;         /* the next id's low 48 bits */
	shmrt__mobj_t *dead;   /* objects at zero references, to destroy */
	size_t nsessions;
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
SHMRT_MUST_USE int shmrt__mstore_request(shmrt__mstore_t *st, shmrt__idmap_t *sess,
					 shmrt_mv_t *req, shmrt_mv_t **reply);

/* Drops every reference the session holds and frees *sess (the session ended). */
void shmrt__mstore_session_end(shmrt__mstore_t *st, shmrt__idmap_t *sess);

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
