/*
 * Regions: create, open and close, names and options, validation of foreign and
 * damaged files, stale and slow creators, auto-unlink, the memfd and file backings,
 * and a corrupted lock word. Creation races are in tests/mp; the registry is in
 * registry_test.c, the directory in directory_test.c.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/region_int.h"

static shmrt_region_t *open_existing(const char *name, int *rc_out)
{
	shmrt_region_t *r = NULL;
	*rc_out = shmrt_region_open(name, 0, NULL, &r);
	return r;
}

static void t_create_open_close(void **s)
{
	(void)s;
	const char *name = tu_name("basic");
	shmrt_region_t *r = tu_create(name, 8 << 20, 0);
	assert_string_equal(shmrt_region_name(r), name);
	assert_int_equal(shmrt_region_size(r), 8 << 20);

	/* A second handle in the same process sees the same bytes. */
	int rc;
	shmrt_region_t *r2 = open_existing(name, &rc);
	assert_int_equal(rc, 0);
	shmrt_object_info_t oi;
	assert_int_equal(shmrt_object_open(r, "x", SHMRT_O_CREATE, SHMRT_TYPE_BYTES, 100, NULL,
					   &oi), 0);
	strcpy(shmrt_ptr(r, oi.off), "hello");
	shmrt_object_info_t oi2;
	assert_int_equal(shmrt_object_lookup(r2, "x", &oi2), 0);
	assert_int_equal(oi2.off, oi.off);
	assert_string_equal(shmrt_ptr(r2, oi2.off), "hello");
	assert_int_equal(shmrt_region_close(r2), 0);

	/* Exclusive creation of an existing name, plain open of a missing one. */
	shmrt_region_t *r3 = NULL;
	assert_int_equal(shmrt_region_open(name, SHMRT_O_CREATE | SHMRT_O_EXCL, NULL, &r3), -EEXIST);
	assert_null(r3);
	assert_int_equal(shmrt_region_open(tu_name("missing"), 0, NULL, &r3), -ENOENT);
	/* Create-or-open opens the existing one. */
	assert_int_equal(shmrt_region_open(name, SHMRT_O_CREATE, NULL, &r3), 0);
	assert_int_equal(shmrt_object_lookup(r3, "x", &oi2), 0);
	shmrt_region_close(r3);

	/* Default permissions are 0600. */
	char path[256];
	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	shmrt_region_close(r);
	/* Persistent: the name outlives its last process. */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(shmrt_region_unlink(name), 0);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(shmrt_region_unlink(name), -ENOENT);
}

static void t_bad_names_and_opts(void **s)
{
	(void)s;
	shmrt_region_t *r = NULL;
	char longname[SHMRT_NAME_MAX + 2];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	assert_int_equal(shmrt_region_open(longname, SHMRT_O_CREATE, NULL, &r), -ENAMETOOLONG);
	assert_int_equal(shmrt_region_open("", SHMRT_O_CREATE, NULL, &r), -EINVAL);
	assert_int_equal(shmrt_region_open("a/b", SHMRT_O_CREATE, NULL, &r), -EINVAL);
	assert_int_equal(shmrt_region_open("..", SHMRT_O_CREATE, NULL, &r), -EINVAL);
	assert_int_equal(shmrt_region_open(NULL, 0, NULL, &r), -EINVAL);
	assert_int_equal(shmrt_region_open("ok", 0x80, NULL, &r), -EINVAL);
	assert_int_equal(shmrt_region_open("ok", SHMRT_O_CREATE | 0x1, NULL, &r), -EINVAL);
	assert_int_equal(shmrt_region_open("ok", SHMRT_O_FRESH, NULL, &r), -EINVAL);
	assert_int_equal(shmrt_region_open("ok", SHMRT_O_CREATE | SHMRT_O_NOATTACH, NULL, &r), -EINVAL);
	shmrt_region_opts_t o;
	shmrt_region_opts_init(&o);
	o.size = 4096; /* too small for header, registry, directory and arena */
	assert_int_equal(shmrt_region_open(tu_name("tiny"), SHMRT_O_CREATE, &o, &r), -EINVAL);
	shmrt_region_opts_init(&o);
	o.max_procs = 100000;
	assert_int_equal(shmrt_region_open(tu_name("big"), SHMRT_O_CREATE, &o, &r), -EINVAL);
	assert_null(r);
	/* Nothing was left behind by the failed creations. */
	assert_int_equal(shmrt_region_open("tiny", 0, NULL, &r), -ENOENT);
	assert_string_equal(shmrt_strerror(-EBADMSG),
			    "not a shmrt region, or its header or data is corrupted");
}

