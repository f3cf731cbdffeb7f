/*
 * shmrt manager: user-registered types (library shmrt_manager; included by
 * shmrt/manager.h), what Python's BaseManager.register(typeid, callable) does, in C.
 *
 * A type is a C table: a name, a constructor that turns a create's init value into
 * an opaque C state, a destructor, and methods {name, fn}. The program passes its
 * tables to the server in shmrt_manager_opts_t (types, ntypes) before the server
 * starts; clients then create objects of the type by name (shmrt_manager_create
 * (conn, "Maths", NULL, &p)) and call its methods through proxies, from any process,
 * exactly as they do the built-in types.
 *
 *     static int maths_add(shmrt_mtype_ctx_t *ctx, void *state, shmrt_mv_t *args,
 *                          shmrt_mv_t **result) { ... *result = shmrt_mv_int(x + y); }
 *     static const shmrt_mtype_method_t maths_methods[] = {
 *             { "add", maths_add }, { "mul", maths_mul } };
 *     static const shmrt_mtype_t maths = { .name = "Maths", .methods = maths_methods,
 *                                          .nmethods = 2 };
 *     static const shmrt_mtype_t *const types[] = { &maths };
 *     shmrt_manager_opts_t o = { .types = types, .ntypes = 1 };
 *     shmrt_manager_start("unix:", key, keylen, &o, &srv);
 *
 * Where the code runs. Constructors, destructors and methods run in the SERVER, in
 * its one thread, one at a time: a method must not block (no sleeping, no waiting on
 * a lock, a pipe or another process), or every client waits; when it cannot proceed
 * it returns an error such as -EAGAIN and the client retries. The table, its names
 * and every function it points to must stay valid and unchanged while the server
 * runs; shmrt_manager_start forks, so a table in the program's memory stays valid
 * in the server process, and the state lives in the server process's memory, never
 * in the caller's.
 *
 * The state is opaque C: the server never looks into it, copies it or sends it. It
 * must hold no references to managed objects (a ref value kept in it would not keep
 * its object alive, and may name a destroyed one later): a method that needs another
 * object creates it and returns it (shmrt_mtype_create) or receives its ref in args.
 *
 * Lifetime. The constructor runs once per create; the destructor runs exactly once
 * for every object whose constructor succeeded: when its last reference is dropped
 * (every proxy released, every container that held it changed, every connection that
 * held one ended) or when the server ends (shmrt_manager_stop, shmrt_manager_shutdown;
 * a server killed with SIGKILL runs nothing).
 *
 * Names. A type's name is 1 to SHMRT_MTYPE_NAME_MAX bytes of valid UTF-8 without
 * ASCII control characters and must
 * not be a built-in type's ("dict", "list", "Namespace", "Lock", ...) nor one of the
 * other names of Python's SyncManager reserved for the built-in types to come
 * ("Condition", "Barrier", "Value", "Array", "Pool", "AsyncResult", "Iterator"); each
 * is registered once. Method names follow the same rule of length and encoding and
 * are distinct within their type.
 *
 * `shmrt manager ls` lists a user object with its type name, "len" from the type's
 * len callback (0 without one) and "bytes" 0 (the state is not a value).
 */
#ifndef SHMRT_MTYPE_H
#define SHMRT_MTYPE_H

#include <stddef.h>
#include "common.h"
#include "mvalue.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SHMRT_MTYPE_MAX 64          /* types one server registers */
#define SHMRT_MTYPE_METHODS_MAX 256 /* methods of one type */
#define SHMRT_MTYPE_NAME_MAX 64     /* bytes of a type's or a method's name */

/* The context of one method call: valid only while the method runs. */
typedef struct shmrt_mtype_ctx shmrt_mtype_ctx_t;

