/*
 * TLS 1.3 for the manager's TCP connections (internal; manager/tls.c).
 *
 * A context (shmrt__tls_ctx_t) is one OpenSSL SSL_CTX: a server's certificate, key
 * and optional CA for client certificates, or a client's CA, expected host and
 * optional certificate. A stream (shmrt__tls_t) is one connection's SSL over a
 * non-blocking socket; it offers a shmrt__frame_io_t (frame.h) so that the frame
 * reader and writer, and the authkey handshake above them, run inside it unchanged.
 *
 * Only TLS 1.3 is spoken (a TLS 1.2 peer is refused in the handshake). The server
 * sends no session tickets and keeps no session cache: every connection does a full
 * handshake, and after it the server's reads only read and its writes only write.
 *
 * Errors of the handshake (both sides): -EAGAIN (non-blocking: wait for want's
 * events); -EKEYREJECTED (a certificate was refused: ours by the peer, or the peer's
 * by us: not signed by the CA, not for the expected host, expired, missing where one
 * is required); -EPROTONOSUPPORT (the peer does not speak TLS 1.3); -EPROTO (the peer
 * does not speak TLS at all, or broke the protocol); -EPIPE (it closed the
 * connection); -ECONNRESET and other errnos of the socket; -ENOMEM.
 *
 * Concurrency: a context is used by one thread at a time (the server's loop, or one
 * client connection), a stream by its connection's thread.
 */
#ifndef SHMRT_MANAGER_TLS_INT_H
#define SHMRT_MANAGER_TLS_INT_H

#include <stddef.h>
#include <stdint.h>

#include <shmrt/common.h>

#include "manager/frame.h"

typedef struct shmrt__tls_ctx shmrt__tls_ctx_t;
typedef struct shmrt__tls shmrt__tls_t;

/*
 * A server's context: cert (a PEM chain, the server's certificate first), key (its
 * PEM private key) and ca (NULL: no client certificate asked; else PEM CAs, and a
 * client without a certificate they signed is refused).
 * Returns: 0 and *out; -EINVAL (cert or key NULL); the errno of opening a file
 * (-ENOENT, -EACCES ...); -EBADMSG (a file that holds no PEM certificate or key);
 * -EKEYREJECTED (the key does not match the certificate); -ENOMEM; -EIO (libssl
 * failed otherwise). why, if not NULL, is set to a static sentence saying which.
 * Concurrency: any thread.
 */
SHMRT_MUST_USE int shmrt__tls_server_ctx(const char *cert, const char *key, const char *ca,
					 shmrt__tls_ctx_t **out, const char **why);

/*
 * A client's context: ca (NULL: the system's trusted CAs) verifies the server,
 * whose certificate must name host (a DNS name or an IP literal, required); cert and
 * key (both or neither) are presented to a server that asks for one.
 * Returns as shmrt__tls_server_ctx (-EINVAL: host NULL or empty, cert without key).
 * Concurrency: any thread.
 */
SHMRT_MUST_USE int shmrt__tls_client_ctx(const char *ca, const char *host, const char *cert,
					 const char *key, shmrt__tls_ctx_t **out,
					 const char **why);

/* Frees a context (NULL: nothing). Its streams must be freed first. */
void shmrt__tls_ctx_free(shmrt__tls_ctx_t *ctx);

/*
 * A stream over the connected non-blocking socket fd (not owned: the caller closes
 * it after shmrt__tls_free), in ctx's role. The handshake has not begun.
 * Returns: 0 and *out; -ENOMEM; -EIO. Concurrency: the connection's thread.
 */
SHMRT_MUST_USE int shmrt__tls_new(shmrt__tls_ctx_t *ctx, int fd, shmrt__tls_t **out);

/* Frees t (no close_notify is sent: the frame layer tells a cut frame from a closed
 * stream). NULL: nothing. */
void shmrt__tls_free(shmrt__tls_t *t);

/*
 * Advances the handshake as far as the socket allows.
 * Returns: 0 done; -EAGAIN (wait for shmrt__tls_want's events); the errors above.
 * Concurrency: the connection's thread.
 */
SHMRT_MUST_USE int shmrt__tls_handshake(shmrt__tls_t *t);

/* The blocking handshake of a client, until the absolute monotonic deadline
 * (SHMRT_NO_DEADLINE: none). Returns 0, -ETIMEDOUT, or the errors above. */
SHMRT_MUST_USE int shmrt__tls_handshake_wait(shmrt__tls_t *t, uint64_t deadline);

/* The poll events (POLLIN or POLLOUT) the last -EAGAIN of t waits for. */
short shmrt__tls_want(const shmrt__tls_t *t);

/* Whether the last read of t waits for the socket to be writable (a TLS record it
 * must send first), and the last write for it to be readable. */
int shmrt__tls_read_wants_out(const shmrt__tls_t *t);
int shmrt__tls_write_wants_in(const shmrt__tls_t *t);

/* The frame io (frame.h) of t, valid until shmrt__tls_free. Its read maps a clean or
 * unannounced end of the stream to 0, a broken record to -EPROTO. */
const shmrt__frame_io_t *shmrt__tls_io(shmrt__tls_t *t);

/* Whether the listening or connected socket fd's local address is a loopback one
 * (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104). Returns 1, 0, or a negative errno. */
int shmrt__tls_fd_loopback(int fd);

#endif /* SHMRT_MANAGER_TLS_INT_H */