/* Writes bytes into /dev/shm/NAME directly. */
static void write_file(const char *name, const void *buf, size_t n)
{
	char path[256];
	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, n), (ssize_t)n);
	close(fd);
}

static void t_validation(void **s)
{
	(void)s;
	int rc;
	/* A foreign file. */
	const char *foreign = tu_name("foreign");
	char junk[8192];
	memset(junk, 0x5a, sizeof(junk));
	write_file(foreign, junk, sizeof(junk));
	assert_null(open_existing(foreign, &rc));
	assert_int_equal(rc, -EBADMSG);
	/* Not removed by shmrt_region_unlink either: it is not ours. */
	assert_int_equal(shmrt_region_unlink(foreign), -EBADMSG);

	/* A valid region, then damaged in several ways. */
	const char *name = tu_name("damaged");
	shmrt_region_t *r = tu_create(name, 4 << 20, 0);
	shmrt_region_close(r);
	char path[256];
	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	struct shmrt_geom g, orig;
	assert_int_equal(pread(fd, &orig, sizeof(orig), 0), (ssize_t)sizeof(orig));

	/* Corrupted geometry: checksum mismatch. */
	g = orig;
	g.max_objects ^= 1;
	assert_int_equal(pwrite(fd, &g, sizeof(g), 0), (ssize_t)sizeof(g));
	assert_null(open_existing(name, &rc));
	assert_int_equal(rc, -EBADMSG);

	/* A layout version from the future. */
	g = orig;
	g.layout_version = SHMRT_LAYOUT_VERSION + 1;
	g.checksum = shmrt__fnv1a(&g, offsetof(struct shmrt_geom, checksum));
	assert_int_equal(pwrite(fd, &g, sizeof(g), 0), (ssize_t)sizeof(g));
	assert_null(open_existing(name, &rc));
	assert_int_equal(rc, -EPROTONOSUPPORT);

	/* Consistent checksum over inconsistent offsets. */
	g = orig;
	g.dir_off += 64;
	g.checksum = shmrt__fnv1a(&g, offsetof(struct shmrt_geom, checksum));
	assert_int_equal(pwrite(fd, &g, sizeof(g), 0), (ssize_t)sizeof(g));
	assert_null(open_existing(name, &rc));
	assert_int_equal(rc, -EBADMSG);

	/* Restored, it opens again. */
	assert_int_equal(pwrite(fd, &orig, sizeof(orig), 0), (ssize_t)sizeof(orig));
	r = open_existing(name, &rc);
	assert_int_equal(rc, 0);
	shmrt_region_close(r);

	/* Truncated. */
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	assert_null(open_existing(name, &rc));
	assert_int_equal(rc, -EBADMSG);
	close(fd);

	/* A garbage-filled file of header size and more. */
	const char *g2 = tu_name("garbage");
	uint64_t seed = 7;
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)tu_rand(&seed);
	write_file(g2, junk, sizeof(junk));
	assert_null(open_existing(g2, &rc));
	assert_int_equal(rc, -EBADMSG);
}

static int shm_exists(const char *name);

