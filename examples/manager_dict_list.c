/*
 * A Manager's dict and list, changed by another process (Python's documentation,
 * "Server process"):
 *
 *     def f(d, l):
 *         d[1] = '1'; d['2'] = 2; d[0.25] = None; l.reverse()
 *     with Manager() as manager:
 *         d = manager.dict(); l = manager.list(range(10))
 *         p = Process(target=f, args=(d, l)); p.start(); p.join()
 *         print(d); print(l)
 *
 * prints {1: '1', '2': 2, 0.25: None} and [9, 8, 7, 6, 5, 4, 3, 2, 1, 0] (dicts keep
 * their insertion order since Python 3.7; the documentation still shows the older
 * {0.25: None, 1: '1', '2': 2}).
 */
#include <shmrt.h>

#include "mgr.h"

static const char KEY[] = "manager_dict_list example key";
static shmrt_manager_server_t *manager;
static uint64_t d_ref, l_ref; /* what the worker is handed: the objects' ids */

/* f(d, l): a worker connects on its own (a connection is not shared across fork) and
 * takes proxies of the objects it was handed. */
static int f(void *arg)
{
	(void)arg;
	shmrt_manager_conn_t *conn;
	shmrt_proxy_t *p[2];
	const uint64_t refs[2] = { d_ref, l_ref };
	if (manager_join(manager, KEY, &conn, 2, refs, p))
		return 1;
	shmrt_proxy_t *d = p[0], *l = p[1];
	int rc = shmrt_proxy_call2(d, "__setitem__", shmrt_mv_int(1), shmrt_mv_str("1"), NULL);
	rc = rc ? rc : shmrt_proxy_call2(d, "__setitem__", shmrt_mv_str("2"), shmrt_mv_int(2), NULL);
	rc = rc ? rc : shmrt_proxy_call2(d, "__setitem__", shmrt_mv_float(0.25), shmrt_mv_nil(), NULL);
	rc = rc ? rc : shmrt_proxy_call0(l, "reverse", NULL);
	shmrt_manager_close(conn); /* the server drops this process's references */
	return rc != 0;
}

/* print(proxy): Python prints the repr of the referent's value. */
static void print(shmrt_proxy_t *p)
{
	shmrt_mv_t *v;
	check(shmrt_proxy_call0(p, "copy", &v), "copy");
	print_value("", v);
}

int main(void)
{
	/* Manager(): a server process of our own, on a socket in a private directory */
	shmrt_manager_conn_t *conn = manager_begin(KEY, NULL, &manager);

	shmrt_proxy_t *d, *l;
	check(shmrt_manager_create(conn, "dict", NULL, &d), "manager.dict()");
	shmrt_mv_t *range = shmrt_mv_list();
	for (int i = 0; i < 10; i++)
		check(shmrt_mv_list_append(range, shmrt_mv_int(i)), "range(10)");
	check(shmrt_manager_create(conn, "list", range, &l), "manager.list(range(10))");
	d_ref = shmrt_proxy_ref(d);
	l_ref = shmrt_proxy_ref(l);

	shmrt_worker_t p;
	check(shmrt_worker_start(f, NULL, &p), "start");
	check(shmrt_worker_join(&p, SHMRT_FOREVER, NULL), "join");
	print(d);
	print(l);

	shmrt_proxy_release(d);
	shmrt_proxy_release(l);
	manager_end(conn, manager); /* leaving the with block */
	return workers_failed(1, &p);
}
