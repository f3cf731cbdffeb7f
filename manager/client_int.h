/*
 * The manager client's internals, shared by manager/client.c (connections, proxies,
 * single calls) and manager/client_batch.c (pipelined calls): the two handles and
 * the steps of a round trip. See client.c's essay for the protocol (ids, late
 * replies, cancel, generations).
 *
 * Concurrency: one thread per connection (and its proxies) at a time.
 */
#ifndef SHMRT_MANAGER_CLIENT_INT_H
#define SHMRT_MANAGER_CLIENT_INT_H

#include <shmrt/manager.h>

#include "manager/frame.h"
#include "manager/transport.h"

/* The largest reply frame the client reads: the server's max_frame decides what it
 * sends; this only bounds a broken length field (the reader grows its buffer with the
 * bytes that arrive, never from the declared length alone). */
#define REPLY_FRAME_MAX (1ull << 40)

/* The most bytes of a call's request written ahead of its args (call_head). */
#define CALL_HEAD_MAX 64

struct shmrt_manager_conn {
	int fd;                 /* -1: broken */
	shmrt__addr_t addr;
	uint8_t *key;
	size_t keylen;
	shmrt_ns_t timeout;
	int64_t next_id;
	shmrt__frame_reader_t r;
	shmrt__frame_writer_t w;
	shmrt_mv_buf_t buf;
	uint64_t gen;           /* counts the sockets opened: a proxy of another is stale */
	uint64_t instance;      /* the server run's id (hello; 0: an older server) */
	struct shmrt__tls_ctx *tls_ctx; /* TLS: its context (each socket a stream); NULL */
	struct shmrt__tls *tls; /* the socket's TLS stream, or NULL */
	unsigned flags;         /* SHMRT_MANAGER_CONNECT_* */
	struct shmrt__cshm *shm; /* the shared-memory channel (client_shm.c), or NULL */
	uint32_t shm_after;     /* calls before the channel is asked for (flags 0, a Unix
	                           address); 0: never (asked, refused, given-up calls) */
};

struct shmrt_proxy {
	shmrt_manager_conn_t *conn;
	uint64_t id;
	uint64_t gen;           /* conn->gen when it was made */
};

/* A transport error breaks c (a timeout, -ENOMEM do not). Returns rc. */
int shmrt__client_fail(shmrt_manager_conn_t *c, int rc);
/* Breaks c whatever the error (its stream is in an unknown state). */
void shmrt__client_drop(shmrt_manager_conn_t *c);

/*
 * Encodes the call [id, "call", [p's ref, method, args]] (args consumed; NULL: []):
 * its first bytes into h and *hn (0 when the whole request is in c->buf), the rest
 * into c->buf. Returns 0, -ENOMEM, -EMSGSIZE, -ELOOP.
 */
int shmrt__client_encode_call(shmrt_manager_conn_t *c, int64_t id, shmrt_proxy_t *p,
			      const char *method, shmrt_mv_t *args, uint8_t h[CALL_HEAD_MAX],
			      size_t *hn);

/*
 * Reads the next reply: *id its id, *rrc its rc, *res (may be NULL) its result when
 * *rrc is 0. Returns 0, or a transport error (c then broken, except for -ETIMEDOUT
 * and -ENOMEM).
 */
int shmrt__client_read_reply(shmrt_manager_conn_t *c, uint64_t deadline, int64_t *id, int *rrc,
			     shmrt_mv_t **res);

/*
 * After a deadline passed: sends "cancel [ids]" (n ids of calls without a reply) as
 * request *cid and sets *deadline to the grace's end, the bound on waiting for the
 * cancel's reply. Returns 0; a transport error (c broken, except for -ETIMEDOUT,
 * -ENOMEM, -EMSGSIZE).
 */
int shmrt__client_cancel_send(shmrt_manager_conn_t *c, const int64_t *ids, size_t n,
			      int64_t *cid, uint64_t *deadline);

/* [id, op, args] (args consumed) with the connection's timeout: 0 and *res (may be
 * NULL), the reply's error, a transport error. For manager/client_remote.c. */
int shmrt__client_request(shmrt_manager_conn_t *conn, const char *op, shmrt_mv_t *args,
			  shmrt_mv_t **res);
/* A proxy of id, a reference the server gave this session (no incref): 0, -ENOMEM
 * (the reference released). */
int shmrt__client_proxy_new(shmrt_manager_conn_t *conn, uint64_t id, shmrt_proxy_t **out);

/* ---- the shared-memory channel (manager/client_shm.c) ----------------------------- */

/*
 * Asks the server of c's fresh socket for a shared-memory channel (see
 * manager/shmchan_int.h) when c's flags want one and its address is a Unix socket.
 * A server that refuses (another PID namespace, a server without the channel) leaves
 * c on its socket. Returns 0, or a transport error (the caller drops c).
 */
int shmrt__client_shm_open(shmrt_manager_conn_t *c, uint64_t deadline);
/*
 * Counts n calls about to be made on c, by deadline, towards its shm_after and asks
 * for the channel when they reach it, if nothing is outstanding on the socket and the
 * deadline leaves room (shmrt__client_shm_open's request). Returns 0 (on the channel
 * or, refused, still on the socket), or an error (c broken, even on -ETIMEDOUT).
 */
int shmrt__client_shm_due(shmrt_manager_conn_t *c, size_t n, uint64_t deadline);
/* The calls of c count towards the channel (the fast path of shmrt__client_shm_due). */
static inline int shmrt__client_shm_count(shmrt_manager_conn_t *c, size_t n, uint64_t deadline)
{
	return c->shm_after ? shmrt__client_shm_due(c, n, deadline) : 0;
}
/* Closes c's channel, if any. */
void shmrt__client_shm_close(shmrt_manager_conn_t *c);
/* Writes c's queued request bytes (c->w) into the channel, waiting for room until
 * the deadline; the doorbell rung if the server sleeps. Returns 0, -ETIMEDOUT (the
 * rest stays queued, framing intact), -EPIPE (the server closed or died). */
int shmrt__client_shm_flush(shmrt_manager_conn_t *c, uint64_t deadline);
/* Completes the next reply frame in c->r from the channel: 1, -ETIMEDOUT, -EPIPE,
 * the frame reader's errors. */
int shmrt__client_shm_read(shmrt_manager_conn_t *c, uint64_t deadline);

#endif /* SHMRT_MANAGER_CLIENT_INT_H */