/*
 * A method: runs on the object whose state is state, with args, the call's argument
 * list (a list value, possibly empty, whose refs name live objects). args belongs to
 * the server: the method reads it and may take items out of it (shmrt_mv_list_pop),
 * which are then its own. The method returns 0 or a negative errno, which the client
 * gets unchanged as the call's result code (a return that is no errno, positive or
 * below -4095, is a bug and reaches the client as -EINVAL). On 0 it may set *result (NULL on entry) to a value it owns
 * (built, or taken out of args), which the server takes over and sends as the result;
 * left NULL it is None. On an error a value set in *result is freed and not sent.
 * The server checks the result: a value that belongs to a container (a borrowed item
 * of args) is refused (-EINVAL, not freed), a ref in it that names no live object
 * fails the call (-ENOENT, -ESTALE), as does a tree deeper than SHMRT_MV_DEPTH_MAX
 * (-ELOOP). A ref in a result is borrowed, as in every result, except those of
 * objects the method created (shmrt_mtype_create).
 * Concurrency: the server's thread; it must not block. Ordering: the server runs one
 * call at a time, so its effects are seen by every call that starts after it.
 */
typedef int (*shmrt_mtype_fn)(shmrt_mtype_ctx_t *ctx, void *state, shmrt_mv_t *args,
			      shmrt_mv_t **result);

typedef struct shmrt_mtype_method {
	const char *name;
	shmrt_mtype_fn fn;
} shmrt_mtype_method_t;

typedef struct shmrt_mtype {
	const char *name;
	/* The constructor: builds the state of a new object from the create's init (NULL
	 * for none or nil; read only: its refs are neither kept nor counted) into *state.
	 * Returns 0 or a negative errno, which the creating client gets unchanged (the
	 * object is not made; no errno: -EINVAL). NULL: the state is NULL and a create with an init other
	 * than nil is -EINVAL. */
	int (*init)(const shmrt_mv_t *init, void **state);
	/* The destructor, exactly once per constructed object (see above). NULL: none. */
	void (*fini)(void *state);
	const shmrt_mtype_method_t *methods;
	size_t nmethods;
	/* What `shmrt manager ls` shows as the object's len (Python's len()). NULL: 0.
	 * It must only read the state. */
	size_t (*len)(const void *state);
} shmrt_mtype_t;

/*
 * From a method: creates a new managed object of type type_name (a built-in one, as
 * "list" or "dict", or a registered one) from init (CONSUMED, even on failure; NULL:
 * none), as shmrt_manager_create does for a client, and gives *ref a new ref value
 * naming it, owned by the method, to put into its result: Python's method_to_typeid.
 * The calling connection gets one reference to the object, exactly as a create
 * would give it: the client's first shmrt_manager_proxy of that ref on the same
 * connection CLAIMS that reference instead of adding another, so the proxy's release
 * destroys the object; a client that never takes the proxy keeps the reference until
 * it releases it or its connection ends (then it is dropped: nothing leaks beyond
 * the connection). An object the method created but did not return in its result, or
 * every object it created when the method fails, is released at once when the
 * method returns (destroyed, unless a container took a ref to it).
 * Returns 0 and *ref; -EINVAL (ctx, type_name or ref NULL, init of the wrong kind);
 * -ENOENT (no such type); -ENOSPC (the server's ids are spent); -ENOMEM; the
 * constructor's error of a registered type; -ESTALE, -ENOENT (a ref in init that
 * names no live object).
 * Concurrency: inside a method, with its ctx. Ordering: the object exists for every
 * call that starts after the method returns.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_mtype_create(shmrt_mtype_ctx_t *ctx, const char *type_name,
						shmrt_mv_t *init, shmrt_mv_t **ref);

/* The id of the object the method runs on (shmrt_mv_ref(id) names it: a result
 * holding it is borrowed, as any ref). Concurrency: inside a method. */
SHMRT_API uint64_t shmrt_mtype_self(const shmrt_mtype_ctx_t *ctx);

#ifdef __cplusplus
}
#endif
#endif /* SHMRT_MTYPE_H */
