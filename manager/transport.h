/*
 * The manager's transports: addresses, listening and connected sockets (internal).
 *
 * An address is a string, as the manager's users and its command line write it:
 *   unix:/ABSOLUTE/PATH     a Unix stream socket in a directory only its owner can enter
 *   tcp:HOST:PORT           TCP; HOST is a name (getaddrinfo), an IPv4 literal, or an
 *                           IPv6 literal in brackets (tcp:[::1]:5000); PORT 0..65535
 *                           (0 only to listen: the kernel picks one, see the listener's
 *                           address)
 * Parsing is strict: anything else is -EINVAL with a reason for people.
 *
 * Every socket is non-blocking and close-on-exec, made for the server's epoll loop;
 * the blocking client calls wait with poll() until their deadline.
 *
 * Unix sockets (never the abstract namespace): the socket's directory must belong to
 * the caller and be closed to group and others (mode & 077 == 0), or not exist, in
 * which case listen creates it 0700 (its parent must exist). A directory of another
 * user is -EPERM, an open one -EACCES. A socket file left by a dead server (nothing
 * accepts on it) is removed; a live one is -EADDRINUSE; a file that is not a socket
 * is -EEXIST, never removed. Accept checks the peer's credentials (SO_PEERCRED): the
 * same effective uid, or root; connect checks the server's the same way.
 * TCP: listen binds loopback addresses only (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104)
 * unless the caller passes SHMRT__LISTEN_ANY_HOST; TCP_NODELAY on every connection.
 */
#ifndef SHMRT_MANAGER_TRANSPORT_H
#define SHMRT_MANAGER_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <shmrt/common.h>

enum shmrt__addr_kind {
	SHMRT__ADDR_UNIX = 1,
	SHMRT__ADDR_TCP = 2,
};

/* sun_path holds 108 bytes with its NUL; a longer path cannot be bound. */
#define SHMRT__UNIX_PATH_MAX 107
/* A DNS name is at most 253 characters. */
#define SHMRT__HOST_MAX 253
/* The longest address string: "tcp:[" host "]:" 65535, or "unix:" path. */
#define SHMRT__ADDR_STR_MAX (4 + 2 + SHMRT__HOST_MAX + 1 + 5 + 1)

typedef struct shmrt__addr {
	int kind;                          /* SHMRT__ADDR_UNIX or SHMRT__ADDR_TCP */
	char path[SHMRT__UNIX_PATH_MAX + 1];  /* unix: the socket's absolute path */
	char host[SHMRT__HOST_MAX + 1];    /* tcp: name or literal, without brackets */
	uint16_t port;                     /* tcp: host order; 0 = any (listen only) */
} shmrt__addr_t;

/*
 * Parses an address string into *out.
 * Returns: 0; -EINVAL if s is not one of the forms above (why, if not NULL, is set to
 * a static sentence saying what is wrong: "unix path must be absolute", "tcp port out
 * of range" ...). Paths: absolute, at most 107 bytes, not a directory ("/x/"), no "."
 * or ".." component, no empty component. Hosts: an IPv4 literal, a name of letters,
 * digits, '-' and '.', or an IPv6 literal in brackets; a port of 1 to 5 decimal digits.
 * Concurrency: any thread, any time (pure). *why is left alone on success.
 */
SHMRT_MUST_USE int shmrt__addr_parse(const char *s, shmrt__addr_t *out, const char **why);

/*
 * Writes a's string form ("unix:/p", "tcp:127.0.0.1:5000", "tcp:[::1]:5000") to buf.
 * Returns: 0; -ENAMETOOLONG if it does not fit in n bytes (buf then holds nothing
 * useful); -EINVAL for an address of no known kind.
 * Concurrency: any thread (pure).
 */
SHMRT_MUST_USE int shmrt__addr_format(const shmrt__addr_t *a, char *buf, size_t n);

/* Listen flag: a TCP listener may bind a non-loopback address (all interfaces
 * included). Without it such an address is -EACCES. */
#define SHMRT__LISTEN_ANY_HOST 0x1u

typedef struct shmrt__listener {
	int fd;                 /* non-blocking, close-on-exec; -1 once closed */
	shmrt__addr_t addr;     /* what was bound: a TCP port 0 is replaced by the real one */
	dev_t dev;              /* unix: the socket file's identity, so close unlinks */
	ino_t ino;              /* only the file this listener made */
} shmrt__listener_t;

