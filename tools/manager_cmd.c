/*
 * shmrt manager: run a Manager server, and list what one holds.
 *
 *   shmrt manager serve --address ADDR [--address ADDR]... --authkey-file FILE
 *                       [--any-host] [--region NAME]... [--tls-cert FILE --tls-key FILE
 *                       [--tls-client-ca FILE]] [--insecure-no-tls]
 *       Serves in the foreground until SIGINT or SIGTERM, then closes every
 *       connection and exits 0. Prints "listening on ADDR" (the real address: a
 *       "unix:" made a path, a TCP port 0 the kernel's pick) once per address when
 *       it is ready. --any-host lets a TCP address be other than loopback; such an
 *       address needs TLS 1.3 (--tls-cert, --tls-key: PEM files; every TCP address
 *       then speaks TLS; --tls-client-ca: clients must present a certificate that
 *       CA signed), or --insecure-no-tls, which prints a warning: the authkey then
 *       guards the handshake only, and every call crosses the network in clear.
 *       --region NAME attaches the existing shmrt region NAME (never creating it)
 *       and lets clients open its objects (shmrt/remote.h).
 *   shmrt manager ls [--json] ADDRESS --authkey-file FILE [--tls] [--tls-ca FILE]
 *                    [--tls-host NAME] [--tls-cert FILE --tls-key FILE]
 *       The server's epoch, sessions (this one included) and objects: id, type, len
 *       (Python's len()), bytes (the value's size in msgpack), references. Any
 *       --tls option connects over TLS 1.3: the server's certificate checked against
 *       --tls-ca (default: the system's CAs) and for --tls-host (default: ADDRESS's
 *       host).
 *
 * The authkey is the file's bytes, exactly (a trailing newline is part of it; 1 byte
 * to 64 KiB). The file must be a regular file of the caller (or root) that neither
 * group nor others may access (chmod 600), as ssh requires of its keys: a key others
 * can read is no secret, and a server that accepted one would be open to them.
 *
 * Exit status: 0 ok, 1 an error, 2 usage.
 */
#define _GNU_SOURCE
#include <shmrt.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

int shmrt_tool_manager(int argc, char **argv);

#define KEY_MAX (64 * 1024)
#define ADDR_MAX 16
#define REGION_MAX 64 /* SHMRT_REMOTE_REGIONS_MAX */

static void usage(void)
{
	fprintf(stderr,
		"usage: shmrt manager serve --address ADDR [--address ADDR]... "
		"--authkey-file FILE [--any-host] [--region NAME]...\n"
		"         [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]] "
		"[--insecure-no-tls]\n"
		"       shmrt manager ls [--json] ADDRESS --authkey-file FILE [--tls] "
		"[--tls-ca FILE]\n"
		"         [--tls-host NAME] [--tls-cert FILE --tls-key FILE]\n"
		"ADDR: unix:/PATH, unix: (a private temporary directory), tcp:HOST:PORT\n"
		"--region NAME: attach that shmrt region and serve its objects to clients\n");
	exit(2);
}

/* Reads the key file into *key (malloc'd) after checking who may read it.
 * Returns 0, or 1 having said why on stderr. */
