/*
 * A Manager's list filled by five workers:
 *
 *     def worker(shared_list, item):
 *         shared_list.append(item)
 *     with Manager() as manager:
 *         shared_list = manager.list()
 *         processes = [Process(target=worker, args=(shared_list, i)) for i in range(5)]
 *         ... start, join ...
 *         print(list(shared_list))  # [0, 1, 2, 3, 4] (order may vary)
 *
 * The appends arrive in whatever order the workers run, in Python too; this program
 * sorts the list on the server (shared_list.sort()) before printing it, so that it
 * prints [0, 1, 2, 3, 4] on every run.
 */
#include <shmrt.h>

#include "mgr.h"

#define N 5

static const char KEY[] = "manager_list_workers example key";
static shmrt_manager_server_t *manager;
static uint64_t list_ref; /* what the workers are handed: the list's id */

/* worker(shared_list, item): each worker connects on its own (a connection is not
 * shared across fork) and takes a proxy of the list it was handed. */
static int worker(void *arg)
{
	int item = *(int *)arg;
	shmrt_manager_conn_t *conn;
	shmrt_proxy_t *l;
	if (manager_join(manager, KEY, &conn, 1, &list_ref, &l))
		return 1;
	int rc = shmrt_proxy_call1(l, "append", shmrt_mv_int(item), NULL);
	shmrt_manager_close(conn);
	return rc != 0;
}

int main(void)
{
	shmrt_manager_conn_t *conn = manager_begin(KEY, NULL, &manager);
	shmrt_proxy_t *l;
	check(shmrt_manager_create(conn, "list", NULL, &l), "manager.list()");
	list_ref = shmrt_proxy_ref(l);

	int items[N];
	void *args[N];
	for (int i = 0; i < N; i++) {
		items[i] = i;
		args[i] = &items[i];
	}
	shmrt_worker_t ps[N];
	workers_run(N, worker, args, ps);

	shmrt_mv_t *v;
	check(shmrt_proxy_call0(l, "sort", NULL), "sort");
	check(shmrt_proxy_call0(l, "copy", &v), "list(shared_list)");
	print_value("", v);

	shmrt_proxy_release(l);
	manager_end(conn, manager);
	return workers_failed(N, ps);
}