static void t_stale_creator(void **s)
{
	(void)s;
	shmrt_region_opts_t o;
	shmrt_region_opts_init(&o);
	o.open_timeout = 0;
	shmrt_region_t *r = NULL;
	/* Files without the magic are not regions, whatever their size: an empty one
	 * (what a creator in place leaves if it dies right after its O_EXCL open, or
	 * anyone's empty file) and a zero-filled one are never taken for a region nor
	 * removed or replaced as one. */
	static char zeros[65536];
	const struct {
		const char *tag;
		size_t n;
	} foreign[] = { { "empty", 0 }, { "zeros", sizeof(zeros) } };
	for (int i = 0; i < 2; i++) {
		const char *name = tu_name(foreign[i].tag);
		write_file(name, zeros, foreign[i].n);
		assert_int_equal(shmrt_region_open(name, 0, &o, &r), -EBADMSG);
		assert_int_equal(shmrt_region_open(name, SHMRT_O_CREATE, &o, &r), -EBADMSG);
		assert_int_equal(shmrt_region_unlink(name), -EBADMSG);
		assert_true(shm_exists(name));
	}
	/* A creator in place that died after its first write (the magic): a shmrt file
	 * whose creator is gone, proved by the free lock: stale, and replaced by a fresh
	 * region under O_CREATE. */
	const char *name = tu_name("stale");
	uint64_t magic = SHMRT_MAGIC;
	memcpy(zeros, &magic, sizeof(magic));
	write_file(name, zeros, 4096);
	memset(zeros, 0, sizeof(magic));
	assert_int_equal(shmrt_region_open(name, 0, &o, &r), -ESTALE);
	assert_int_equal(shmrt_region_open(name, SHMRT_O_CREATE, &o, &r), 0);
	shmrt_object_info_t oi;
	assert_int_equal(shmrt_object_open(r, "v", SHMRT_O_CREATE, SHMRT_TYPE_BYTES, 8, NULL, &oi),
			 0);
	shmrt_region_close(r);
}

static int locked_pipe[2]; /* the creator writes a byte once it holds its lock */

static int hold_creation_lock(void *arg)
{
	const char *name = arg;
	char path[256];
	snprintf(path, sizeof(path), "/%s", name);
	int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_len = 1 };
	if (fd < 0 || fcntl(fd, F_OFD_SETLK, &fl) || write(locked_pipe[1], "", 1) != 1)
		return 1;
	pause(); /* a creator that is alive but slow */
	return 0;
}

static void t_creator_alive_timeout(void **s)
{
	(void)s;
	const char *name = tu_name("slow");
	assert_int_equal(pipe(locked_pipe), 0);
	pid_t pid = tu_fork(hold_creation_lock, (void *)name);
	close(locked_pipe[1]);
	assert_int_equal(tu_read_byte(locked_pipe[0], NULL, 10000), 0);
	close(locked_pipe[0]);
	shmrt_region_opts_t o;
	shmrt_region_opts_init(&o);
	o.open_timeout = 100000000; /* 100 ms */
	shmrt_region_t *r = NULL;
	uint64_t t0 = tu_ms();
	assert_int_equal(shmrt_region_open(name, 0, &o, &r), -ETIMEDOUT);
	assert_true(tu_ms() - t0 >= 100);
	kill(pid, SIGKILL);
	assert_int_equal(tu_wait(pid, 5000), 128 + SIGKILL);
	/* Its creator died before writing anything: an empty file, not a region (and
	 * not a hang). */
	o.open_timeout = 0;
	assert_int_equal(shmrt_region_open(name, 0, &o, &r), -EBADMSG);
}

static int attach_and_wait(void *p)
{
	const char *name = p;
	shmrt_region_t *r;
	if (shmrt_region_open(name, 0, NULL, &r))
		return 1;
	pause();
	return 0;
}

static int attach_and_close(void *p)
{
	const char *name = p;
	shmrt_region_t *r;
	if (shmrt_region_open(name, 0, NULL, &r))
		return 1;
	return shmrt_region_close(r) ? 2 : 0;
}

static int shm_exists(const char *name)
{
	char path[256];
	struct stat st;
	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	return stat(path, &st) == 0;
}