static int read_key(const char *path, unsigned char **key, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		fprintf(stderr, "shmrt: %s: %s\n", path, strerror(errno));
		return 1;
	}
	struct stat s;
	if (fstat(fd, &s) != 0) {
		fprintf(stderr, "shmrt: %s: %s\n", path, strerror(errno));
		close(fd);
		return 1;
	}
	const char *why = NULL;
	if (!S_ISREG(s.st_mode))
		why = "not a regular file";
	else if (s.st_uid != geteuid() && s.st_uid != 0)
		why = "belongs to another user";
	else if (s.st_mode & 077)
		why = "group or others may access it (chmod 600 it)";
	else if (s.st_size < 1 || s.st_size > KEY_MAX)
		why = "empty or larger than 64 KiB";
	if (why) {
		fprintf(stderr, "shmrt: authkey file %s: %s\n", path, why);
		close(fd);
		return 1;
	}
	unsigned char *k = malloc((size_t)s.st_size);
	size_t got = 0;
	while (k && got < (size_t)s.st_size) {
		ssize_t r = read(fd, k + got, (size_t)s.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (!k || got != (size_t)s.st_size) {
		fprintf(stderr, "shmrt: authkey file %s: could not read it\n", path);
		free(k);
		return 1;
	}
	*key = k;
	*len = got;
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
	shmrt_manager_stop(); /* async-signal-safe */
}

static void on_ready(const char *const *addresses, size_t n, void *arg)
{
	(void)arg;
	for (size_t i = 0; i < n; i++)
		printf("listening on %s\n", addresses[i]);
	fflush(stdout);
}

static int cmd_serve(int argc, char **argv)
{
	const char *addrs[ADDR_MAX], *keyfile = NULL, *cert = NULL, *tkey = NULL, *ca = NULL;
	const char *regions[REGION_MAX + 1];
	size_t naddrs = 0, nregions = 0;
	unsigned flags = 0;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--address") && i + 1 < argc && naddrs < ADDR_MAX)
			addrs[naddrs++] = argv[++i];
		else if (!strcmp(argv[i], "--authkey-file") && i + 1 < argc && !keyfile)
			keyfile = argv[++i];
		else if (!strcmp(argv[i], "--any-host"))
			flags |= SHMRT_MANAGER_ANY_HOST;
		else if (!strcmp(argv[i], "--insecure-no-tls"))
			flags |= SHMRT_MANAGER_INSECURE_NO_TLS;
		else if (!strcmp(argv[i], "--tls-cert") && i + 1 < argc && !cert)
			cert = argv[++i];
		else if (!strcmp(argv[i], "--tls-key") && i + 1 < argc && !tkey)
			tkey = argv[++i];
		else if (!strcmp(argv[i], "--tls-client-ca") && i + 1 < argc && !ca)
			ca = argv[++i];
		else if (!strcmp(argv[i], "--region") && i + 1 < argc && nregions < REGION_MAX)
			regions[nregions++] = argv[++i];
		else
			usage();
	}
	if (!naddrs || !keyfile || !cert != !tkey || (ca && !cert))
		usage();
	if ((flags & SHMRT_MANAGER_INSECURE_NO_TLS) && !cert)
		fprintf(stderr, "shmrt: WARNING: --insecure-no-tls: TCP connections are not "
				"encrypted; anyone on the network path can read every call and "
				"take over an authenticated connection\n");
	regions[nregions] = NULL;
	unsigned char *key;
	size_t keylen;
	if (read_key(keyfile, &key, &keylen))
		return 1;

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	shmrt_manager_opts_t o;
	memset(&o, 0, sizeof(o));
	o.addresses = addrs;
	o.naddresses = naddrs;
	o.authkey = key;
	o.keylen = keylen;
	o.flags = flags;
	o.on_ready = on_ready;
	o.tls_cert_file = cert;
	o.tls_key_file = tkey;
	o.tls_ca_file = ca;
	o.regions = nregions ? regions : NULL;
	/* The daemon is a process of its own: its descriptors are its clients' (each a
	 * socket, a shared-memory channel up to eight more), as a Redis server raises it. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl); /* best effort */
	}
	int rc = shmrt_manager_serve(&o);
	memset(key, 0, keylen);
	free(key);
	if (rc) {
		const char *why = shmrt_strerror(rc);
		if (rc == -EPERM && (flags & SHMRT_MANAGER_ANY_HOST) && !cert)
			why = "a TCP address that is not loopback needs TLS (--tls-cert and "
			      "--tls-key), or --insecure-no-tls";
		else if (rc == -EKEYREJECTED)
			why = "the TLS key does not match the certificate";
		else if (rc == -EBADMSG && cert)
			why = "a TLS file holds no PEM certificate or key";
		else if ((rc == -ENOENT || rc == -EACCES) && cert)
			why = rc == -ENOENT ? "a TLS file (or an address's directory) does not exist"
					    : "a TLS file (or an address's directory) may not be read";
		fprintf(stderr, "shmrt: manager serve: %s\n", why);
		return 1;
	}
	return 0;
}

