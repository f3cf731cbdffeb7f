/*
 * Authentication (auth.h): Python 3.12's multiprocessing.connection handshake,
 * HMAC through OpenSSL's libcrypto.
 *
 * Python runs it as two blocking functions, deliver_challenge (send a challenge,
 * check the answer, send #WELCOME# or #FAILURE#) and answer_challenge (answer a
 * challenge, expect #WELCOME#); Listener.accept calls deliver then answer, Client()
 * answer then deliver. Here the same sequence is a state machine fed one frame at a
 * time, so that an epoll server runs thousands of handshakes at once:
 *
 *   server: INIT -> (out CHALLENGE) WANT_ANSWER -> (out WELCOME) WANT_CHALLENGE
 *           -> (out response) WANT_WELCOME -> DONE
 *   client: WANT_CHALLENGE -> (out response) WANT_WELCOME -> (out CHALLENGE)
 *           WANT_ANSWER -> (out WELCOME) DONE
 *   any state -> FAILED (with out FAILURE when a check of an answer fails, as Python)
 *
 * Message formats, as Python's _get_digest_name_and_payload reads them: a message of
 * 16 or 20 bytes is legacy (unprefixed HMAC-MD5, Python <= 3.11); anything else must
 * start with "{name}" where '}' is within the first 10 bytes and name is one of
 * md5 sha256 sha384 sha3_256 sha3_384. We refuse md5 in every form. The MAC is
 * computed over the whole challenge message, prefix included, and the answer carries
 * the prefix of the digest it used.
 *
 * Secrets: the comparison is CRYPTO_memcmp (constant time); our nonce and the buffers
 * holding MACs are cleansed when done. The key is the caller's and is not copied.
 * Nothing here survives the process: a peer that dies mid-handshake is a connection
 * that ends (-EPIPE/-EPROTO from the reader) or goes silent (the deadline).
 */
#define _GNU_SOURCE
#include "auth.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/clock.h"
#include "frame.h"

static const char CHALLENGE[] = "#CHALLENGE#";
static const char WELCOME[] = "#WELCOME#";
static const char FAILURE[] = "#FAILURE#";
#define CHALLENGE_LEN 11
#define WELCOME_LEN 9
#define FAILURE_LEN 9
#define MD5ONLY_MESSAGE_LEN 20 /* a legacy challenge */
#define MD5_DIGEST_LEN 16      /* a legacy answer */
#define MAX_NAME_LEN 8         /* the longest allowed name: "sha3_256" */
#define MIN_NONCE 20

enum { INIT, WANT_ANSWER, WANT_CHALLENGE, WANT_WELCOME, DONE, FAILED };

/* ---- digests -------------------------------------------------------------------- */

/*
 * The digest of a "{name}" prefix at the start of m[0, n): its EVP_MD, and in *plen
 * the prefix's length (braces included).
 * Returns: 0; -EPROTONOSUPPORT legacy MD5 (16 or 20 bytes, or "{md5}") or a name
 * Python does not allow; -EPROTO no prefix.
 */
static int digest_of(const uint8_t *m, size_t n, const EVP_MD **md, size_t *plen)
{
	if (n == MD5ONLY_MESSAGE_LEN || n == MD5_DIGEST_LEN)
		return -EPROTONOSUPPORT;
	if (n < 2 || m[0] != '{')
		return -EPROTO;
	size_t end = n < MAX_NAME_LEN + 2 ? n : MAX_NAME_LEN + 2;
	const uint8_t *c = memchr(m + 1, '}', end - 1);
	if (!c)
		return -EPROTO;
	size_t len = (size_t)(c - m - 1);
	static const struct {
		const char *name;
		const EVP_MD *(*md)(void);
	} allowed[] = {
		{ "sha256", EVP_sha256 },
		{ "sha384", EVP_sha384 },
		{ "sha3_256", EVP_sha3_256 },
		{ "sha3_384", EVP_sha3_384 },
	};
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		if (strlen(allowed[i].name) == len && memcmp(allowed[i].name, m + 1, len) == 0) {
			*md = allowed[i].md();
			*plen = len + 2;
			return *md ? 0 : -EPROTONOSUPPORT;
		}
	}
	return -EPROTONOSUPPORT; /* md5, or a name Python does not know */
}

static int mac(const EVP_MD *md, const void *key, size_t keylen, const uint8_t *m, size_t n,
	       uint8_t out[EVP_MAX_MD_SIZE], unsigned *outlen)
{
	return HMAC(md, key, (int)keylen, m, n, out, outlen) ? 0 : -EIO;
}

