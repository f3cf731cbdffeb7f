/*
 * shmrt Manager (library shmrt_manager, -lshmrt_manager): a server of objects (dict,
 * list, Namespace) that processes reach over a Unix socket or TCP with an authkey, as
 * Python's multiprocessing Manager, and the client that calls them through proxies.
 *
 *   shmrt_manager_server_t *srv;
 *   shmrt_manager_start("unix:", key, keylen, NULL, &srv);   // a server process
 *   shmrt_manager_conn_t *conn;
 *   shmrt_manager_connect(shmrt_manager_address(srv), key, keylen, SHMRT_FOREVER, &conn);
 *   shmrt_proxy_t *d;
 *   shmrt_manager_create(conn, "dict", NULL, &d);            // manager.dict()
 *   shmrt_proxy_call2(d, "__setitem__", shmrt_mv_int(1), shmrt_mv_str("1"), NULL);
 *
 * Types and methods (Python's, the errors its exceptions: KeyError, AttributeError and
 * ValueError -ENOENT, IndexError -ERANGE, TypeError -EINVAL):
 *  "dict"       get, __getitem__, __setitem__, __delitem__, __contains__, keys, values,
 *               items (a list of [key, value]), update (a map or a list of pairs), pop,
 *               popitem, setdefault, clear, __len__, copy and __iter__ (snapshots)
 *  "list"       append, extend (a list's items, a map's keys, a str's characters,
 *               a bytes' byte values as ints; anything else, a ref included,
 *               -EINVAL), insert, pop, remove, index, count, reverse, sort
 *               ([reverse]: numbers, str, bytes, or lists of them compared
 *               lexicographically as Python compares lists and tuples; items that
 *               do not compare -EINVAL, the list left as it was), __len__,
 *               __getitem__, __setitem__, __delitem__ (an
 *               int index, negative allowed), __contains__, __iter__ and copy
 *               (snapshots); slices as Python's: __getslice__ [start, stop, step]
 *               -> list, __setslice__ [start, stop, step, list] (grows or shrinks
 *               the list for step 1), __delslice__ [start, stop, step], each bound
 *               nil or an int; Python's ValueError there (step 0, an extended slice
 *               assigned a list of another length) is -EINVAL: the argument's value
 *               is invalid (C's EINVAL), and -ENOENT stays "no such value"
 *  "Value"      (init [typecode, value]) get, set [v], add [delta] -> the new value
 *               (atomic: ints and floats), cas [expected, new] -> bool (stored if
 *               the value == expected); no get_lock (Python's manager Value has none)
 *  "Array"      (init [typecode, list | int n (n zeros) | bytes for 'c' | str for
 *               'u']) __len__, __getitem__, __setitem__, __getslice__, __setslice__
 *               (the length is fixed: a list of another length than the slice is
 *               -EINVAL), tolist, copy, __iter__ (snapshots); at most 2^20 items
 *               (-E2BIG). Typecodes of both, checked on every store: 'b' 'B' 'h'
 *               'H' 'i' 'I' 'l' 'L' 'q' 'Q' ints ('L', 'Q' up to INT64_MAX; out of
 *               range: -ERANGE, Python's OverflowError), 'f' 'd' floats (an int is
 *               stored as a float; 'f' rounded to single precision), 'c' a bytes
 *               of length 1, 'u' a str of one code point; another typecode or a
 *               value of another kind: -EINVAL
 *  "Namespace"  __getattr__, __setattr__, __delattr__ (str names), incr [name, delta]
 *               (ns.name += delta as one step: the new value), copy (a map)
 * Every object, of any type, also answers __typeid__ [] -> its type's name (a str:
 * "dict", a user type's name ...), so that a client handed a ref knows what it names.
 * An unknown type or method is -ENOENT, a wrong number or kind of arguments -EINVAL.
 *
 * Blocking types. Their blocking calls park in the server (never holding up other
 * clients) and are answered when they can proceed or at their deadline. A timeout
 * argument is nil (none) or an int of nanoseconds >= 0 (0: answer at once). A call
 * whose own (client) timeout passes first is cancelled: see the errors below. A call
 * that would park while its connection has max_parked calls parked already (a
 * pipelining client) is -EDQUOT at once, and does nothing.
 *  "Lock", "RLock"  acquire [blocking=True, timeout=nil] -> True, or False (not
 *               blocking and held, or the timeout passed); -EOWNERDEAD: ACQUIRED, its
 *               previous holder's connection ended while holding it (the process died:
 *               what the lock protects may be half-updated), told to the waiter it was
 *               handed to, or, with none, to the next acquire once; -EDEADLK a Lock's
 *               holder acquiring it again with no timeout; -EINVAL a timeout with
 *               blocking False. release [] -> None; -EPERM not held by this connection
 *               (an RLock counts: released as often as acquired). locked [] -> bool.
 *               Owned by the connection; waiters are served in arrival order.
 *  "Semaphore", "BoundedSemaphore" (init: nil for 1, or an int >= 0)  acquire as
 *               Lock's (no -EOWNERDEAD: not owned); release [n=1] (-EINVAL: a bounded
 *               one above its initial value); get_value [] -> int.
 *  "Event"      set, clear, is_set -> bool, wait [timeout=nil] -> True, or False at
 *               the timeout.
 *  "Queue", "JoinableQueue" (init: nil, or an int maxsize, <= 0 unbounded)
 *               put [item, block=True, timeout=nil], put_nowait [item],
 *               get [block=True, timeout=nil] -> item, get_nowait []; Python's Empty
 *               and Full are -EAGAIN when not blocking, -ETIMEDOUT at the timeout;
 *               qsize, empty, full; JoinableQueue also task_done (-EINVAL: more than
 *               put) and join [timeout=nil] (-ETIMEDOUT). Items leave in put order,
 *               each to one getter; a getter whose process died takes none.
 *  "Condition" (init: nil for its own RLock, or a ref to a "Lock" or "RLock" that
 *               it shares: that lock keeps its own proxies and semantics; -EINVAL
 *               another kind of object) acquire, release as its lock's;
 *               wait [timeout=nil] -> True (notified) or False (the timeout
 *               passed), the lock held again either way: released fully while
 *               waiting, taken back in the lock's FIFO with an RLock's count
 *               restored; -EOWNERDEAD held again from a holder that died (notified
 *               or not is then unknown); -EPERM the lock not held by this
 *               connection. notify [n=1], notify_all (-EPERM without the lock):
 *               the oldest waiters first. wait_for takes a predicate, code of the
 *               caller's: it runs in the client (shmrt_proxy_wait_for).
 *  "Barrier"    (init: parties >= 1, or [parties, timeout]) wait [timeout=nil: the
 *               barrier's] -> the arrival index 0..parties-1; -ECANCELED (Python's
 *               BrokenBarrierError) the barrier is broken, or breaks while this
 *               waits: abort, reset (which leaves it whole again), a wait's timeout
 *               (that wait answers -ECANCELED too), or a connection that ends while
 *               waiting (a party died: the others never hang). reset, abort,
 *               parties -> int, n_waiting -> int, broken -> bool.
 *
 * References. A value may hold a ref to another managed object (shmrt_mv_ref with
 * shmrt_proxy_ref's id); a container holding one keeps the object alive
 * (d['l'] = l). Each proxy is one reference of its connection; when a connection
 * ends (closed, or its process dies) its references are dropped. An object nothing
 * refers to is destroyed. Refs in results are borrowed: shmrt_manager_proxy takes a
 * reference. But a value that a call takes out of its object and returns (list.pop,
 * dict.pop, dict.popitem, a Queue's get and get_nowait, a put handed to a waiting
 * get) brings its references with it: each ref in it (each time it occurs) is one
 * reference of the receiving connection, which the connection's next
 * shmrt_manager_proxy of that ref takes over (rather than adding one), so that
 * `x = d.pop('l')` keeps the list alive while x's proxy lives, and the proxy's
 * release destroys it; a ref the receiver never takes a proxy of is released when
 * its connection ends.
 * Stale proxies. A proxy belongs to its connection's socket: after
 * shmrt_manager_reconnect (to a restarted server or to the same one) every proxy
 * made before it returns -ESTALE without asking the server, and its release frees it
 * locally (its reference went with the old socket) and returns -ESTALE: a proxy
 * never reaches another object, nor drops a reference another proxy holds.
 * Refs passed between processes (shmrt_proxy_ref, refs in values) carry the
 * server's 16-bit epoch: one from an earlier server run is -ESTALE, except for the
 * one chance in 65535 that a restarted server drew the same epoch, when it may name
 * another object of the new run. Processes that must rule that out pass the
 * server's 63-bit run id (shmrt_manager_instance) with their refs and compare it.
 *
 * Errors of every call that talks to the server: -ETIMEDOUT (the timeout passed and
 * the call did not happen: the client then sends "cancel" for it and waits up to 5 s
 * more for one of two answers, the call's own reply (it ran after all, just before
 * the cancel: its result is returned, not -ETIMEDOUT) or the cancel's (the server
 * dropped the parked call unanswered: no lock is acquired, no item taken, a parked
 * put's item is not put); only a server silent for those 5 s too leaves the call's
 * fate unknown, its late reply then discarded; the connection stays usable);
 * -EPIPE or -ECONNRESET (the
 * server closed the connection or died: a pending call returns at once, as the
 * kernel closes a dead server's sockets; over TCP to a host that vanished, at the
 * timeout); after either of these the connection is broken and every call returns
 * -ENOTCONN until shmrt_manager_reconnect; -ENOMEM; -EMSGSIZE (a request above
 * 16 MiB, refused before sending; a reply above the server's max_frame, refused by
 * the server, the connection intact); -ESTALE (a proxy of an earlier socket); and
 * the reply's own code.
 * Replies. The client reads whatever the server may send: a reply frame of any size
 * (the server's max_frame bounds it, 16 MiB by default; a server started with a
 * larger one serves its clients unchanged), as many values as its bytes hold (a list
 * of millions of items, the 100000 entries of shmrt_manager_objects) and trees as
 * deep as SHMRT_MV_DEPTH_MAX.
 *
 * Concurrency: a connection and its proxies are used by one thread at a time
 * (calls are serialised on its socket); distinct connections are independent. A
 * forked child must not use its parent's connection: it connects its own and takes
 * proxies of the objects it was handed (shmrt_manager_proxy with their refs).
 * Ordering: a call's effects are visible to every call any client starts after it
 * returned (the server runs one request at a time).
 */