static void wait_procs(shmrt_region_t *r, size_t want)
{
	uint64_t end = tu_ms() + 5000;
	size_t n = 0;
	while (shmrt_region_procs(r, NULL, 0, &n) == 0 && n != want && tu_ms() < end)
		usleep(1000);
	assert_int_equal(n, want);
}

static void t_auto_unlink(void **s)
{
	(void)s;
	/* The last process to detach unlinks; not before. */
	const char *name = tu_name("auto");
	shmrt_region_t *r = tu_create(name, 8 << 20, SHMRT_REGION_AUTO_UNLINK);
	pid_t pid = tu_fork(attach_and_wait, (void *)name);
	wait_procs(r, 2 + 1); /* the forked copy of our slot, plus the child's open */
	shmrt_region_close(r);
	assert_true(shm_exists(name)); /* the child is alive and attached */
	kill(pid, SIGKILL);
	assert_int_equal(tu_wait(pid, 5000), 128 + SIGKILL);
	assert_true(shm_exists(name)); /* nobody has noticed yet */
	/* gc from an inspecting handle notices that nobody alive is attached. */
	shmrt_region_opts_t o;
	shmrt_region_opts_init(&o);
	shmrt_region_t *ri;
	assert_int_equal(shmrt_region_open(name, SHMRT_O_NOATTACH, &o, &ri), 0);
	shmrt_off_t off;
	assert_int_equal(shmrt_alloc(ri, 16, &off), -EPERM);
	assert_int_equal(shmrt_region_gc(ri, NULL), 0);
	shmrt_region_close(ri);
	assert_false(shm_exists(name));

	/* A clean detach of the last process unlinks at once. */
	const char *name2 = tu_name("auto2");
	r = tu_create(name2, 8 << 20, SHMRT_REGION_AUTO_UNLINK);
	pid = tu_fork(attach_and_close, (void *)name2);
	assert_int_equal(tu_wait(pid, 5000), 0);
	assert_true(shm_exists(name2));
	shmrt_region_close(r);
	assert_false(shm_exists(name2));
	/* And an opener after that gets -ENOENT, never a half-dead region. */
	assert_int_equal(shmrt_region_open(name2, 0, NULL, &r), -ENOENT);
}

/* A run of a program: creates its region with the safe pattern (or opens it with
 * flags), sets a Value created with 5 to 7, reports through the pipe and waits to
 * be killed. */
struct run_arg {
	const char *name;
	int oflags;
	int fd; /* writes 'c' (created) or 'o' (opened), then the Value it found */
};

static int run_and_wait(void *p)
{
	struct run_arg *a = p;
	shmrt_region_t *r;
	int rc = shmrt_region_open(a->name, a->oflags, NULL, &r);
	char msg[2] = { 'e', 0 };
	shmrt_value_t v;
	shmrt_scalar_t init = { .i64 = 5 };
	int64_t x = -1;
	if (!rc && !shmrt_value_open(r, "v", SHMRT_O_CREATE, SHMRT_VT_INT64, &init, &v)) {
		shmrt_value_get_i64(&v, &x);
		shmrt_value_set_i64(&v, 7);
		msg[0] = shmrt_region_created(r) ? 'c' : 'o';
		msg[1] = (char)x;
	}
	if (write(a->fd, msg, 2) != 2)
		return 3;
	pause();
	return 0;
}

/* Starts a run and reads its report: 'c'/'o' and the Value it found. */
static pid_t start_run(struct run_arg *a, char *msg)
{
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	a->fd = pfd[1];
	pid_t pid = tu_fork(run_and_wait, a);
	close(pfd[1]);
	struct pollfd pf = { .fd = pfd[0], .events = POLLIN };
	assert_int_equal(poll(&pf, 1, 5000), 1);
	assert_int_equal(read(pfd[0], msg, 2), 2);
	close(pfd[0]);
	return pid;
}

