/*
 * The manager client's pipelined calls (shmrt_proxy_call_batch, shmrt/manager.h).
 *
 * A batch gives its n calls the request ids id0..id0+n-1, queues them all in the
 * connection's writer (flushing whenever the queue is full, so that one write
 * usually carries them all) and reads replies until each call has its own, matched
 * by id: the server answers in request order, except for calls it parks, so a
 * parked call's reply may come after those behind it. A reply with an id outside
 * the batch belongs to an earlier call that was given up, and is discarded.
 *
 * Stale proxies (of an earlier socket of the connection, client.c) get -ESTALE and
 * are not sent. At the deadline the calls still without a reply are cancelled in
 * one request ("cancel [ids]"): replies that come before the cancel's are their
 * calls' results, the calls without one by then were dropped by the server
 * unanswered (-ETIMEDOUT: nothing happened). Calls that never left the writer
 * because the socket stayed full are -ETIMEDOUT too, and the server never sees them.
 *
 * Concurrency: the connection's thread.
 */
#define _GNU_SOURCE
#include "manager/client_int.h"

#include "base/clock.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>

/* Sets the rc of reqs[i..n) still waiting (rc 1) to err. */
static void batch_fail(shmrt_proxy_req_t *reqs, size_t n, int err)
{
	for (size_t i = 0; i < n; i++)
		if (reqs[i].rc == 1)
			reqs[i].rc = err;
}

/* Queues the requests of reqs still waiting (rc 1; their args consumed) in c's
 * writer, flushing (and waiting for the socket) whenever the queue is full; *nput
 * says how many of reqs went into the queue (the server runs those). Returns 0 or an
 * error. */
static int batch_send(shmrt_manager_conn_t *c, shmrt_proxy_req_t *reqs, size_t n, int64_t id0,
		      uint64_t deadline, size_t *nput)
{
	int rc = 0;
	*nput = 0;
	for (size_t i = 0; i < n; i++) {
		shmrt_mv_t *args = reqs[i].args;
		uint8_t h[CALL_HEAD_MAX];
		size_t hn;
		reqs[i].args = NULL;
		if (rc || reqs[i].rc != 1) {
			shmrt_mv_free(args);
			continue;
		}
		rc = shmrt__client_encode_call(c, id0 + (int64_t)i, reqs[i].proxy, reqs[i].method,
					       args, h, &hn);
		while (!rc &&
		       (rc = shmrt__frame_put2(&c->w, h, hn, c->buf.data, c->buf.len)) == -ENOBUFS) {
			if (c->shm) { /* shm channel (client_shm.c) */
				rc = shmrt__client_shm_flush(c, deadline);
				continue;
			}
			rc = shmrt__frame_flush(&c->w, c->fd);
			if (rc == -EAGAIN)
				rc = shmrt__wait_fd(c->fd, POLLOUT, deadline);
		}
		if (!rc)
			*nput = i + 1;
	}
	if (c->shm) /* shm channel (client_shm.c) */
		return rc ? rc : shmrt__client_shm_flush(c, deadline);
	while (rc == 0 && (rc = shmrt__frame_flush(&c->w, c->fd)) == -EAGAIN)
		rc = shmrt__wait_fd(c->fd, POLLOUT, deadline);
	return rc;
}

/* At the batch's deadline: cancels its calls [0, nput) without a reply (cancel_send).
 * Returns as cancel_send. */
