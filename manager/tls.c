/*
 * TLS 1.3 streams for the manager (tls_int.h), on OpenSSL's libssl.
 *
 * The socket. libssl reaches the socket through a BIO of our own rather than its
 * socket BIO, for two reasons: its writes use write(), which raises SIGPIPE when the
 * peer has gone (ours use send() with MSG_NOSIGNAL, as the frame writer does), and
 * the frame layer wants the socket's errno as it was (-ECONNRESET, -EPIPE), which
 * the BIO leaves in errno for SSL_ERROR_SYSCALL. The BIO records the end of the
 * stream (BIO_CTRL_EOF) so that libssl can tell an unannounced end from a broken
 * record; SSL_OP_IGNORE_UNEXPECTED_EOF then makes the former a plain end of stream:
 * the manager's frames carry their own lengths, so a peer cut off mid-frame is still
 * seen as such (frame.h's -EPROTO), and a killed peer ends as a closed one does.
 *
 * Non-blocking. Every libssl call may stop for want of the socket: SSL_ERROR_WANT_
 * READ or _WRITE. The stream keeps which (want, and per direction: a read that must
 * write first, a write that must read first) so that the server's epoll interest and
 * the client's poll wait for the right event. libssl's error queue is thread-local
 * and sticky: it is cleared before each call, so that SSL_get_error speaks of that
 * call only.
 *
 * Writes. SSL_MODE_ENABLE_PARTIAL_WRITE lets SSL_write return after a record, as
 * write() does after part of a buffer, and SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER lets
 * a write retried after WANT_WRITE come from the frame writer's queue wherever it
 * now lies: the writer retries with the same bytes first (it only appends behind
 * them), which is what libssl requires.
 *
 * Reads. With read-ahead, one recv takes whatever the socket holds (not a record's
 * header, then its body: two system calls a record). SSL_read returns at most one
 * record's bytes (16 KiB); what it decrypted beyond the buffer given, and the
 * records read ahead, stay in the SSL where epoll cannot see them: the io's pending
 * reports them (but a record cut short: see io_pending), and the frame reader counts
 * them as read ahead. The BIO notes whether its last recv was short, so the io can
 * say the socket was found empty (drained) without another recv to learn -EAGAIN.
 *
 * Errors are mapped to errnos as tls_int.h lists; a certificate refused on either
 * side is -EKEYREJECTED, found from the verify result or the alert's reason.
 *
 * Nothing here outlives its connection but the BIO method, made once per process.
 */
#define _GNU_SOURCE
#include "manager/tls_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "base/clock.h"
#include "manager/transport.h"

struct shmrt__tls_ctx {
	SSL_CTX *ctx;
	int server;
	char *host;    /* client: the name or IP the server's certificate must carry */
	int host_ip;   /* host is an IP literal */
};

struct shmrt__tls {
	SSL *ssl;
	int fd;
	int eof;       /* the socket's read returned 0 */
	uint8_t short_read; /* the socket's last recv gave less than asked, or EAGAIN */
	uint8_t starved;    /* the last SSL_read wanted more from the socket */
	short want;    /* POLLIN or POLLOUT: what the last -EAGAIN waits for */
	uint8_t r_out; /* the last read waits for POLLOUT */
	uint8_t w_in;  /* the last write waits for POLLIN */
	shmrt__frame_io_t io;
};

/* ---- the socket BIO ------------------------------------------------------------- */

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static int bio_write(BIO *b, const char *p, size_t n, size_t *done)
{
	shmrt__tls_t *t = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	for (;;) {
		ssize_t k = send(t->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k >= 0) {
			*done = (size_t)k;
			return 1;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			BIO_set_retry_write(b);
		return 0; /* errno stays for SSL_ERROR_SYSCALL */
	}
}

static int bio_read(BIO *b, char *p, size_t n, size_t *done)
{
	shmrt__tls_t *t = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	for (;;) {
		ssize_t k = recv(t->fd, p, n, MSG_DONTWAIT);
		t->short_read = k < 0 || (size_t)k < n;
		if (k > 0) {
			*done = (size_t)k;
			return 1;
		}
		if (k == 0) {
			t->eof = 1;
			errno = 0;
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			BIO_set_retry_read(b);
		return 0;
	}
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)num;
	(void)ptr;
	shmrt__tls_t *t = BIO_get_data(b);
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1; /* nothing is buffered here */
	case BIO_CTRL_EOF:
		return t && t->eof;
	default:
		return 0;
	}
}

