/*
 * A Manager's Namespace changed by five workers:
 *
 *     def worker(ns):
 *         ns.x += 1
 *         ns.items.append(ns.x)
 *     with Manager() as manager:
 *         ns = manager.Namespace()
 *         ns.x = 0
 *         ns.items = manager.list()
 *         ... five Process(target=worker, args=(ns,)), start, join ...
 *         print(f"x = {ns.x}")
 *         print(f"items = {list(ns.items)}")
 *
 * In Python `ns.x += 1` is two calls to the server, a read (__getattr__) and a write
 * (__setattr__): two workers that read the same x both write x + 1, and an increment
 * is lost, so Python may print x = 4 or less (and items with repeated values, since
 * each worker reads ns.x again for its append). Here each worker makes the increment
 * one call, the Namespace's incr, which the server runs as one step (it runs one
 * request at a time): no increment is lost, x = 5 on every run, and each worker
 * appends the value its own increment made, so items holds 1 to 5, once each. They
 * arrive in the order the workers ran, so the list is sorted before it is printed.
 *
 * ns.items holds a reference to the list, not a copy (a list stored in a Namespace
 * stays live): a worker reads the reference and takes a proxy of it.
 */
#include <shmrt.h>

#include "mgr.h"

#define N 5

static const char KEY[] = "manager_namespace example key";
static shmrt_manager_server_t *manager;
static uint64_t ns_ref;

/* worker(ns) */
static int worker(void *arg)
{
	(void)arg;
	shmrt_manager_conn_t *conn;
	shmrt_proxy_t *ns, *items;
	shmrt_mv_t *x = NULL, *ref = NULL;
	uint64_t items_ref;
	if (manager_join(manager, KEY, &conn, 1, &ns_ref, &ns))
		return 1;
	/* ns.x += 1, as one step on the server: x is the new value */
	int rc = shmrt_proxy_call2(ns, "incr", shmrt_mv_str("x"), shmrt_mv_int(1), &x);
	/* ns.items: a reference to the list, borrowed; the proxy takes our own */
	rc = rc ? rc : shmrt_proxy_call1(ns, "__getattr__", shmrt_mv_str("items"), &ref);
	rc = rc ? rc : shmrt_mv_as_ref(ref, &items_ref);
	rc = rc ? rc : shmrt_manager_proxy(conn, items_ref, &items);
	rc = rc ? rc : shmrt_proxy_call1(items, "append", x, NULL); /* consumes x */
	if (rc)
		shmrt_mv_free(x);
	shmrt_mv_free(ref);
	shmrt_manager_close(conn);
	return rc != 0;
}

int main(void)
{
	shmrt_manager_conn_t *conn = manager_begin(KEY, NULL, &manager);
	shmrt_proxy_t *ns, *items;
	check(shmrt_manager_create(conn, "Namespace", NULL, &ns), "manager.Namespace()");
	check(shmrt_proxy_call2(ns, "__setattr__", shmrt_mv_str("x"), shmrt_mv_int(0), NULL),
	      "ns.x = 0");
	check(shmrt_manager_create(conn, "list", NULL, &items), "manager.list()");
	check(shmrt_proxy_call2(ns, "__setattr__", shmrt_mv_str("items"),
				shmrt_mv_ref(shmrt_proxy_ref(items)), NULL),
	      "ns.items = manager.list()");
	ns_ref = shmrt_proxy_ref(ns);

	shmrt_worker_t ps[N];
	workers_run(N, worker, NULL, ps);

	shmrt_mv_t *x, *l;
	check(shmrt_proxy_call1(ns, "__getattr__", shmrt_mv_str("x"), &x), "ns.x");
	print_value("x = ", x);
	check(shmrt_proxy_call0(items, "sort", NULL), "sort");
	check(shmrt_proxy_call0(items, "copy", &l), "list(ns.items)");
	print_value("items = ", l);

	shmrt_proxy_release(items);
	shmrt_proxy_release(ns);
	manager_end(conn, manager);
	return workers_failed(N, ps);
}
