/*
 * Python's Condition.wait_for on a manager Condition (shmrt_proxy_wait_for,
 * shmrt/manager.h).
 *
 * The predicate is code of the caller's, so it runs in the client, as Python's
 * proxy runs it: evaluated once with the lock held; while false, one `wait` (the
 * server releases the lock fully, parks the call, and takes the lock back before
 * it answers) and another evaluation, until it is true or the deadline passes. Each
 * wait is given what is left of the caller's timeout, so a run of spurious or
 * foreign notifies cannot stretch it. The predicate is evaluated a last time after
 * the final wait, as Python's, so a condition that became true just at the deadline
 * is reported true.
 *
 * Concurrency: the connection's thread (as every call of a connection).
 */
#define _GNU_SOURCE
#include "manager/client_int.h"

#include "base/clock.h"

#include <errno.h>

int shmrt_proxy_wait_for(shmrt_proxy_t *cond, int (*pred)(void *arg), void *arg,
			 shmrt_ns_t timeout)
{
	if (!cond || !pred)
		return -EINVAL;
	uint64_t deadline = timeout >= 0 ? mono_ns() + (uint64_t)timeout : 0;
	int r = pred(arg);
	while (r == 0) {
		shmrt_mv_t *args = NULL;
		if (timeout >= 0) {
			uint64_t now = mono_ns();
			if (now >= deadline)
				break;
			args = shmrt_mv_list_cap(1);
			if (!args || shmrt_mv_list_append(args, shmrt_mv_int((int64_t)(deadline - now)))) {
				shmrt_mv_free(args);
				return -ENOMEM;
			}
		}
		/* The server bounds the wait by its argument; the client waits for its
		 * answer, which carries the lock back. */
		int rc = shmrt_proxy_call(cond, "wait", args, SHMRT_FOREVER, NULL);
		if (rc)
			return rc;
		r = pred(arg);
	}
	return r;
}