static void t_fresh(void **s)
{
	(void)s;
	char msg[2];
	/* The safe pattern: a run killed without closing leaves its region behind; the
	 * next run gets a new one, its Value initialised again. */
	struct run_arg a = { tu_name("fresh"), SHMRT_O_CREATE | SHMRT_O_EXCL | SHMRT_O_FRESH, -1 };
	pid_t p1 = start_run(&a, msg);
	assert_int_equal(msg[0], 'c');
	assert_int_equal(msg[1], 5);
	/* A second run while the first lives: -EEXIST, never the first run's objects. */
	shmrt_region_t *r;
	assert_int_equal(shmrt_region_open(a.name, a.oflags, NULL, &r), -EEXIST);
	kill(p1, SIGKILL);
	assert_int_equal(tu_wait(p1, 5000), 128 + SIGKILL);
	assert_true(shm_exists(a.name));
	pid_t p2 = start_run(&a, msg);
	assert_int_equal(msg[0], 'c');
	assert_int_equal(msg[1], 5);
	/* Plain CREATE joins the live run's region and sees its state. */
	struct run_arg join = { a.name, SHMRT_O_CREATE, -1 };
	pid_t p3 = start_run(&join, msg);
	assert_int_equal(msg[0], 'o');
	assert_int_equal(msg[1], 7);
	kill(p2, SIGKILL);
	kill(p3, SIGKILL);
	tu_wait(p2, 5000);
	tu_wait(p3, 5000);
	/* Without FRESH, a persistent region left by dead processes is reopened, as
	 * documented: its contents are data. */
	pid_t p4 = start_run(&join, msg);
	assert_int_equal(msg[0], 'o');
	assert_int_equal(msg[1], 7);
	kill(p4, SIGKILL);
	tu_wait(p4, 5000);
	/* FRESH never replaces what is not a region. */
	const char *plain = tu_name("fresh-plain");
	char path[256];
	snprintf(path, sizeof(path), "/dev/shm/%s", plain);
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not a region", 12), 12);
	close(fd);
	assert_int_equal(shmrt_region_open(plain, SHMRT_O_CREATE | SHMRT_O_FRESH, NULL, &r),
			 -EBADMSG);
	assert_true(shm_exists(plain));
	unlink(path);
}

static void t_auto_unlink_killed(void **s)
{
	(void)s;
	/* An AUTO_UNLINK region whose only process was killed is never reopened with
	 * its stale contents: an opener unlinks it, as the last process would have. */
	const char *name = tu_name("autok");
	shmrt_region_opts_t o;
	shmrt_region_opts_init(&o);
	o.flags = SHMRT_REGION_AUTO_UNLINK;
	shmrt_region_t *r;
	assert_int_equal(shmrt_region_open(name, SHMRT_O_CREATE, &o, &r), 0);
	shmrt_value_t v;
	shmrt_scalar_t init = { .i64 = 5 };
	assert_int_equal(shmrt_value_open(r, "v", SHMRT_O_CREATE, SHMRT_VT_INT64, &init, &v), 0);
	struct run_arg a = { name, SHMRT_O_CREATE, -1 };
	char msg[2];
	pid_t p1 = start_run(&a, msg);
	assert_int_equal(msg[0], 'o');
	assert_int_equal(msg[1], 5);
	/* Forget our handle as a killed process would (the child's copy of our slot
	 * dies with it), then kill the other user. */
	pid_t p0 = tu_fork(attach_and_wait, (void *)name);
	wait_procs(r, 5); /* us, and each child: its copy of our handle and its open */
	shmrt_region_close(r);
	kill(p0, SIGKILL);
	kill(p1, SIGKILL);
	tu_wait(p0, 5000);
	tu_wait(p1, 5000);
	assert_true(shm_exists(name));
	assert_int_equal(shmrt_region_open(name, 0, NULL, &r), -ENOENT);
	assert_false(shm_exists(name));
	pid_t p2 = start_run(&a, msg);
	assert_int_equal(msg[0], 'c');
	assert_int_equal(msg[1], 5);
	kill(p2, SIGKILL);
	tu_wait(p2, 5000);
}