static void jstr(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static int64_t int_at(const shmrt_mv_t *m, const char *k)
{
	int64_t v = -1;
	(void)shmrt_mv_as_int(shmrt_mv_map_get_str(m, k), &v);
	return v;
}

static int cmd_ls(int argc, char **argv)
{
	const char *addr = NULL, *keyfile = NULL;
	shmrt_manager_tls_t tls;
	memset(&tls, 0, sizeof(tls));
	int json = 0, use_tls = 0;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--tls"))
			use_tls = 1;
		else if (!strcmp(argv[i], "--tls-ca") && i + 1 < argc && !tls.ca_file)
			use_tls = 1, tls.ca_file = argv[++i];
		else if (!strcmp(argv[i], "--tls-host") && i + 1 < argc && !tls.host)
			use_tls = 1, tls.host = argv[++i];
		else if (!strcmp(argv[i], "--tls-cert") && i + 1 < argc && !tls.cert_file)
			use_tls = 1, tls.cert_file = argv[++i];
		else if (!strcmp(argv[i], "--tls-key") && i + 1 < argc && !tls.key_file)
			use_tls = 1, tls.key_file = argv[++i];
		else if (!strcmp(argv[i], "--authkey-file") && i + 1 < argc && !keyfile)
			keyfile = argv[++i];
		else if (argv[i][0] != '-' && !addr)
			addr = argv[i];
		else
			usage();
	}
	if (!addr || !keyfile || !tls.cert_file != !tls.key_file)
		usage();
	unsigned char *key;
	size_t keylen;
	if (read_key(keyfile, &key, &keylen))
		return 1;
	shmrt_manager_conn_t *conn; /* one call: the socket, no shared-memory channel */
	int rc = use_tls ? shmrt_manager_connect_tls(addr, key, keylen, &tls, 10000000000LL, &conn)
			 : shmrt_manager_connect_flags(addr, key, keylen, 10000000000LL, 0, &conn);
	memset(key, 0, keylen);
	free(key);
	if (rc) {
		fprintf(stderr, "shmrt: %s: %s%s\n", addr, shmrt_strerror(rc),
			rc == -EKEYREJECTED ? " (a TLS certificate was refused)" : "");
		return 1;
	}
	shmrt_manager_set_timeout(conn, 10000000000LL);
	shmrt_mv_t *r;
	rc = shmrt_manager_objects(conn, &r);
	shmrt_manager_close(conn);
	if (rc) {
		fprintf(stderr, "shmrt: %s: %s\n", addr, shmrt_strerror(rc));
		return 1;
	}
	const shmrt_mv_t *objs = shmrt_mv_map_get_str(r, "objects");
	bool truncated = false;
	(void)shmrt_mv_as_bool(shmrt_mv_map_get_str(r, "truncated"), &truncated);
	size_t n = shmrt_mv_list_len(objs);
	if (json) {
		printf("{\"address\": ");
		jstr(addr);
		printf(", \"epoch\": %" PRId64 ", \"sessions\": %" PRId64 ", \"count\": %" PRId64
		       ", \"truncated\": %s, \"objects\": [",
		       int_at(r, "epoch"), int_at(r, "sessions"), int_at(r, "count"),
		       truncated ? "true" : "false");
	} else {
		printf("manager %s: epoch %" PRId64 ", %" PRId64 " sessions (this one included), %" PRId64
		       " objects%s\n",
		       addr, int_at(r, "epoch"), int_at(r, "sessions"), int_at(r, "count"),
		       truncated ? " (the first 100000 shown)" : "");
		if (n)
			printf("%-18s  %-10s %10s %12s %6s\n", "ID", "TYPE", "LEN", "BYTES", "REFS");
	}
	for (size_t i = 0; i < n; i++) {
		const shmrt_mv_t *o = shmrt_mv_list_get(objs, (int64_t)i);
		uint64_t id = 0;
		const char *type = "?";
		(void)shmrt_mv_as_ref(shmrt_mv_map_get_str(o, "id"), &id);
		(void)shmrt_mv_as_str(shmrt_mv_map_get_str(o, "type"), &type, NULL);
		if (json) {
			printf("%s{\"id\": \"0x%016" PRIx64 "\", \"type\": ", i ? ", " : "", id);
			jstr(type);
			printf(", \"len\": %" PRId64 ", \"bytes\": %" PRId64 ", \"refs\": %" PRId64 "}",
			       int_at(o, "len"), int_at(o, "bytes"), int_at(o, "refs"));
		} else {
			printf("0x%016" PRIx64 "  %-10s %10" PRId64 " %12" PRId64 " %6" PRId64 "\n", id,
			       type, int_at(o, "len"), int_at(o, "bytes"), int_at(o, "refs"));
		}
	}
	if (json)
		printf("]}\n");
	shmrt_mv_free(r);
	return 0;
}

/* shmrt manager SUBCOMMAND ...: argv[0] is the subcommand. */
int shmrt_tool_manager(int argc, char **argv)
{
	if (argc < 1)
		usage();
	if (!strcmp(argv[0], "serve"))
		return cmd_serve(argc - 1, argv + 1);
	if (!strcmp(argv[0], "ls"))
		return cmd_ls(argc - 1, argv + 1);
	usage();
	return 2;
}
