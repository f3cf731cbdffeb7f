/*
 * A Manager's dict written by four workers:
 *
 *     def worker(shared_dict, key, value):
 *         shared_dict[key] = value
 *     with Manager() as manager:
 *         shared_dict = manager.dict()
 *         processes = [Process(target=worker, args=(shared_dict, i, i * i)) for i in range(4)]
 *         ... start, join ...
 *         print(dict(shared_dict))   # {0: 0, 1: 1, 2: 4, 3: 9}
 *
 * The dict's order is the order the workers happened to run in (in Python too); this
 * program takes the keys in the order of i, as the comment shows them, so that every
 * run prints the same line.
 */
#include <shmrt.h>

#include "mgr.h"

#define N 4

static const char KEY[] = "manager_dict_squares example key";
static shmrt_manager_server_t *manager;
static uint64_t dict_ref;

/* worker(shared_dict, i, i * i) */
static int worker(void *arg)
{
	int i = *(int *)arg;
	shmrt_manager_conn_t *conn;
	shmrt_proxy_t *d;
	if (manager_join(manager, KEY, &conn, 1, &dict_ref, &d))
		return 1;
	int rc = shmrt_proxy_call2(d, "__setitem__", shmrt_mv_int(i), shmrt_mv_int(i * i), NULL);
	shmrt_manager_close(conn);
	return rc != 0;
}

int main(void)
{
	shmrt_manager_conn_t *conn = manager_begin(KEY, NULL, &manager);
	shmrt_proxy_t *d;
	check(shmrt_manager_create(conn, "dict", NULL, &d), "manager.dict()");
	dict_ref = shmrt_proxy_ref(d);

	int idx[N];
	void *args[N];
	for (int i = 0; i < N; i++) {
		idx[i] = i;
		args[i] = &idx[i];
	}
	shmrt_worker_t ps[N];
	workers_run(N, worker, args, ps);

	/* dict(shared_dict), its keys taken in the order of i */
	shmrt_mv_t *out = shmrt_mv_map();
	for (int i = 0; i < N; i++) {
		shmrt_mv_t *v;
		check(shmrt_proxy_call1(d, "__getitem__", shmrt_mv_int(i), &v), "shared_dict[i]");
		check(shmrt_mv_map_set(out, shmrt_mv_int(i), v), "dict");
	}
	print_value("", out);

	shmrt_proxy_release(d);
	manager_end(conn, manager);
	return workers_failed(N, ps);
}
