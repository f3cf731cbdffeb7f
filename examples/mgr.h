/* What the Manager examples share: Manager() (a server process and this process's
 * connection to it), a worker's own connection and proxies of the objects it was
 * handed, print() of a value, and leaving the `with` block. Failures in main stop
 * the program (check, in pyfmt.h); a worker returns non-zero instead. */
#ifndef SHMRT_EXAMPLES_MGR_H
#define SHMRT_EXAMPLES_MGR_H

#include "pyfmt.h"

/* Manager(): starts a server process with opts (NULL: defaults) on a socket in a
 * private directory, authenticated by key, and connects this process to it. */
static inline shmrt_manager_conn_t *manager_begin(const char *key,
						  const shmrt_manager_opts_t *opts,
						  shmrt_manager_server_t **srv)
{
	shmrt_manager_conn_t *conn;
	check(shmrt_manager_start("unix:", key, strlen(key), opts, srv), "Manager");
	check(shmrt_manager_connect(shmrt_manager_address(*srv), key, strlen(key),
				    SHMRT_FOREVER, &conn), "connect");
	return conn;
}

/* In a worker: connects on its own (a connection is not shared across fork) and
 * takes a proxy of each of the n objects it was handed (their ids, refs[i]) into
 * proxies[i]. Returns 0, or the error (nothing is left open). */
static inline int manager_join(shmrt_manager_server_t *srv, const char *key,
			       shmrt_manager_conn_t **conn, size_t n, const uint64_t *refs,
			       shmrt_proxy_t **proxies)
{
	int rc = shmrt_manager_connect(shmrt_manager_address(srv), key, strlen(key),
				       SHMRT_FOREVER, conn);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = shmrt_manager_proxy(*conn, refs[i], &proxies[i]);
	if (rc && *conn) {
		shmrt_manager_close(*conn); /* the server drops the proxies taken */
		*conn = NULL;
	}
	return rc;
}

/* Leaving the `with` block: closes conn (its proxies released, or not used again)
 * and stops the server. */
static inline void manager_end(shmrt_manager_conn_t *conn, shmrt_manager_server_t *srv)
{
	shmrt_manager_close(conn);
	check(shmrt_manager_shutdown(srv), "shutdown");
}

/* print(v): v's repr and a newline (after prefix, which may be ""); frees v. */
static inline void print_value(const char *prefix, shmrt_mv_t *v)
{
	fputs(prefix, stdout);
	check(shmrt_mv_repr_file(v, stdout), "print");
	putchar('\n');
	shmrt_mv_free(v);
}

/* Starts n workers, worker i running fn(args ? args[i] : NULL), and joins them all
 * (p.start() ... p.join() for each). */
static inline void workers_run(unsigned n, shmrt_worker_fn fn, void **args, shmrt_worker_t *ws)
{
	check(shmrt_workers_start(n, fn, args, ws), "start");
	check(shmrt_workers_join(n, ws, SHMRT_FOREVER), "join");
}

#endif