#ifndef SHMRT_MANAGER_H
#define SHMRT_MANAGER_H

#include <stddef.h>
#include <sys/types.h>
#include "common.h"
#include "mvalue.h"
#include "mtype.h"

#ifdef __cplusplus
extern "C" {
#endif

/* opts.flags: TCP listeners may bind non-loopback addresses (which then need TLS,
 * or SHMRT_MANAGER_INSECURE_NO_TLS). */
#define SHMRT_MANAGER_ANY_HOST 0x1u
/* opts.flags: a non-loopback TCP listener may go without TLS: its traffic, the
 * authkey's HMAC exchange and every value, crosses the network in clear, and anyone
 * on the path can read it and take over an authenticated connection. */
#define SHMRT_MANAGER_INSECURE_NO_TLS 0x2u

typedef struct shmrt_manager_opts {
	const char *const *addresses; /* serve: naddresses listening addresses */
	size_t naddresses;
	const void *authkey;          /* serve: the key (1..INT_MAX bytes) */
	size_t keylen;
	size_t max_frame;             /* a frame's cap (0: 16 MiB) */
	size_t max_queued;            /* a client's unread replies before it is dropped
	                                 (0: 64 MiB) */
	shmrt_ns_t auth_timeout;      /* the handshake's limit (0: 10 s) */
	unsigned flags;               /* SHMRT_MANAGER_ANY_HOST */
	/* serve: called once every address listens, with their real forms (a TCP port 0
	 * replaced, "unix:" made a path), before the first request. NULL: none. */
	void (*on_ready)(const char *const *addresses, size_t n, void *arg);
	void *ready_arg;
	/* serve and start: ntypes user-registered types (shmrt/mtype.h), created by name
	 * as the built-in ones. NULL / 0: none. The tables must stay valid while the
	 * server runs. */
	const shmrt_mtype_t *const *types;
	size_t ntypes;
	/* Resource limits (serve). A peer past one is dropped or refused as told; 0 takes
	 * the default. */
	shmrt_ns_t frame_timeout;     /* a frame begun after the handshake must be whole
	                                 within this, or its connection is dropped (0: 30 s) */
	size_t max_buffered;          /* the server's partial frames and unread replies,
	                                 all connections together; past it the connection
	                                 holding the most is dropped (0: 1 GiB) */
	size_t max_parked;            /* a session's parked calls; one more is answered
	                                 -EDQUOT at once (0: 65536) */
	size_t max_conns;             /* connections, handshakes included; past it a new
	                                 one is closed at once (0: 4096) */
	size_t max_handshakes;        /* connections in the handshake; past it the oldest
	                                 is dropped (0: 128) */
	/* TLS (serve). With a certificate and key, every TCP listener (loopback ones
	 * included; never a Unix one) speaks TLS 1.3 only, and the authkey's handshake
	 * runs inside it. A TCP listener bound to an address that is not loopback
	 * (SHMRT_MANAGER_ANY_HOST) needs them, or SHMRT_MANAGER_INSECURE_NO_TLS. */
	const char *tls_cert_file;    /* PEM: the server's certificate, then its chain */
	const char *tls_key_file;     /* PEM: its private key */
	const char *tls_ca_file;      /* PEM CAs: set, a client must present a certificate
	                                 one of them signed; NULL: none asked */
	/* serve and start: shmrt regions (NULL-terminated names, as shmrt_region_open
	 * takes them; NULL: none) whose named objects authenticated clients may open
	 * (shmrt/remote.h). Each is opened, never created, when the server starts (a
	 * missing one fails the start: -ENOENT) and held attached until it stops. */
	const char *const *regions;
} shmrt_manager_opts_t;

/* ---- user-registered types -------------------------------------------------------
 *
 * opts.types registers C types (shmrt/mtype.h: a name, a constructor, a destructor,
 * methods) before the server starts: clients create them with shmrt_manager_create
 * and call them through proxies as any other type. serve and start refuse a bad
 * table with -EINVAL before listening: types NULL with ntypes > 0, more than
 * SHMRT_MTYPE_MAX types or SHMRT_MTYPE_METHODS_MAX methods, a NULL type, a NULL, empty,
 * too long (SHMRT_MTYPE_NAME_MAX) or non-UTF-8 name or one with a control character, a built-in or reserved type name,
 * a name registered twice, methods NULL with nmethods > 0, a method without fn, a
 * method name repeated in its type.
 */

/*
 * Runs a server in the calling thread until shmrt_manager_stop. Addresses are strings:
 * "unix:/ABS/PATH" (a socket in a directory only its owner
 * can enter, created 0700 if missing), "tcp:HOST:PORT" (loopback unless
 * SHMRT_MANAGER_ANY_HOST; port 0: the kernel picks), or "unix:" alone: a socket in a
 * fresh private directory (mkdtemp under $TMPDIR or /tmp), removed when the server
 * ends; on_ready tells the path.
 * TLS (opts.tls_*): the TLS handshake counts against auth_timeout and
 * max_handshakes as the authkey's does, so a silent TLS client is dropped like a
 * silent plain one; a client that does not speak TLS 1.3, presents no acceptable
 * certificate (with tls_ca_file), or is not TLS at all, is dropped and the server
 * goes on. A plain client (shmrt_manager_connect, Python's multiprocessing) waits
 * for a challenge that never comes: its connect fails at its timeout (-ETIMEDOUT)
 * or when the server drops it at auth_timeout (-EPIPE, -ECONNRESET).
 * Descriptors: a connection holds one, a shared-memory channel eight more until its
 * first call and five after; channels may take half of RLIMIT_NOFILE, and a local
 * client past it stays on its socket. A server of its own process
 * (shmrt_manager_start, `shmrt manager serve`) raises its soft limit to the hard one;
 * shmrt_manager_serve leaves the calling process's limit alone.
 * Returns 0 after a stop; -EINVAL (no address, a malformed one, no key, a bad table
 * of user types: see above; only one of tls_cert_file and tls_key_file); -EBUSY
 * (more than 8 servers run in this process); the errors of listening (-EADDRINUSE,
 * -EACCES, -EPERM ...); -EPERM also a TCP address that is not loopback without TLS
 * nor SHMRT_MANAGER_INSECURE_NO_TLS; TLS files: the errno of opening one (-ENOENT,
 * -EACCES), -EBADMSG (no PEM certificate or key in it), -EKEYREJECTED (the key does
 * not match the certificate); -ENOMEM; the errno of epoll.
 * Concurrency: any thread; the server is single-threaded. Ordering: see above.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_manager_serve(const shmrt_manager_opts_t *opts);

/*
 * Makes every shmrt_manager_serve of this process return (after closing its
 * connections). Async-signal-safe: call it from a signal handler or another thread.
 * A server that has not started its loop yet stops as soon as it does.
 * Concurrency: any thread, any time.
 */
SHMRT_API void shmrt_manager_stop(void);

typedef struct shmrt_manager_server shmrt_manager_server_t;

/*
 * Forks a server process serving address with the authkey and opts (NULL: defaults;
 * its addresses, authkey and on_ready are ignored) and returns once it listens. The
 * server dies with the caller (PR_SET_PDEATHSIG SIGKILL, set before it checks that
 * the caller still lives), so no server outlives its program; start it from a thread
 * that outlives it (the main thread). SIGTERM stops it cleanly.
 * Returns 0 and *out; -EINVAL (address, key, out, a bad table of user types, checked
 * before forking); the server's start error (as
 * shmrt_manager_serve's, when it exits before listening: -EADDRINUSE ...);
 * -ETIMEDOUT (not listening after 30 s: it is killed); -EAGAIN, -ENOMEM (fork).
 * Concurrency: any thread. Ordering: none.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_manager_start(const char *address, const void *authkey,
						 size_t keylen,
						 const shmrt_manager_opts_t *opts,
						 shmrt_manager_server_t **out);

/* The address the server listens on (the real one: "unix:/tmp/shmrt-mgr-.../socket",
 * a TCP port picked by the kernel), valid until shmrt_manager_shutdown. */
SHMRT_API const char *shmrt_manager_address(const shmrt_manager_server_t *srv);

/* The server's process id (to signal it, a test to kill it). */
SHMRT_API pid_t shmrt_manager_pid(const shmrt_manager_server_t *srv);

/*
 * Stops the server (SIGTERM, then SIGKILL after 5 s), reaps it and frees srv (NULL:
 * nothing). Returns 0; -ECHILD (already reaped by someone else); its exit status as
 * a positive number if it failed (or the killing signal's, negated).
 * Concurrency: one thread per srv.
 */
SHMRT_API int shmrt_manager_shutdown(shmrt_manager_server_t *srv);

/* ---- the client ----------------------------------------------------------------- */

typedef struct shmrt_manager_conn shmrt_manager_conn_t;
typedef struct shmrt_proxy shmrt_proxy_t;

/*
 * Connects to a server and authenticates (Python 3.12's handshake), both within
 * timeout. The key is copied. The connection's calls without a timeout argument use
 * 60 s (shmrt_manager_set_timeout changes it). A busy connection to a Unix address
 * moves to the shared-memory channel (shmrt_manager_connect_flags, flags 0);
 * SHMRT_MANAGER_SHM=1 in the environment asks for it at once, =0 never.
 * Returns 0 and *out; -EINVAL (bad address, empty key); -ENOENT, -ECONNREFUSED (no
 * server); -EACCES (wrong key: the server said #FAILURE#, or answered wrongly);
 * -ETIMEDOUT; -EPERM (a Unix server of another user); -ENOMEM; -EMFILE (no room in
 * this process's descriptor table, for the socket or, with the channel, its five);
 * the errors of connect.
 * Concurrency: any thread.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_manager_connect(const char *address, const void *authkey,
						   size_t keylen, shmrt_ns_t timeout,
						   shmrt_manager_conn_t **out);

/* How a client speaks TLS to a server with opts.tls_* (shmrt_manager_connect_tls). */
typedef struct shmrt_manager_tls {
	const char *ca_file;   /* PEM CAs the server's certificate must chain to; NULL:
	                          the system's trusted CAs */
	const char *host;      /* the DNS name or IP address the server's certificate
	                          must carry; NULL: the address's host */
	const char *cert_file; /* PEM: a client certificate (and chain) for a server
	                          that asks for one; NULL: none */
	const char *key_file;  /* PEM: its private key (with cert_file only) */
} shmrt_manager_tls_t;

/*
 * shmrt_manager_connect over TLS 1.3 to a "tcp:" address: the server's certificate
 * is verified (its chain to ca_file, its name or IP against host) before the
 * authkey's handshake, which then runs inside TLS, as every call after it. The
 * files are read once, here; shmrt_manager_reconnect speaks TLS again with them.
 * Returns as shmrt_manager_connect, and: -EINVAL (tls NULL, a "unix:" address,
 * key_file without cert_file or the reverse); a file's errno (-ENOENT, -EACCES),
 * -EBADMSG (no PEM certificate or key in it), -EKEYREJECTED (our key does not
 * match our certificate; or, in the handshake, a certificate refused: the server's
 * by us (another CA, another host, expired), or ours by the server (none given, or
 * not signed by its CA)); -EPROTONOSUPPORT (the server does not speak TLS 1.3);
 * -EPROTO (the server does not speak TLS: a plain one); -EPIPE (it closed the
 * connection in the TLS handshake).
 * Concurrency: any thread. Ordering: none (a new connection; its calls then order
 * as any connection's).
 */
SHMRT_API SHMRT_MUST_USE int shmrt_manager_connect_tls(const char *address,
						       const void *authkey, size_t keylen,
						       const shmrt_manager_tls_t *tls,
						       shmrt_ns_t timeout,
						       shmrt_manager_conn_t **out);

/* shmrt_manager_connect_flags: when to take the shared-memory channel (below). */
#define SHMRT_MANAGER_CONNECT_SHM 0x1u    /* at once, in the connect */
#define SHMRT_MANAGER_CONNECT_SOCKET 0x2u /* never: the socket only */
/* Without either flag, a connection asks for the channel once it has made this
 * many calls (shmrt_proxy_call, a batch's calls count one each). */
#define SHMRT_MANAGER_SHM_AFTER_CALLS 1024u

/*
 * As shmrt_manager_connect, with flags. The shared-memory channel: a client of a Unix
 * socket address whose server runs in the same PID namespace is handed (SCM_RIGHTS:
 * nothing is named) a private memfd region holding a shmrt Pipe pair, and its calls,
 * replies and parked calls then travel through the Pipe, with the same frames and
 * the same semantics (a call about 1 us instead of 5-12 us); the socket stays open
 * to tell each side of the other's end. A request or reply of any size is carried
 * (cut into the Pipe's messages and joined again, in order).
 * When: by default (flags 0) once the connection proves busy, at the start of its
 * SHMRT_MANAGER_SHM_AFTER_CALLS-th call, or of the first call after it that has a
 * second or more left (the ask takes milliseconds), when no reply is outstanding (a
 * connection whose call was given up at its deadline keeps its socket): a program
 * that connects for a few calls, or keeps many idle connections, pays nothing.
 * SHMRT_MANAGER_CONNECT_SHM asks in the connect, SHMRT_MANAGER_CONNECT_SOCKET never.
 * Where the channel cannot be had (a TCP address, another PID namespace, a server
 * without it or whose channels hold half its descriptor limit, a client without
 * six free descriptors) the connection stays on its socket, silently:
 * shmrt_manager_channel says which it got. shmrt_manager_reconnect starts again.
 * shmrt_manager_connect reads SHMRT_MANAGER_SHM: "1" as the SHM flag, "0" as SOCKET,
 * anything else as flags 0.
 * Cost (measured): asking takes about 3.5 ms (a connect on the socket: 0.1-0.5 ms)
 * and commits 4.1 MiB of shared memory (the region's rings), and the connection
 * holds five more descriptors (eight until its first call on the channel) in the
 * server and five in the client.
 * Errors: those of shmrt_manager_connect; -EINVAL (an unknown flag, or both); -EPROTO
 * (a server's channel that does not fit its description); the errors of opening a
 * region and a Pipe (-ENOMEM, -EMFILE ...). Asked for by the default, at a call:
 * the same errors, as that call's, which was not sent (the connection is then
 * broken, even on -ETIMEDOUT: the server may have moved to the channel).
 * The server's death is seen by a call waiting on the channel within about 50 ms
 * (-EPIPE); a server that drops the connection, at once (-EPIPE).
 * Concurrency: any thread. Ordering: as every call (above); a call's request is
 * visible to the server before the call waits (the Pipe's release/acquire, and the
 * server's doorbell when it sleeps).
 */
SHMRT_API SHMRT_MUST_USE int shmrt_manager_connect_flags(const char *address,
							 const void *authkey, size_t keylen,
							 shmrt_ns_t timeout, unsigned flags,
							 shmrt_manager_conn_t **out);

/* shmrt_manager_channel's answers. */
#define SHMRT_MANAGER_CHANNEL_SOCKET 0
#define SHMRT_MANAGER_CHANNEL_SHM 1

/*
 * Which channel conn's calls take: SHMRT_MANAGER_CHANNEL_SOCKET or _SHM; -ENOTCONN
 * (broken), -EINVAL (NULL). Concurrency: conn's thread. Ordering: none.
 */
SHMRT_API int shmrt_manager_channel(const shmrt_manager_conn_t *conn);

/*
 * Connects conn again to its address (after its server restarted, or after the
 * connection broke): the proxies made before it are stale (-ESTALE, see above),
 * whether the server is a new one or the same.
 * Returns as shmrt_manager_connect (conn is left broken on failure).
 * Concurrency: as conn's calls.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_manager_reconnect(shmrt_manager_conn_t *conn,
						     shmrt_ns_t timeout);

/* Closes the connection (the server drops its references) and frees it. Its proxies
 * must be released (freed) first or not used again. NULL: nothing. */
SHMRT_API void shmrt_manager_close(shmrt_manager_conn_t *conn);

/*
 * The server run's id: 63 random bits (never 0) the server draws once, learnt at
 * connect and at each reconnect; 0 for a server without it. Two connections with the
 * same id talk to the same run of the same server, so refs passed between them name
 * the same objects. Concurrency: conn's thread. Ordering: none.
 */
SHMRT_API uint64_t shmrt_manager_instance(const shmrt_manager_conn_t *conn);

/* Sets the timeout of conn's calls that take none (negative: forever). */
SHMRT_API void shmrt_manager_set_timeout(shmrt_manager_conn_t *conn, shmrt_ns_t timeout);

/*
 * Creates an object of type type_name (one of the types above, or a user-registered
 * one) initialised from init (NULL or nil: empty; a map for dict and Namespace (str
 * keys), a list for list; a user type's constructor reads it), which is CONSUMED
 * (freed, even on failure), and a proxy for it.
 * Returns 0 and *out; -ENOENT unknown type; -EINVAL init of the wrong kind; -ESTALE,
 * -ENOENT a ref in init that names no live object; a user constructor's error; the
 * errors above.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_manager_create(shmrt_manager_conn_t *conn,
						  const char *type_name, shmrt_mv_t *init,
						  shmrt_proxy_t **out);

/*
 * A proxy for the object with id ref (from shmrt_proxy_ref, or a ref in a result),
 * taking a reference on conn (or claiming the one a user method's shmrt_mtype_create
 * gave conn for it, see shmrt/mtype.h). Returns 0 and *out; -ESTALE, -ENOENT; the errors above.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_manager_proxy(shmrt_manager_conn_t *conn, uint64_t ref,
						 shmrt_proxy_t **out);

/* The id of p's object (pass it to another process; shmrt_mv_ref(id) stores it). */
SHMRT_API uint64_t shmrt_proxy_ref(const shmrt_proxy_t *p);

/*
 * Calls method on p's object with args (a list, CONSUMED even on failure; NULL: no
 * arguments), waiting at most timeout (negative: forever). *result (may be NULL: the
 * result is freed) gets the result, owned by the caller (nil for None).
 * Returns 0; the method's error; the errors above.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_proxy_call(shmrt_proxy_t *p, const char *method,
					      shmrt_mv_t *args, shmrt_ns_t timeout,
					      shmrt_mv_t **result);

/*
 * shmrt_proxy_call on the object with id ref over conn, without a proxy of conn:
 * conn takes no reference, so the object must be kept alive by another one (a
 * proxy of another connection of the process: Python's per-thread connections call
 * objects whose references their process's main connection holds). Returns as
 * shmrt_proxy_call (-EINVAL conn NULL); -ESTALE, -ENOENT an id that names no live
 * object.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_manager_call(shmrt_manager_conn_t *conn, uint64_t ref,
						const char *method, shmrt_mv_t *args,
						shmrt_ns_t timeout, shmrt_mv_t **result);

/* shmrt_proxy_call with 0 to 3 arguments (each CONSUMED; NULL from a failed
 * constructor gives -ENOMEM) and the connection's timeout. */
SHMRT_API SHMRT_MUST_USE int shmrt_proxy_call0(shmrt_proxy_t *p, const char *method,
					       shmrt_mv_t **result);
SHMRT_API SHMRT_MUST_USE int shmrt_proxy_call1(shmrt_proxy_t *p, const char *method,
					       shmrt_mv_t *a, shmrt_mv_t **result);
SHMRT_API SHMRT_MUST_USE int shmrt_proxy_call2(shmrt_proxy_t *p, const char *method,
					       shmrt_mv_t *a, shmrt_mv_t *b,
					       shmrt_mv_t **result);
SHMRT_API SHMRT_MUST_USE int shmrt_proxy_call3(shmrt_proxy_t *p, const char *method,
					       shmrt_mv_t *a, shmrt_mv_t *b, shmrt_mv_t *c,
					       shmrt_mv_t **result);

/*
 * Python's Condition.wait_for: with cond's lock held by this connection, evaluates
 * pred(arg) and, while it returns 0, waits on cond (the lock released while waiting
 * and held again after) and evaluates it again, until it returns non-zero or timeout
 * (negative: forever) has passed; it is evaluated once more after the last wait.
 * pred runs in the calling thread with the lock held, so it may read what the
 * condition guards through other proxies of this connection.
 * Returns pred's last value: non-zero, or 0 when the timeout passed with it false;
 * -EINVAL cond or pred NULL; a wait's error, the lock then held as that wait says
 * (-EPERM the lock not held by this connection; -EOWNERDEAD held again from a holder
 * that died); -ENOMEM; the errors of shmrt_proxy_call. A negative value of pred's
 * ends the loop and is returned as it is.
 * Concurrency: the connection's thread. Ordering: pred sees every change made under
 * the lock before this connection took it back.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_proxy_wait_for(shmrt_proxy_t *cond, int (*pred)(void *arg),
						  void *arg, shmrt_ns_t timeout);

/* One call of a batch (shmrt_proxy_call_batch). */
typedef struct shmrt_proxy_req {
	shmrt_proxy_t *proxy;   /* in: a proxy of the batch's connection */
	const char *method;     /* in */
	shmrt_mv_t *args;       /* in: a list, CONSUMED (set to NULL); NULL: no arguments */
	shmrt_mv_t *result;     /* out: the result, owned by the caller; NULL unless rc is 0 */
	int rc;                 /* out: 0, the method's error, or the batch's error */
} shmrt_proxy_req_t;

/*
 * Pipelined calls: sends the n calls of reqs (in one write when the socket takes it),
 * then reads their n replies, matched by id (the server answers in request order
 * except for calls it parks). Each reqs[i] gets its own rc and result; the args are
 * consumed whatever happens. Every proxy must belong to conn. The replies of a batch
 * wait in the server until read: a batch whose replies pass the server's max_queued
 * gets its connection dropped (keep batches to tens of calls).
 * Returns 0 when every reply came (each call's own outcome is in its rc; a stale
 * proxy's call has -ESTALE and is not sent); -EINVAL (a NULL or foreign proxy, a
 * NULL method, args not a list: nothing sent); -ETIMEDOUT (the calls still without
 * a reply are cancelled as a single call's are, in one "cancel": those whose reply
 * comes first keep it, the others have rc -ETIMEDOUT and did not happen); the
 * transport errors of shmrt_proxy_call (then the calls without a reply have that
 * rc).
 * Concurrency: the connection's thread, as shmrt_proxy_call.
 * Ordering: the calls run in the server in the order of reqs.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_proxy_call_batch(shmrt_manager_conn_t *conn,
						    shmrt_proxy_req_t *reqs, size_t n,
						    shmrt_ns_t timeout);

/*
 * Drops p's reference on the server and frees p (NULL: 0). Returns 0, or the error
 * of the release (p is freed anyway; a broken connection's references went with it);
 * -ESTALE a proxy of an earlier socket, freed without asking the server.
 */
SHMRT_API int shmrt_proxy_release(shmrt_proxy_t *p);

/*
 * Server-wide figures as a map {"objects": n, "sessions": n, "epoch": e, "parked": n
 * (calls waiting in the server), "buffered": n (bytes of partial frames and unread
 * replies), "handshakes": n (connections in the handshake)}, owned by the caller. Returns 0 or the errors above.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_manager_stats(shmrt_manager_conn_t *conn, shmrt_mv_t **out);

/*
 * What the server holds, as a map {"epoch": e, "sessions": n, "count": n,
 * "truncated": bool, "objects": [{"id": ref, "type": str, "len": n, "bytes": n,
 * "refs": n}, ...]}, owned by the caller: objects by id (creation order), at most
 * 100000 of them ("count" is the true number); len as Python's len(), bytes the
 * value's size in msgpack, refs its reference count. For `shmrt manager ls`.
 * Returns 0 or the errors above.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_manager_objects(shmrt_manager_conn_t *conn, shmrt_mv_t **out);

/* A round trip that does nothing. Returns 0 or the errors above. */
SHMRT_API SHMRT_MUST_USE int shmrt_manager_ping(shmrt_manager_conn_t *conn);

#ifdef __cplusplus
}
#endif
#endif /* SHMRT_MANAGER_H */