static int batch_cancel(shmrt_manager_conn_t *c, shmrt_proxy_req_t *reqs, size_t nput,
			int64_t id0, int64_t *cid, uint64_t *deadline)
{
	c->shm_after = 0; /* replies may come late, even if the cancel cannot go */
	size_t k = 0;
	for (size_t i = 0; i < nput; i++)
		k += reqs[i].rc == 1;
	int64_t *ids = malloc((k ? k : 1) * sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	k = 0;
	for (size_t i = 0; i < nput; i++)
		if (reqs[i].rc == 1)
			ids[k++] = id0 + (int64_t)i;
	int rc = shmrt__client_cancel_send(c, ids, k, cid, deadline);
	free(ids);
	return rc;
}

/*
 * Pipelined calls (see shmrt/manager.h). Returns: 0; -EINVAL; -ENOTCONN; the errors
 * of call. Concurrency: the connection's thread.
 */
int shmrt_proxy_call_batch(shmrt_manager_conn_t *conn, shmrt_proxy_req_t *reqs, size_t n,
			   shmrt_ns_t timeout)
{
	int bad = !conn || (n && !reqs);
	for (size_t i = 0; !bad && i < n; i++) {
		bad = !reqs[i].proxy || reqs[i].proxy->conn != conn || !reqs[i].method ||
		      (reqs[i].args && shmrt_mv_kind(reqs[i].args) != SHMRT_MV_LIST);
	}
	size_t left = 0;
	for (size_t i = 0; reqs && i < n; i++) {
		reqs[i].result = NULL;
		reqs[i].rc = 1; /* waiting */
		if (bad || conn->fd < 0 || reqs[i].proxy->gen != conn->gen) {
			shmrt_mv_free(reqs[i].args);
			reqs[i].args = NULL;
			reqs[i].rc = bad ? -EINVAL : conn->fd < 0 ? -ENOTCONN : -ESTALE;
		}
		left += reqs[i].rc == 1;
	}
	if (bad)
		return -EINVAL;
	if (conn->fd < 0)
		return -ENOTCONN;
	if (!left)
		return 0; /* nothing to send (each stale call has its -ESTALE) */
	uint64_t deadline = shmrt__deadline(timeout);
	int rc = shmrt__client_shm_count(conn, left, deadline); /* a busy connection's channel */
	if (rc) {
		for (size_t i = 0; i < n; i++) {
			if (reqs[i].rc == 1) {
				shmrt_mv_free(reqs[i].args);
				reqs[i].args = NULL;
			}
		}
		batch_fail(reqs, n, rc);
		return rc;
	}
	int64_t id0 = conn->next_id;
	conn->next_id += (int64_t)n;
	size_t nput;
	rc = batch_send(conn, reqs, n, id0, deadline, &nput);
	if (rc && rc != -ETIMEDOUT) {
		/* Some requests may have gone: their replies are late ones for the next
		 * call. A queue holding part of a frame is sent before the next request. */
		conn->shm_after = 0; /* the channel's request needs a quiet socket */
		batch_fail(reqs, n, rc);
		return rc == -EMSGSIZE ? rc : shmrt__client_fail(conn, rc);
	}
	int unsent = 0;
	for (size_t i = nput; i < n; i++) /* never queued: the server never sees them */
		if (reqs[i].rc == 1) {
			reqs[i].rc = -ETIMEDOUT;
			unsent = 1;
			left--;
		}
	int64_t cid = 0; /* the cancel's request id, once sent */
	while (left) {
		int64_t rid;
		int rrc;
		shmrt_mv_t *r = NULL;
		if (rc == 0)
			rc = shmrt__client_read_reply(conn, deadline, &rid, &rrc, &r);
		if (rc == -ETIMEDOUT && !cid) {
			rc = batch_cancel(conn, reqs, nput, id0, &cid, &deadline);
			continue;
		}
		if (rc) {
			batch_fail(reqs, n, rc);
			return rc;
		}
		if (cid && rid == cid) { /* the calls left were dropped unanswered */
			shmrt_mv_free(r);
			batch_fail(reqs, n, -ETIMEDOUT);
			return -ETIMEDOUT;
		}
		uint64_t i = (uint64_t)(rid - id0);
		if (rid < id0 || i >= n || reqs[i].rc != 1) { /* an earlier call's, late */
			shmrt_mv_free(r);
			continue;
		}
		reqs[i].rc = rrc;
		reqs[i].result = r;
		left--;
	}
	return unsent ? -ETIMEDOUT : 0;
}