/*
 * Binds and listens on a (backlog: the listen queue, <= 0 for SOMAXCONN).
 * Returns: 0 and *out; -EINVAL (bad address kind, port 0 with a name that resolves
 * to nothing bindable), -EPERM (the Unix socket's directory belongs to another user),
 * -EACCES (the directory is open to group or others; a TCP address that is not
 * loopback without SHMRT__LISTEN_ANY_HOST), -EADDRINUSE (a live listener holds the
 * path or port), -EEXIST (the path is a file that is not a socket), -ENOENT (the
 * directory's parent does not exist), -EHOSTUNREACH (the name does not resolve), or
 * the errno of socket/bind/listen.
 * Concurrency: any thread. Two listeners racing for one stale Unix path may both find
 * it stale; bind is atomic, so one wins, and the loser gets -EADDRINUSE unless it
 * unlinked the winner's fresh file first (both belong to one user: the directory is
 * its own).
 */
SHMRT_MUST_USE int shmrt__listen(const shmrt__addr_t *a, unsigned flags, int backlog,
				 shmrt__listener_t *out);

/*
 * Closes the listener; a Unix listener removes its socket file if the path still
 * names the file it bound (not one another listener made since). Idempotent.
 * Concurrency: not with other calls on l.
 */
void shmrt__listener_close(shmrt__listener_t *l);

/*
 * Accepts one connection: *fd_out non-blocking and close-on-exec, TCP_NODELAY on TCP.
 * Unix peers are checked by SO_PEERCRED: another user's (not root's) connection is
 * closed and -EPERM returned (the caller just accepts the next one).
 * Returns: 0; -EAGAIN when no connection is waiting; -EPERM as above; the errno of
 * accept4 (-EMFILE, -ENFILE, -ENOBUFS, -ENOMEM: the caller backs off); -ECONNABORTED
 * for a peer that left before we took it.
 * Concurrency: any thread; several threads may accept on one listener.
 */
SHMRT_MUST_USE int shmrt__accept(shmrt__listener_t *l, int *fd_out);

/*
 * Connects to a, waiting at most timeout_ns (negative: forever; 0: only what needs no
 * wait) for the connection, trying every address a TCP name resolves to in order.
 * *fd_out is non-blocking and close-on-exec, TCP_NODELAY on TCP. A Unix server is
 * checked by SO_PEERCRED (same uid or root) unless the caller is root.
 * Returns: 0; -EINVAL (port 0, unknown kind); -ENOENT (no socket at the path);
 * -ECONNREFUSED (nobody listens); -ETIMEDOUT; -EPERM (a Unix server of another
 * user); -EHOSTUNREACH (the name does not resolve); or the errno of connect.
 * Concurrency: any thread.
 */
SHMRT_MUST_USE int shmrt__connect(const shmrt__addr_t *a, int64_t timeout_ns, int *fd_out);

/*
 * Checks a Unix socket's directory (the path's parent) as listen does, creating it
 * 0700 when create is set and it does not exist.
 * Returns: 0; -EPERM (another user's directory), -EACCES (mode & 077 != 0), -ENOTDIR,
 * -ENOENT (missing and not created), or the errno of mkdir/open.
 * Concurrency: any thread.
 */
SHMRT_MUST_USE int shmrt__unix_dir_check(const char *path, int create);

/*
 * Waits until fd is ready for events (POLLIN/POLLOUT) or the absolute monotonic
 * deadline (base/clock.h; SHMRT_NO_DEADLINE: forever) passes.
 * Returns: 0 ready (or an error or hang-up is pending: the next I/O call says which);
 * -ETIMEDOUT; the errno of poll other than EINTR (retried).
 * Concurrency: any thread.
 */
SHMRT_MUST_USE int shmrt__wait_fd(int fd, short events, uint64_t deadline);

/*
 * How long a waiting side polls before it sleeps (ns): the client for its reply, the
 * server for its next request after a busy wake-up. A round trip in which either side
 * sleeps costs two wake-ups (tens of microseconds on a VM); polling briefly keeps a
 * busy conversation awake, and the bound keeps an idle one (or an oversubscribed
 * machine) from burning more than that per wait. SHMRT_MANAGER_SPIN_US sets it (0:
 * never poll), read once per process; SHMRT__SPIN_NS_DEFAULT otherwise.
 * Concurrency: any thread.
 */
#define SHMRT__SPIN_NS_DEFAULT 50000u
uint64_t shmrt__spin_ns(void);

/*
 * How long to poll before this wait's sleep: shmrt__spin_ns(), or 0 while polling is
 * backing off. A poll yields with shmrt__spin_yield, which times each yield: one
 * that gave the core away for more than 200 us (a stranger's time slice: the machine
 * is crowded) makes the next waits sleep at once, 8 of them, doubling with each
 * further such yield up to 4096; a wait polled without one halves the back-off.
 * Concurrency: any thread (a per-process hint).
 */
uint64_t shmrt__spin_now(void);
void shmrt__spin_yield(void);

#endif /* SHMRT_MANAGER_TRANSPORT_H */