/* Whether the mapping at base is marked "do not dump" (VmFlags dd in smaps). */
static int not_dumped(const void *base)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	if (!f)
		return -1;
	char line[512];
	int in = 0, dd = 0;
	unsigned long lo = (unsigned long)(uintptr_t)base;
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b;
		if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = a == lo;
		else if (in && !strncmp(line, "VmFlags:", 8))
			dd = strstr(line, " dd") != NULL;
	}
	fclose(f);
	return dd;
}

static int anon_child(void *p)
{
	shmrt_value_t *v = p;
	return shmrt_value_fetch_add_i64(v, 1, NULL) ? 1 : 0;
}

static void t_anonymous_and_size(void **s)
{
	(void)s;
	/* Anonymous regions: nothing in /dev/shm, shared by forked children, one per
	 * open (two runs never share one). */
	shmrt_region_t *a, *b;
	assert_int_equal(shmrt_region_open(NULL, SHMRT_O_CREATE, NULL, &a), 0);
	assert_int_equal(shmrt_region_open(NULL, SHMRT_O_CREATE, NULL, &b), 0);
	assert_true(shmrt_region_created(a));
	assert_false(shm_exists("anonymous"));
	shmrt_value_t va, vb;
	assert_int_equal(shmrt_value_open(a, "n", SHMRT_O_CREATE, SHMRT_VT_INT64, NULL, &va), 0);
	assert_int_equal(shmrt_value_open(b, "n", SHMRT_O_CREATE, SHMRT_VT_INT64, NULL, &vb), 0);
	assert_true(va.created && vb.created);
	pid_t kids[4];
	for (int i = 0; i < 4; i++)
		kids[i] = tu_fork(anon_child, &va);
	for (int i = 0; i < 4; i++)
		assert_int_equal(tu_wait(kids[i], 5000), 0);
	int64_t x = -1;
	assert_int_equal(shmrt_value_get_i64(&va, &x), 0);
	assert_int_equal(x, 4);
	assert_int_equal(shmrt_value_get_i64(&vb, &x), 0);
	assert_int_equal(x, 0);
	/* Never in a core dump: the kernel would dump an anonymous region's whole size. */
	assert_int_equal(not_dumped(shmrt_region_base(a)), 1);
	/* The default size is what /dev/shm can hold (sparse: this costs nothing), so
	 * Python's Array('d', 10_000_000) fits without a size. */
	struct statvfs sv;
	assert_int_equal(statvfs("/dev/shm", &sv), 0);
	uint64_t cap = (uint64_t)sv.f_blocks * sv.f_frsize;
	if (cap > (1ull << 44))
		cap = 1ull << 44;
	if (cap >= (64ull << 20))
		assert_int_equal(shmrt_region_size(a), cap & ~4095ull);
	shmrt_array_t arr;
	if (cap > (200ull << 20)) {
		assert_int_equal(shmrt_array_open(a, "big", SHMRT_O_CREATE, SHMRT_VT_DOUBLE,
						  10000000, NULL, &arr), 0);
		assert_int_equal(shmrt_array_set_f64(&arr, 9999999, 1.5), 0);
	}
	/* What does not fit is -ENOSPC, as documented. */
	shmrt_region_t *small = tu_create(tu_name("small"), 8 << 20, 0);
	assert_int_equal(shmrt_array_open(small, "big", SHMRT_O_CREATE, SHMRT_VT_DOUBLE, 10000000,
					  NULL, &arr), -ENOSPC);
	shmrt_off_t off;
	assert_int_equal(shmrt_alloc(small, 80000000, &off), -ENOMEM);
	shmrt_region_close(small);
	shmrt_region_close(a);
	shmrt_region_close(b);
}