static void bio_make(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "shmrt socket");
	if (m && (!BIO_meth_set_write_ex(m, bio_write) || !BIO_meth_set_read_ex(m, bio_read) ||
		  !BIO_meth_set_ctrl(m, bio_ctrl))) {
		BIO_meth_free(m);
		m = NULL;
	}
	bio_method = m;
}

/* ---- contexts ------------------------------------------------------------------- */

static int fail_why(const char **why, const char *s, int rc)
{
	if (why)
		*why = s;
	return rc;
}

/* Opens path to learn its errno before libssl reads it (libssl would say only that
 * it failed). Returns 0 or -errno. */
static int readable(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	fclose(f);
	return 0;
}

static SSL_CTX *ctx_new(int server)
{
	SSL_CTX *c = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!c)
		return NULL;
	if (!SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION)) {
		SSL_CTX_free(c);
		return NULL;
	}
	SSL_CTX_set_options(c, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* One recv takes what the socket holds (records, not a header then a body). */
	SSL_CTX_set_read_ahead(c, 1);
	if (server) {
		/* No tickets: nothing to write after the handshake but replies. */
		SSL_CTX_set_num_tickets(c, 0);
		SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	}
	return c;
}

/* Loads a certificate chain and its key into c. */
static int load_pair(SSL_CTX *c, const char *cert, const char *key, const char **why)
{
	int rc = readable(cert);
	if (rc)
		return fail_why(why, "cannot open the TLS certificate file", rc);
	if ((rc = readable(key)) != 0)
		return fail_why(why, "cannot open the TLS key file", rc);
	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(c, cert) != 1)
		return fail_why(why, "the TLS certificate file holds no PEM certificate", -EBADMSG);
	FILE *f = fopen(key, "r");
	if (!f)
		return fail_why(why, "cannot open the TLS key file", -errno);
	EVP_PKEY *pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!pk)
		return fail_why(why, "the TLS key file holds no PEM private key", -EBADMSG);
	int ok = SSL_CTX_use_PrivateKey(c, pk) == 1 && SSL_CTX_check_private_key(c) == 1;
	EVP_PKEY_free(pk);
	ERR_clear_error();
	if (!ok)
		return fail_why(why, "the TLS key does not match the certificate", -EKEYREJECTED);
	return 0;
}

static int load_ca(SSL_CTX *c, const char *ca, const char **why)
{
	int rc = readable(ca);
	if (rc)
		return fail_why(why, "cannot open the TLS CA file", rc);
	ERR_clear_error();
	if (SSL_CTX_load_verify_locations(c, ca, NULL) != 1) {
		ERR_clear_error();
		return fail_why(why, "the TLS CA file holds no PEM certificate", -EBADMSG);
	}
	return 0;
}

