/*
 * The manager's authentication (internal): the mutual HMAC challenge of Python 3.12's
 * multiprocessing.connection, as a state machine for a non-blocking server and a
 * blocking driver for clients.
 *
 * The exchange (each line one frame of frame.h; S the server, C the client):
 *   S -> C  "#CHALLENGE#" "{sha256}" N_s         N_s: 40 random bytes
 *   C -> S  "{sha256}" HMAC-SHA256(key, "{sha256}" N_s)
 *   S -> C  "#WELCOME#"  or "#FAILURE#" (then S closes)
 *   C -> S  "#CHALLENGE#" "{sha256}" N_c         N_c: 40 random bytes
 *   S -> C  "{sha256}" HMAC-SHA256(key, "{sha256}" N_c)
 *   C -> S  "#WELCOME#"  or "#FAILURE#" (then C closes)
 * The MAC covers the digest's name, so a peer cannot downgrade it. An answer may name
 * another digest Python allows (sha384, sha3_256, sha3_384): it is checked with that
 * digest, as Python does. MD5 is refused both ways: the legacy unprefixed 16-byte
 * answer (and "{md5}") gets #FAILURE#, and a legacy 20-byte challenge (or "{md5}")
 * gets no answer. Every frame of the handshake is at most 256 bytes
 * (SHMRT__AUTH_FRAME_MAX: the reader's cap until it ends), and it has a deadline.
 * Stricter than Python, harmless to it (its nonces are 40 bytes): a challenge's nonce
 * must be at least 20 bytes, and a peer's challenge equal to ours (a reflection) is
 * refused.
 *
 * Concurrency: an shmrt__auth_t belongs to one connection, used by one thread at a
 * time. The key is not copied: it must outlive the handshake.
 */
#ifndef SHMRT_MANAGER_AUTH_H
#define SHMRT_MANAGER_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include <shmrt/common.h>

#include "manager/frame.h"

#define SHMRT__AUTH_FRAME_MAX 256
#define SHMRT__AUTH_NONCE 40 /* Python's MESSAGE_LENGTH */
/* The handshake's default time limit (10 s). */
#define SHMRT__AUTH_TIMEOUT_DEFAULT 10000000000ll

enum shmrt__auth_role {
	SHMRT__AUTH_SERVER = 1, /* Listener.accept: deliver_challenge, then answer_challenge */
	SHMRT__AUTH_CLIENT = 2, /* Client(): answer_challenge, then deliver_challenge */
};

typedef struct shmrt__auth {
	const uint8_t *key;
	size_t keylen;
	uint64_t deadline;          /* absolute CLOCK_MONOTONIC nanoseconds */
	uint8_t role;
	uint8_t state;              /* internal */
	uint8_t out_len;            /* a frame to send is out[0, out_len) */
	uint8_t challenge[8 + SHMRT__AUTH_NONCE]; /* ours: "{sha256}" N */
	uint8_t out[96];
	const char *why;            /* why it failed, for logs (static) */
} shmrt__auth_t;

/*
 * Starts a handshake in role (SHMRT__AUTH_SERVER or _CLIENT) with the authkey
 * key[0, keylen), a time limit (negative: SHMRT__AUTH_TIMEOUT_DEFAULT) and our nonce:
 * NULL draws 40 random bytes (getrandom); tests pass fixed ones. A server has its
 * first frame (the challenge) ready in shmrt__auth_output at once.
 * Returns: 0; -EINVAL (bad role, empty key or longer than INT_MAX); the errno of
 * getrandom.
 * Concurrency: a is the caller's.
 */
SHMRT_MUST_USE int shmrt__auth_init(shmrt__auth_t *a, int role, const void *key, size_t keylen,
				    int64_t timeout_ns, const uint8_t *nonce);

/*
 * Takes the next frame to send, if any: *p and *n point into a (valid until the next
 * call on a). Send it before feeding the reply.
 * Returns: 1 a frame was taken; 0 nothing to send.
 * Concurrency: the connection's thread.
 */
