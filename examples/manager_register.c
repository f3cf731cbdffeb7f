/*
 * A user-registered type (Python's documentation, "Customized managers"), used from
 * two processes, with a method that returns a new managed object:
 *
 *     class MathsClass:
 *         def __init__(self):
 *             self.results = []
 *         def add(self, x, y):
 *             self.results.append(x + y)
 *             return x + y
 *         def mul(self, x, y):
 *             self.results.append(x * y)
 *             return x * y
 *         def history(self):
 *             return self.results
 *
 *     class MyManager(BaseManager):
 *         pass
 *
 *     MyManager.register('Maths', MathsClass, method_to_typeid={'history': 'list'})
 *     MyManager.register('list', list)  # built in here, as in SyncManager
 *
 *     def worker(maths):
 *         print(maths.mul(6, 7))        # prints 42, from the other process
 *
 *     with MyManager() as manager:
 *         maths = manager.Maths()
 *         print(maths.add(4, 3))        # prints 7
 *         print(maths.mul(7, 8))        # prints 56
 *         p = Process(target=worker, args=(maths,)); p.start(); p.join()
 *         history = maths.history()     # a proxy of a new managed list
 *         print(history)                # prints [7, 56, 42]
 *
 * In C the class is a table (shmrt/mtype.h): a name, a constructor making the C
 * state, a destructor, and the methods, which run in the server process. The table
 * is registered through the options of shmrt_manager_start, as MyManager.register
 * does before the manager starts. history creates the new managed list with
 * shmrt_mtype_create (Python's method_to_typeid) and returns its ref; the proxy
 * this process takes of it owns the reference the method made, so releasing the
 * proxy destroys the list.
 */
#include <shmrt.h>

#include "mgr.h"

static const char KEY[] = "manager_register example key";
static shmrt_manager_server_t *manager;
static uint64_t maths_ref; /* what the worker is handed */

/* ---- MathsClass, run by the server ------------------------------------------------ */

typedef struct maths {
	int64_t *results;
	size_t n, cap;
} maths_t;

/* __init__: no argument (a create with an init value is refused) */
static int maths_init(const shmrt_mv_t *init, void **state)
{
	if (init)
		return -EINVAL;
	maths_t *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	*state = m;
	return 0;
}

static void maths_fini(void *state)
{
	maths_t *m = state;
	free(m->results);
	free(m);
}

static size_t maths_len(const void *state)
{
	return ((const maths_t *)state)->n; /* what `shmrt manager ls` shows */
}

/* self.results.append(v); return v */
static int record(maths_t *m, int64_t v, shmrt_mv_t **result)
{
	if (m->n == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 8;
		int64_t *r = realloc(m->results, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		m->results = r;
		m->cap = cap;
	}
	*result = shmrt_mv_int(v);
	if (!*result)
		return -ENOMEM;
	m->results[m->n++] = v;
	return 0;
}

/* The two int arguments x, y, or -EINVAL (Python's TypeError). */
static int xy(const shmrt_mv_t *args, int64_t *x, int64_t *y)
{
	if (shmrt_mv_list_len(args) != 2 || shmrt_mv_as_int(shmrt_mv_list_get(args, 0), x) ||
	    shmrt_mv_as_int(shmrt_mv_list_get(args, 1), y))
		return -EINVAL;
	return 0;
}

static int maths_add(shmrt_mtype_ctx_t *ctx, void *state, shmrt_mv_t *args, shmrt_mv_t **result)
{
	(void)ctx;
	int64_t x, y;
	int rc = xy(args, &x, &y);
	return rc ? rc : record(state, x + y, result);
}

static int maths_mul(shmrt_mtype_ctx_t *ctx, void *state, shmrt_mv_t *args, shmrt_mv_t **result)
{
	(void)ctx;
	int64_t x, y;
	int rc = xy(args, &x, &y);
	return rc ? rc : record(state, x * y, result);
}

/* history: a new managed list of the results (method_to_typeid={'history': 'list'}) */
static int maths_history(shmrt_mtype_ctx_t *ctx, void *state, shmrt_mv_t *args,
			 shmrt_mv_t **result)
{
	(void)args;
	const maths_t *m = state;
	shmrt_mv_t *l = shmrt_mv_list_cap(m->n);
	if (!l)
		return -ENOMEM;
	for (size_t i = 0; i < m->n; i++)
		if (shmrt_mv_list_append(l, shmrt_mv_int(m->results[i]))) {
			shmrt_mv_free(l);
			return -ENOMEM;
		}
	return shmrt_mtype_create(ctx, "list", l, result); /* consumes l */
}

static const shmrt_mtype_method_t maths_methods[] = {
	{ "add", maths_add },
	{ "mul", maths_mul },
	{ "history", maths_history },
};

static const shmrt_mtype_t maths_class = {
	.name = "Maths",
	.init = maths_init,
	.fini = maths_fini,
	.methods = maths_methods,
	.nmethods = sizeof(maths_methods) / sizeof(maths_methods[0]),
	.len = maths_len,
};

/* MyManager.register('Maths', MathsClass, ...) */
static const shmrt_mtype_t *const my_types[] = { &maths_class };

/* ---- the program ---------------------------------------------------------------------- */

/* worker(maths): print(maths.mul(6, 7)), in another process */
static int worker(void *arg)
{
	(void)arg;
	shmrt_manager_conn_t *conn;
	shmrt_proxy_t *maths;
	shmrt_mv_t *r;
	if (manager_join(manager, KEY, &conn, 1, &maths_ref, &maths))
		return 1;
	int rc = shmrt_proxy_call2(maths, "mul", shmrt_mv_int(6), shmrt_mv_int(7), &r);
	if (rc == 0) {
		rc = shmrt_mv_repr_file(r, stdout);
		putchar('\n');
		shmrt_mv_free(r);
	}
	shmrt_manager_close(conn);
	return rc != 0;
}

int main(void)
{
	shmrt_manager_opts_t opts;
	memset(&opts, 0, sizeof(opts));
	opts.types = my_types;
	opts.ntypes = 1;
	shmrt_manager_conn_t *conn = manager_begin(KEY, &opts, &manager); /* MyManager() */

	shmrt_proxy_t *maths;
	shmrt_mv_t *r;
	check(shmrt_manager_create(conn, "Maths", NULL, &maths), "manager.Maths()");
	check(shmrt_proxy_call2(maths, "add", shmrt_mv_int(4), shmrt_mv_int(3), &r), "maths.add");
	print_value("", r);
	check(shmrt_proxy_call2(maths, "mul", shmrt_mv_int(7), shmrt_mv_int(8), &r), "maths.mul");
	print_value("", r);

	maths_ref = shmrt_proxy_ref(maths);
	shmrt_worker_t p;
	workers_run(1, worker, NULL, &p);

	/* history = maths.history(): the result is the new list's ref; the proxy takes
	 * over the reference the method made for this connection */
	uint64_t history_ref;
	shmrt_proxy_t *history;
	check(shmrt_proxy_call0(maths, "history", &r), "maths.history");
	check(shmrt_mv_as_ref(r, &history_ref), "history");
	shmrt_mv_free(r);
	check(shmrt_manager_proxy(conn, history_ref, &history), "history proxy");
	check(shmrt_proxy_call0(history, "copy", &r), "print(history)");
	print_value("", r);

	shmrt_proxy_release(history); /* the list is destroyed */
	shmrt_proxy_release(maths);   /* maths_fini runs in the server */
	manager_end(conn, manager);
	return workers_failed(1, &p);
}