int shmrt__auth_response(const void *key, size_t keylen, const uint8_t *msg, size_t n,
			 uint8_t *out, size_t *outlen)
{
	const EVP_MD *md;
	size_t plen;
	int rc = digest_of(msg, n, &md, &plen);
	if (rc)
		return rc;
	if (n - plen < MIN_NONCE)
		return -EPROTO;
	uint8_t d[EVP_MAX_MD_SIZE];
	unsigned dl;
	rc = mac(md, key, keylen, msg, n, d, &dl);
	if (rc)
		return rc;
	memcpy(out, msg, plen); /* the same "{name}" */
	memcpy(out + plen, d, dl);
	*outlen = plen + dl;
	OPENSSL_cleanse(d, sizeof(d));
	return 0;
}

int shmrt__auth_verify(const void *key, size_t keylen, const uint8_t *msg, size_t n,
		       const uint8_t *resp, size_t rn)
{
	const EVP_MD *md;
	size_t plen;
	int rc = digest_of(resp, rn, &md, &plen);
	if (rc)
		return rc;
	uint8_t d[EVP_MAX_MD_SIZE];
	unsigned dl;
	rc = mac(md, key, keylen, msg, n, d, &dl);
	if (rc)
		return rc;
	/* The length is no secret (it follows from the name); the MAC's bytes are. */
	if (rn - plen != dl || CRYPTO_memcmp(d, resp + plen, dl) != 0)
		rc = -EACCES;
	OPENSSL_cleanse(d, sizeof(d));
	return rc;
}

/* ---- the state machine ---------------------------------------------------------- */

static void put_out(shmrt__auth_t *a, const void *p1, size_t n1, const void *p2, size_t n2)
{
	memcpy(a->out, p1, n1);
	if (n2)
		memcpy(a->out + n1, p2, n2);
	a->out_len = (uint8_t)(n1 + n2);
}

static int failed(shmrt__auth_t *a, int rc, const char *why)
{
	a->state = FAILED;
	a->why = why;
	OPENSSL_cleanse(a->challenge, sizeof(a->challenge));
	return rc;
}