static int memfd_child(void *p)
{
	struct tu_fork_arg *a = p;
	strcpy(shmrt_ptr(a->r, a->off), "memfd child");
	/* Attach a second handle through the fd, as a receiver of SCM_RIGHTS would. */
	shmrt_region_t *r2;
	if (shmrt_region_open_fd(shmrt_region_fd(a->r), &r2))
		return 1;
	shmrt_object_info_t oi;
	if (shmrt_object_lookup(r2, "m", &oi) || oi.off != a->off)
		return 2;
	return shmrt_region_close(r2) ? 3 : 0;
}

static void t_memfd_and_file(void **s)
{
	(void)s;
	shmrt_region_opts_t o;
	shmrt_region_opts_init(&o);
	o.backing = SHMRT_BACKING_MEMFD;
	o.size = 8 << 20;
	shmrt_region_t *r;
	assert_int_equal(shmrt_region_open("anon", 0, &o, &r), 0);
	shmrt_object_info_t oi;
	assert_int_equal(shmrt_object_open(r, "m", SHMRT_O_CREATE, SHMRT_TYPE_BYTES, 32, NULL, &oi),
			 0);
	struct tu_fork_arg a = { r, oi.off };
	assert_int_equal(tu_wait(tu_fork(memfd_child, &a), 10000), 0);
	assert_string_equal(shmrt_ptr(r, oi.off), "memfd child");
	assert_int_equal(shmrt_region_open_fd(-1, &r), -EBADF);
	shmrt_region_close(r);

	char path[] = "/tmp/shmrt-test-XXXXXX";
	assert_non_null(mkdtemp(path));
	char file[300];
	snprintf(file, sizeof(file), "%s/region", path);
	o.backing = SHMRT_BACKING_FILE;
	assert_int_equal(shmrt_region_open(file, SHMRT_O_CREATE | SHMRT_O_EXCL, &o, &r), 0);
	assert_int_equal(shmrt_object_open(r, "f", SHMRT_O_CREATE, SHMRT_TYPE_BYTES, 32, NULL, &oi),
			 0);
	shmrt_region_close(r);
	assert_int_equal(shmrt_region_open(file, 0, &o, &r), 0);
	assert_int_equal(shmrt_object_lookup(r, "f", &oi), 0);
	shmrt_region_close(r);
	/* O_NOFOLLOW: a symlink is refused. */
	char link[300];
	snprintf(link, sizeof(link), "%s/link", path);
	assert_int_equal(symlink(file, link), 0);
	assert_int_equal(shmrt_region_open(link, 0, &o, &r), -ELOOP);
	unlink(link);
	assert_int_equal(shmrt_region_unlink_path(file), 0);
	rmdir(path);
}

static void t_corrupt_lock_word(void **s)
{
	(void)s;
	/* A lock word naming a thread that cannot hold the lock is taken over (as the
	 * kernel does for a dead holder) after a bounded wait, not a hang, and the lock's
	 * recovery runs: a TID that does not exist, then a live process (our parent)
	 * that does not map the region. */
	shmrt_region_t *r = tu_create(tu_name("badlock"), 8 << 20, 0);
	struct shmrt_region *R = (struct shmrt_region *)r;
	shmrt_object_info_t oi;
	int owners[] = { 0x3ffffff0, (int)getppid() };
	for (int i = 0; i < 2; i++) {
		__atomic_store_n(&R->hdr->dir_lock.m.__data.__lock, owners[i], __ATOMIC_RELEASE);
		uint64_t t0 = tu_ms();
		assert_int_equal(shmrt_object_lookup(r, "x", &oi), -ENOENT);
		assert_true(tu_ms() - t0 < 3000);
	}
	shmrt_region_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_create_open_close),
		cmocka_unit_test(t_bad_names_and_opts),
		cmocka_unit_test(t_validation),
		cmocka_unit_test(t_stale_creator),
		cmocka_unit_test(t_creator_alive_timeout),
		cmocka_unit_test(t_auto_unlink),
		cmocka_unit_test(t_auto_unlink_killed),
		cmocka_unit_test(t_fresh),
		cmocka_unit_test(t_anonymous_and_size),
		cmocka_unit_test(t_memfd_and_file),
		cmocka_unit_test(t_corrupt_lock_word),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