int shmrt__tls_server_ctx(const char *cert, const char *key, const char *ca,
			  shmrt__tls_ctx_t **out, const char **why)
{
	if (!cert || !key || !out)
		return fail_why(why, "TLS needs both a certificate and a key file", -EINVAL);
	shmrt__tls_ctx_t *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->server = 1;
	t->ctx = ctx_new(1);
	int rc = t->ctx ? load_pair(t->ctx, cert, key, why) : -ENOMEM;
	if (rc == 0 && ca) {
		rc = load_ca(t->ctx, ca, why);
		if (rc == 0) {
			STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
			if (names)
				SSL_CTX_set_client_CA_list(t->ctx, names);
			SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
					   NULL);
		}
	}
	ERR_clear_error();
	if (rc) {
		shmrt__tls_ctx_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

int shmrt__tls_client_ctx(const char *ca, const char *host, const char *cert, const char *key,
			  shmrt__tls_ctx_t **out, const char **why)
{
	if (!host || !host[0] || !out || (!cert != !key))
		return fail_why(why, "TLS client needs a host, and a key with its certificate",
				-EINVAL);
	shmrt__tls_ctx_t *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->host = strdup(host);
	struct in6_addr a6;
	t->host_ip = inet_pton(AF_INET, host, &a6) == 1 || inet_pton(AF_INET6, host, &a6) == 1;
	t->ctx = ctx_new(0);
	int rc = t->ctx && t->host ? 0 : -ENOMEM;
	if (rc == 0 && ca)
		rc = load_ca(t->ctx, ca, why);
	else if (rc == 0 && SSL_CTX_set_default_verify_paths(t->ctx) != 1)
		rc = fail_why(why, "the system's TLS CAs could not be loaded", -EIO);
	if (rc == 0 && cert)
		rc = load_pair(t->ctx, cert, key, why);
	if (rc == 0)
		SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	ERR_clear_error();
	if (rc) {
		shmrt__tls_ctx_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

void shmrt__tls_ctx_free(shmrt__tls_ctx_t *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	free(t->host);
	free(t);
}

/* ---- streams -------------------------------------------------------------------- */

static ssize_t io_read(void *ctx, void *buf, size_t n);
static ssize_t io_write(void *ctx, const void *buf, size_t n);
static size_t io_pending(void *ctx);
static int io_drained(void *ctx);
static short io_want(void *ctx);

int shmrt__tls_new(shmrt__tls_ctx_t *ctx, int fd, shmrt__tls_t **out)
{
	if (pthread_once(&bio_once, bio_make) || !bio_method)
		return -ENOMEM;
	shmrt__tls_t *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->fd = fd;
	t->want = POLLIN;
	t->io = (shmrt__frame_io_t){ io_read, io_write, io_pending, io_drained, io_want, t };
	BIO *b = NULL;
	int rc = -ENOMEM;
	if (!(t->ssl = SSL_new(ctx->ctx)) || !(b = BIO_new(bio_method)))
		goto fail;
	BIO_set_data(b, t);
	BIO_set_init(b, 1);
	SSL_set_bio(t->ssl, b, b); /* the SSL owns b from here */
	b = NULL;
	rc = -EIO;
	if (ctx->server) {
		SSL_set_accept_state(t->ssl);
	} else {
		X509_VERIFY_PARAM *vp = SSL_get0_param(t->ssl);
		if (ctx->host_ip) {
			if (X509_VERIFY_PARAM_set1_ip_asc(vp, ctx->host) != 1)
				goto fail;
		} else {
			X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
			if (SSL_set1_host(t->ssl, ctx->host) != 1 ||
			    SSL_set_tlsext_host_name(t->ssl, ctx->host) != 1)
				goto fail;
		}
		SSL_set_connect_state(t->ssl);
	}
	*out = t;
	return 0;
fail:
	ERR_clear_error();
	BIO_free(b);
	SSL_free(t->ssl);
	free(t);
	return rc;
}

void shmrt__tls_free(shmrt__tls_t *t)
{
	if (!t)
		return;
	SSL_free(t->ssl);
	free(t);
}

/* A certificate the peer refused, as its alert's reason says. */
static int cert_alert(int reason)
{
	switch (reason) {
	case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
	case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
	case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
	case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
	case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
	case SSL_R_CERTIFICATE_VERIFY_FAILED:
		return 1;
	default:
		return 0;
	}
}

/* Maps the outcome r of an SSL call on t to 0, -EAGAIN (want set) or an errno. */
static int map_err(shmrt__tls_t *t, int r)
{
	int sys = errno;
	int e = SSL_get_error(t->ssl, r);
	switch (e) {
	case SSL_ERROR_WANT_READ:
		t->want = POLLIN;
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		t->want = POLLOUT;
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return -EPIPE;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		return t->eof || !sys ? -EPIPE : -sys;
	case SSL_ERROR_SSL: {
		unsigned long err = ERR_peek_error();
		int reason = ERR_GET_REASON(err);
		ERR_clear_error();
		/* A TLS 1.3 client ends its handshake before the server has checked its
		 * certificate: the server's alert may come with the first read. */
		if (cert_alert(reason) ||
		    (!SSL_is_init_finished(t->ssl) && SSL_get_verify_result(t->ssl) != X509_V_OK))
			return -EKEYREJECTED;
		if (reason == SSL_R_UNSUPPORTED_PROTOCOL ||
		    reason == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION ||
		    reason == SSL_R_NO_PROTOCOLS_AVAILABLE)
			return -EPROTONOSUPPORT;
		return reason == ERR_R_MALLOC_FAILURE ? -ENOMEM : -EPROTO;
	}
	default:
		ERR_clear_error();
		return -EPROTO;
	}
}

int shmrt__tls_handshake(shmrt__tls_t *t)
{
	ERR_clear_error();
	int r = SSL_do_handshake(t->ssl);
	return r == 1 ? 0 : map_err(t, r);
}

int shmrt__tls_handshake_wait(shmrt__tls_t *t, uint64_t deadline)
{
	for (;;) {
		int rc = shmrt__tls_handshake(t);
		if (rc != -EAGAIN)
			return rc;
		rc = shmrt__wait_fd(t->fd, t->want, deadline);
		if (rc)
			return rc;
	}
}

short shmrt__tls_want(const shmrt__tls_t *t)
{
	return t->want;
}

int shmrt__tls_read_wants_out(const shmrt__tls_t *t)
{
	return t->r_out;
}

int shmrt__tls_write_wants_in(const shmrt__tls_t *t)
{
	return t->w_in;
}

const shmrt__frame_io_t *shmrt__tls_io(shmrt__tls_t *t)
{
	return &t->io;
}

static ssize_t io_read(void *ctx, void *buf, size_t n)
{
	shmrt__tls_t *t = ctx;
	size_t got = 0;
	ERR_clear_error();
	t->r_out = 0;
	int r = SSL_read_ex(t->ssl, buf, n, &got);
	t->starved = 0;
	if (r == 1)
		return (ssize_t)got;
	int rc = map_err(t, r);
	if (rc == -EAGAIN) {
		t->r_out = t->want == POLLOUT;
		t->starved = t->want == POLLIN;
		return rc;
	}
	return rc == -EPIPE ? 0 : rc; /* the end of the stream, announced or not */
}

static ssize_t io_write(void *ctx, const void *buf, size_t n)
{
	shmrt__tls_t *t = ctx;
	size_t done = 0;
	ERR_clear_error();
	t->w_in = 0;
	int r = SSL_write_ex(t->ssl, buf, n, &done);
	if (r == 1)
		return (ssize_t)done;
	int rc = map_err(t, r);
	if (rc == -EAGAIN)
		t->w_in = t->want == POLLIN;
	return rc;
}

/* Decrypted bytes, or read-ahead bytes that may hold a whole record: not after a
 * read that wanted more (what is held then is part of a record: epoll tells when
 * the rest comes; counting it would spin the server's loop). */
static size_t io_pending(void *ctx)
{
	shmrt__tls_t *t = ctx;
	int n = SSL_pending(t->ssl);
	if (n > 0)
		return (size_t)n;
	return !t->starved && SSL_has_pending(t->ssl) ? 1 : 0;
}

static int io_drained(void *ctx)
{
	shmrt__tls_t *t = ctx;
	return t->short_read && !SSL_has_pending(t->ssl);
}

static short io_want(void *ctx)
{
	return ((shmrt__tls_t *)ctx)->want;
}

/* ---- the listen policy: loopback or not ---------------------------------------- */

int shmrt__tls_fd_loopback(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	if (ss.ss_family == AF_INET)
		return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a6 = &((struct sockaddr_in6 *)&ss)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a6) || (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
	}
	return 0;
}