int shmrt__auth_output(shmrt__auth_t *a, const uint8_t **p, size_t *n);

/*
 * Feeds one received frame (its payload).
 * Returns: 0 in progress (send what shmrt__auth_output gives, then feed the next frame);
 * 1 done, the peer is authenticated (and so are we: a client has its #WELCOME# to
 * send); negative: failed, for good (send what shmrt__auth_output gives, #FAILURE#
 * where Python sends it, then close): -EACCES wrong MAC or the peer's #FAILURE#,
 * -EPROTONOSUPPORT an MD5 or unknown digest, -EPROTO a frame not of the protocol or
 * our own challenge reflected, -EMSGSIZE a frame above 256 bytes, -ETIMEDOUT the
 * deadline passed, -EALREADY the handshake had ended.
 * Concurrency: the connection's thread.
 */
SHMRT_MUST_USE int shmrt__auth_feed(shmrt__auth_t *a, const void *frame, size_t n);

/*
 * Fails the handshake if now (CLOCK_MONOTONIC ns) is past its deadline: for a server's
 * timer, so a peer that says nothing is dropped.
 * Returns: 0 still in time (or ended); -ETIMEDOUT (sticky, as a failed feed).
 * Concurrency: the connection's thread.
 */
int shmrt__auth_check_time(shmrt__auth_t *a, uint64_t now);

/* Wipes our nonce and pending output. Concurrency: the connection's thread. */
void shmrt__auth_fini(shmrt__auth_t *a);

/*
 * Python's _create_response for a challenge message msg[0, n) (after "#CHALLENGE#"):
 * "{name}" HMAC-name(key, msg), name taken from msg's "{name}" prefix, into out
 * (at least 10 + 64 bytes), its length in *outlen.
 * Returns: 0; -EPROTONOSUPPORT for MD5 (a legacy 16- or 20-byte message, "{md5}") or
 * a digest Python does not allow; -EPROTO a message without a prefix, or a nonce
 * under 20 bytes; -EIO libcrypto failed.
 * Concurrency: any thread (pure).
 */
SHMRT_MUST_USE int shmrt__auth_response(const void *key, size_t keylen, const uint8_t *msg,
					size_t n, uint8_t *out, size_t *outlen);

/*
 * Python's _verify_challenge of an answer resp[0, rn) to our message msg[0, n), in
 * constant time over the MAC.
 * Returns: 0 the MAC is right; -EACCES it is not (or has the wrong length);
 * -EPROTONOSUPPORT an MD5 (unprefixed 16-byte, "{md5}") or unknown digest; -EPROTO no
 * prefix; -EIO libcrypto failed.
 * Concurrency: any thread (pure).
 */
SHMRT_MUST_USE int shmrt__auth_verify(const void *key, size_t keylen, const uint8_t *msg,
				      size_t n, const uint8_t *resp, size_t rn);

/*
 * Runs the whole handshake in role on the non-blocking connected fd, waiting with
 * poll: the blocking client (and a test's server). Reads no byte past the handshake.
 * Returns: 0 authenticated both ways; the errors of shmrt__auth_feed and of
 * frame.h's blocking calls (-ETIMEDOUT, -EPIPE the peer closed, -EPROTO ...).
 * Concurrency: any thread, fd its own meanwhile.
 */
SHMRT_MUST_USE int shmrt__auth_run(int fd, int role, const void *key, size_t keylen,
				   int64_t timeout_ns);

/* shmrt__auth_run with the frames going through io (frame.h: a TLS stream over fd;
 * NULL: fd itself). Reads no byte of the stream past the handshake (what the io
 * decoded beyond it stays in the io). Returns as shmrt__auth_run. */
SHMRT_MUST_USE int shmrt__auth_run_io(int fd, const shmrt__frame_io_t *io, int role,
				      const void *key, size_t keylen, int64_t timeout_ns);

#endif /* SHMRT_MANAGER_AUTH_H */