int shmrt__auth_init(shmrt__auth_t *a, int role, const void *key, size_t keylen,
		     int64_t timeout_ns, const uint8_t *nonce)
{
	if ((role != SHMRT__AUTH_SERVER && role != SHMRT__AUTH_CLIENT) || !key || keylen == 0 ||
	    keylen > INT_MAX)
		return -EINVAL;
	memset(a, 0, sizeof(*a));
	a->key = key;
	a->keylen = keylen;
	a->role = (uint8_t)role;
	a->deadline = shmrt__deadline(timeout_ns < 0 ? SHMRT__AUTH_TIMEOUT_DEFAULT : timeout_ns);
	memcpy(a->challenge, "{sha256}", 8);
	if (nonce) {
		memcpy(a->challenge + 8, nonce, SHMRT__AUTH_NONCE);
	} else {
		size_t got = 0;
		while (got < SHMRT__AUTH_NONCE) {
			ssize_t k = getrandom(a->challenge + 8 + got, SHMRT__AUTH_NONCE - got, 0);
			if (k < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			got += (size_t)k;
		}
	}
	if (role == SHMRT__AUTH_SERVER) {
		put_out(a, CHALLENGE, CHALLENGE_LEN, a->challenge, sizeof(a->challenge));
		a->state = WANT_ANSWER;
	} else {
		a->state = WANT_CHALLENGE;
	}
	a->why = "in progress";
	return 0;
}

int shmrt__auth_output(shmrt__auth_t *a, const uint8_t **p, size_t *n)
{
	if (!a->out_len)
		return 0;
	*p = a->out;
	*n = a->out_len;
	a->out_len = 0; /* the bytes stay until the next call, as documented */
	return 1;
}

int shmrt__auth_check_time(shmrt__auth_t *a, uint64_t now)
{
	if (a->state == DONE || a->state == FAILED)
		return 0;
	if (now < a->deadline)
		return 0;
	a->out_len = 0;
	return failed(a, -ETIMEDOUT, "handshake deadline passed");
}

static int is(const uint8_t *f, size_t n, const char *s, size_t sn)
{
	return n == sn && memcmp(f, s, sn) == 0;
}

/* The peer's challenge frame f[0, n): answer it. */
static int answer(shmrt__auth_t *a, const uint8_t *f, size_t n)
{
	if (n < CHALLENGE_LEN || memcmp(f, CHALLENGE, CHALLENGE_LEN) != 0)
		return failed(a, -EPROTO, "expected a challenge");
	const uint8_t *m = f + CHALLENGE_LEN;
	size_t mn = n - CHALLENGE_LEN;
	if (mn < MD5ONLY_MESSAGE_LEN)
		return failed(a, -EPROTO, "challenge too short");
	if (mn == sizeof(a->challenge) && CRYPTO_memcmp(m, a->challenge, mn) == 0)
		return failed(a, -EPROTO, "our own challenge reflected");
	uint8_t r[sizeof(a->out)];
	size_t rl;
	int rc = shmrt__auth_response(a->key, a->keylen, m, mn, r, &rl);
	if (rc)
		return failed(a, rc, rc == -EPROTONOSUPPORT ? "challenge asks for MD5 or an "
			      "unknown digest" : "challenge without a digest prefix, or too short");
	put_out(a, r, rl, NULL, 0);
	OPENSSL_cleanse(r, sizeof(r));
	return 0;
}

/* The peer's answer to our challenge: welcome it or not. */
static int check(shmrt__auth_t *a, const uint8_t *f, size_t n)
{
	int rc = shmrt__auth_verify(a->key, a->keylen, a->challenge, sizeof(a->challenge), f, n);
	if (rc) {
		put_out(a, FAILURE, FAILURE_LEN, NULL, 0); /* as Python: on any failed check */
		return failed(a, rc, rc == -EACCES ? "wrong answer (another authkey, or a replay)"
			      : rc == -EPROTONOSUPPORT ? "answer in MD5 or an unknown digest"
			      : "answer without a digest prefix");
	}
	put_out(a, WELCOME, WELCOME_LEN, NULL, 0);
	return 0;
}

int shmrt__auth_feed(shmrt__auth_t *a, const void *frame, size_t n)
{
	const uint8_t *f = frame;
	if (a->state == FAILED || a->state == DONE)
		return -EALREADY;
	a->out_len = 0;
	if (mono_ns() >= a->deadline)
		return failed(a, -ETIMEDOUT, "handshake deadline passed");
	if (n > SHMRT__AUTH_FRAME_MAX)
		return failed(a, -EMSGSIZE, "frame above 256 bytes before authentication");
	int rc;
	switch (a->state) {
	case WANT_ANSWER:
		rc = check(a, f, n);
		if (rc)
			return rc;
		if (a->role == SHMRT__AUTH_SERVER) {
			a->state = WANT_CHALLENGE;
			return 0;
		}
		a->state = DONE;
		OPENSSL_cleanse(a->challenge, sizeof(a->challenge));
		a->why = "authenticated";
		return 1;
	case WANT_CHALLENGE:
		rc = answer(a, f, n);
		if (rc)
			return rc;
		a->state = WANT_WELCOME;
		return 0;
	case WANT_WELCOME:
		if (!is(f, n, WELCOME, WELCOME_LEN))
			return failed(a, -EACCES, is(f, n, FAILURE, FAILURE_LEN) ?
				      "the peer refused our answer (another authkey)" :
				      "expected #WELCOME#");
		if (a->role == SHMRT__AUTH_CLIENT) {
			put_out(a, CHALLENGE, CHALLENGE_LEN, a->challenge, sizeof(a->challenge));
			a->state = WANT_ANSWER;
			return 0;
		}
		a->state = DONE;
		OPENSSL_cleanse(a->challenge, sizeof(a->challenge));
		a->why = "authenticated";
		return 1;
	default:
		return failed(a, -EPROTO, "handshake in no known state");
	}
}

void shmrt__auth_fini(shmrt__auth_t *a)
{
	OPENSSL_cleanse(a->challenge, sizeof(a->challenge));
	OPENSSL_cleanse(a->out, sizeof(a->out));
	a->out_len = 0;
}

/* ---- blocking driver ------------------------------------------------------------ */

int shmrt__auth_run(int fd, int role, const void *key, size_t keylen, int64_t timeout_ns)
{
	return shmrt__auth_run_io(fd, NULL, role, key, keylen, timeout_ns);
}

int shmrt__auth_run_io(int fd, const shmrt__frame_io_t *io, int role, const void *key,
		       size_t keylen, int64_t timeout_ns)
{
	shmrt__auth_t a;
	int rc = shmrt__auth_init(&a, role, key, keylen, timeout_ns, NULL);
	if (rc)
		return rc;
	shmrt__frame_reader_t r;
	shmrt__frame_writer_t w;
	shmrt__frame_reader_init(&r, SHMRT__AUTH_FRAME_MAX);
	shmrt__frame_reader_exact(&r); /* what follows the handshake is the caller's */
	shmrt__frame_writer_init(&w, 4096);
	r.io = w.io = io;
	const uint8_t *p;
	size_t n;
	for (;;) {
		if (shmrt__auth_output(&a, &p, &n)) {
			int s = shmrt__frame_send_wait(&w, fd, p, n, a.deadline);
			if (s && rc >= 0)
				rc = s;
		}
		if (rc) /* failed, or done: a client has sent its #WELCOME# */
			break;
		rc = shmrt__frame_recv_wait(&r, fd, a.deadline);
		if (rc < 0)
			break;
		const uint8_t *f = shmrt__frame_data(&r, &n);
		rc = shmrt__auth_feed(&a, f, n);
		shmrt__frame_next(&r);
	}
	shmrt__auth_fini(&a);
	shmrt__frame_reader_fini(&r);
	shmrt__frame_writer_fini(&w);
	return rc > 0 ? 0 : rc;
}
