/*
 * shmrt: inspect and clean up shmrt regions.
 *
 *   shmrt ls [--json]            regions in /dev/shm: size, bytes used, processes
 *   shmrt info [--json] NAME     header, objects, processes, arena statistics, NUMA
 *   shmrt rm [-f] NAME...        unlink regions; one that live processes use only
 *                                with -f (their mappings stay valid)
 *   shmrt gc [--json] [NAME...]  reclaim dead processes' slots, records and caches;
 *                                unlink auto-unlink regions nobody alive uses
 *   shmrt manager serve|ls ...   run a Manager server, list its objects
 *                                (tools/manager_cmd.c)
 *
 * Regions are opened with SHMRT_O_NOATTACH: the tool never takes a registry slot,
 * so it neither shows up in nor keeps alive what it inspects. A name that is not a
 * shmrt region is reported, never modified. Exit status: 0 ok, 1 an error on some
 * region, 2 usage.
 */
#define _GNU_SOURCE
#include <shmrt.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int json;

int shmrt_tool_manager(int argc, char **argv); /* tools/manager_cmd.c */

static void usage(void)
{
	fprintf(stderr, "usage: shmrt ls [--json]\n"
			"       shmrt info [--json] NAME\n"
			"       shmrt rm [-f|--force] NAME...\n"
			"       shmrt gc [--json] [NAME...]\n"
			"       shmrt manager serve --address ADDR... --authkey-file FILE [--any-host]\n"
			"                           [--region NAME]...\n"
			"       shmrt manager ls [--json] ADDRESS --authkey-file FILE\n");
	exit(2);
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

static const char *human(uint64_t b, char *buf)
{
	const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)b;
	int i = 0;
	while (v >= 1024 && i < 4)
		v /= 1024, i++;
	snprintf(buf, 32, i ? "%.1f %s" : "%.0f %s", v, u[i]);
	return buf;
}

static int open_inspect(const char *name, shmrt_region_t **r)
{
	shmrt_region_opts_t o;
	shmrt_region_opts_init(&o);
	o.open_timeout = 100000000; /* 100 ms: do not hang on a region being created */
	if (name[0] == '/') {
		o.backing = SHMRT_BACKING_FILE;
	}
	return shmrt_region_open(name, SHMRT_O_NOATTACH, &o, r);
}

static int cmd_ls(void)
{
	DIR *d = opendir("/dev/shm");
	if (!d) {
		perror("shmrt: /dev/shm");
		return 1;
	}
	struct dirent *de;
	int first = 1;
	if (json)
		printf("[");
	else
		printf("%-32s %10s %10s %6s %5s  %s\n", "NAME", "SIZE", "USED", "ALIVE", "DEAD",
		       "LIFETIME");
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || (de->d_type != DT_REG && de->d_type != DT_UNKNOWN))
			continue;
		shmrt_region_t *r;
		int rc = open_inspect(de->d_name, &r);
		if (rc == -EBADMSG || rc == -EINVAL || rc == -ENAMETOOLONG || rc == -ENOENT ||
		    rc == -ESTALE || rc == -ETIMEDOUT)
			continue; /* not (or not yet) a shmrt region */
		if (rc) {
			if (!json)
				printf("%-32s (%s)\n", de->d_name, shmrt_strerror(rc));
			continue;
		}
		shmrt_region_stats_t st;
		(void)shmrt_region_stats(r, &st);
		char a[32], b[32];
		const char *life = st.flags & SHMRT_REGION_AUTO_UNLINK ? "auto-unlink" : "persistent";
		if (json) {
			printf("%s{\"name\":", first ? "" : ",");
			jstr(de->d_name);
			printf(",\"size\":%llu,\"used\":%llu,\"procs_alive\":%u,\"procs_dead\":%u,"
			       "\"lifetime\":\"%s\",\"objects\":%u}",
			       (unsigned long long)st.size, (unsigned long long)st.arena_used,
			       st.procs_alive, st.procs_dead, life, st.objects);
		} else {
			printf("%-32s %10s %10s %6u %5u  %s\n", de->d_name, human(st.size, a),
			       human(st.arena_used, b), st.procs_alive, st.procs_dead, life);
		}
		first = 0;
		shmrt_region_close(r);
	}
	closedir(d);
	if (json)
		printf("]\n");
	return 0;
}

static const char *state_name(shmrt_proc_state_t s)
{
	return s == SHMRT_PROC_ALIVE ? "alive" : s == SHMRT_PROC_DEAD ? "dead" : "attaching";
}

/* Statistics of a Dict object (0), or -EPROTOTYPE for other objects. */
static int dict_stats(shmrt_region_t *r, const shmrt_object_info_t *oi, shmrt_dict_stats_t *st)
{
	shmrt_dict_t d;
	if (oi->type != SHMRT_TYPE_DICT)
		return -EPROTOTYPE;
	int rc = shmrt_dict_open(r, oi->name, 0, NULL, &d);
	return rc ? rc : shmrt_dict_stats(&d, st);
}

static int cmd_info(const char *name)
{
	shmrt_region_t *r;
	int rc = open_inspect(name, &r);
	if (rc) {
		fprintf(stderr, "shmrt: %s: %s\n", name, shmrt_strerror(rc));
		return 1;
	}
	shmrt_region_stats_t st;
	(void)shmrt_region_stats(r, &st);
	/* Count, allocate, list: the second call reports the count at its time, which
	 * grows if an object or a process came in between; only what fits is shown. */
	size_t nobj = 0, nproc = 0, cap;
	(void)shmrt_object_list(r, NULL, 0, &nobj);
	shmrt_object_info_t *objs = calloc((cap = nobj) + 1, sizeof(*objs));
	(void)shmrt_object_list(r, objs, cap, &nobj);
	if (nobj > cap)
		nobj = cap;
	(void)shmrt_region_procs(r, NULL, 0, &nproc);
	shmrt_proc_info_t *procs = calloc((cap = nproc) + 1, sizeof(*procs));
	(void)shmrt_region_procs(r, procs, cap, &nproc);
	if (nproc > cap)
		nproc = cap;
	char a[32], b[32], c[32];
	time_t ct = (time_t)(st.created_ns / 1000000000ull);
	char tbuf[64];
	strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%SZ", gmtime(&ct));
	const char *life = st.flags & SHMRT_REGION_AUTO_UNLINK ? "auto-unlink" : "persistent";

	if (json) {
		printf("{\"name\":");
		jstr(shmrt_region_name(r));
		printf(",\"layout_version\":%u,\"size\":%llu,\"created\":\"%s\",\"creator_pid\":%d,"
		       "\"lifetime\":\"%s\",\"numa_nodes\":%u,",
		       st.layout_version, (unsigned long long)st.size, tbuf, (int)st.creator_pid, life,
		       st.numa_nodes);
		printf("\"arena\":{\"bytes\":%llu,\"used\":%llu,\"committed\":%llu,"
		       "\"small_in_use\":%llu,\"large_in_use\":%llu},",
		       (unsigned long long)st.arena_bytes, (unsigned long long)st.arena_used,
		       (unsigned long long)st.arena_committed,
		       (unsigned long long)st.small_bytes_in_use,
		       (unsigned long long)st.large_bytes_in_use);
		printf("\"limits\":{\"procs\":%u,\"threads\":%u,\"objects\":%u},\"threads\":%u,",
		       st.max_procs, st.max_threads, st.max_objects, st.threads);
		printf("\"objects\":[");
		for (size_t i = 0; i < nobj; i++) {
			printf("%s{\"name\":", i ? "," : "");
			jstr(objs[i].name);
			printf(",\"type\":\"%s\",\"type_id\":%u,\"offset\":%llu,\"size\":%llu,"
			       "\"creator_pid\":%d}",
			       shmrt_type_name(objs[i].type), objs[i].type,
			       (unsigned long long)objs[i].off, (unsigned long long)objs[i].size,
			       (int)objs[i].creator_pid);
			shmrt_dict_stats_t ds;
			if (dict_stats(r, &objs[i], &ds) == 0)
				printf(",\"dict\":{\"entries\":%llu,\"buckets\":%llu,"
				       "\"load_factor\":%.3f,\"pending\":%llu,\"pending_bytes\":%llu,"
				       "\"bytes\":%llu,\"resizes\":%llu,\"reclaimed\":%llu,"
				       "\"recoveries\":%llu,\"partitions\":%u}",
				       (unsigned long long)ds.entries, (unsigned long long)ds.buckets,
				       ds.load_factor, (unsigned long long)ds.pending,
				       (unsigned long long)ds.pending_bytes, (unsigned long long)ds.bytes,
				       (unsigned long long)ds.resizes, (unsigned long long)ds.reclaimed,
				       (unsigned long long)ds.recoveries, ds.partitions);
			printf("}");
		}
		printf("],\"processes\":[");
		for (size_t i = 0; i < nproc; i++)
			printf("%s{\"slot\":%u,\"pid\":%d,\"state\":\"%s\",\"threads\":%u}",
			       i ? "," : "", procs[i].slot, (int)procs[i].pid,
			       state_name(procs[i].state), procs[i].threads);
		printf("]}\n");
	} else {
		printf("region %s (layout %u)\n", shmrt_region_name(r), st.layout_version);
		printf("  size       %s, %s, created %s by pid %d\n", human(st.size, a), life, tbuf,
		       (int)st.creator_pid);
		printf("  arena      %s: %s in allocated pages, %s committed\n",
		       human(st.arena_bytes, a), human(st.arena_used, b),
		       human(st.arena_committed, c));
		printf("             small blocks in use %s, large extents %s\n",
		       human(st.small_bytes_in_use, a), human(st.large_bytes_in_use, b));
		printf("  numa       %u node(s)\n", st.numa_nodes);
		printf("  limits     %u processes, %u threads (%u in use), %u objects\n",
		       st.max_procs, st.max_threads, st.threads, st.max_objects);
		printf("  objects    %zu\n", nobj);
		for (size_t i = 0; i < nobj; i++) {
			printf("    %-24s %-8s offset %-12llu size %s\n", objs[i].name,
			       shmrt_type_name(objs[i].type), (unsigned long long)objs[i].off,
			       human(objs[i].size, a));
			shmrt_dict_stats_t ds;
			if (dict_stats(r, &objs[i], &ds) == 0)
				printf("      entries %llu, buckets %llu (load %.2f), %s in use, "
				       "pending reclamation %llu (%s), resizes %llu, recoveries %llu\n",
				       (unsigned long long)ds.entries, (unsigned long long)ds.buckets,
				       ds.load_factor, human(ds.bytes, b),
				       (unsigned long long)ds.pending, human(ds.pending_bytes, c),
				       (unsigned long long)ds.resizes,
				       (unsigned long long)ds.recoveries);
		}
		printf("  processes  %zu\n", nproc);
		for (size_t i = 0; i < nproc; i++)
			printf("    pid %-8d slot %-4u %-9s %u thread(s)\n", (int)procs[i].pid,
			       procs[i].slot, state_name(procs[i].state), procs[i].threads);
	}
	free(objs);
	free(procs);
	shmrt_region_close(r);
	return 0;
}

static int gc_one(const char *name, int *first)
{
	shmrt_region_t *r;
	int rc = open_inspect(name, &r);
	if (rc)
		return rc;
	unsigned n = 0;
	rc = shmrt_region_gc(r, &n);
	shmrt_region_stats_t st;
	(void)shmrt_region_stats(r, &st);
	int unlinked = (st.flags & SHMRT_REGION_AUTO_UNLINK) && st.procs_alive == 0;
	if (json)
		printf("%s{\"name\":\"%s\",\"reclaimed\":%u,\"unlinked\":%s}", *first ? "" : ",",
		       name, n, unlinked ? "true" : "false");
	else if (n || unlinked)
		printf("%s: reclaimed %u dead process(es)%s\n", name, n,
		       unlinked ? ", unlinked (auto-unlink, nobody alive)" : "");
	*first = 0;
	shmrt_region_close(r);
	return rc;
}

static int cmd_gc(int argc, char **argv)
{
	int first = 1, status = 0;
	if (json)
		printf("[");
	if (argc == 0) {
		DIR *d = opendir("/dev/shm");
		struct dirent *de;
		while (d && (de = readdir(d)))
			if (de->d_name[0] != '.')
				(void)gc_one(de->d_name, &first);
		if (d)
			closedir(d);
	}
	for (int i = 0; i < argc; i++) {
		int rc = gc_one(argv[i], &first);
		if (rc) {
			fprintf(stderr, "shmrt: %s: %s\n", argv[i], shmrt_strerror(rc));
			status = 1;
		}
	}
	if (json)
		printf("]\n");
	return status;
}

/*
 * The live processes attached to a region: returns how many there are and, when there
 * are some, their pids as "123, 456" in *pids (malloc'd; the caller frees it). Returns
 * a negative errno when the region cannot be inspected (then unlink's own checks
 * decide what happens).
 */
static int live_pids(const char *name, char **pids)
{
	shmrt_region_t *r;
	int rc = open_inspect(name, &r);
	if (rc)
		return rc;
	size_t cap = 0, nproc;
	(void)shmrt_region_procs(r, NULL, 0, &cap);
	shmrt_proc_info_t *procs = calloc(cap + 1, sizeof(*procs));
	char *buf = malloc(cap * 16 + 1); /* "-2147483648, " per pid at most */
	if (!procs || !buf) {
		free(procs);
		free(buf);
		shmrt_region_close(r);
		return -ENOMEM;
	}
	(void)shmrt_region_procs(r, procs, cap, &nproc);
	int n = 0;
	size_t len = 0;
	/* One that attached since the count is not listed: the check races with new
	 * attaches anyway (see cmd_rm). */
	for (size_t i = 0; i < nproc && i < cap; i++) {
		/* An attaching slot is judged by its pid alone: a claimer that died in the
		 * middle of its claim would otherwise keep the region forever. */
		int live = procs[i].state == SHMRT_PROC_ALIVE ||
			   (procs[i].state == SHMRT_PROC_ATTACHING &&
			    (kill(procs[i].pid, 0) == 0 || errno == EPERM));
		if (live)
			len += (size_t)sprintf(buf + len, "%s%d", n++ ? ", " : "", (int)procs[i].pid);
	}
	free(procs);
	shmrt_region_close(r);
	if (n)
		*pids = buf;
	else
		free(buf);
	return n;
}

/*
 * Unlinks each region, unless live processes use it: removing the name under them
 * leaves them working on memory no new process can find, which is seldom what was
 * meant, so that takes -f. A process may still attach between the check and the
 * unlink; the check is for the mistake, not a lock. Dead processes do not count (gc
 * would reclaim them). A region that cannot be inspected (another layout, one being
 * created, not a shmrt region) is left to shmrt_region_unlink's own rules.
 */
static int cmd_rm(int argc, char **argv)
{
	int status = 0, force = 0;
	for (; argc && argv[0][0] == '-'; argv++, argc--) {
		if (!strcmp(argv[0], "--")) {
			argv++, argc--;
			break;
		}
		if (strcmp(argv[0], "-f") && strcmp(argv[0], "--force"))
			usage();
		force = 1;
	}
	if (argc == 0)
		usage();
	for (int i = 0; i < argc; i++) {
		char *pids = NULL;
		int n = force ? 0 : live_pids(argv[i], &pids);
		if (n > 0) {
			fprintf(stderr,
				"shmrt: %s: in use by %d live process(es), pid %s; not removed "
				"(shmrt rm -f removes it anyway)\n",
				argv[i], n, pids);
			free(pids);
			status = 1;
			continue;
		}
		int rc = argv[i][0] == '/' ? shmrt_region_unlink_path(argv[i])
					   : shmrt_region_unlink(argv[i]);
		if (rc) {
			fprintf(stderr, "shmrt: %s: %s\n", argv[i], shmrt_strerror(rc));
			status = 1;
		}
	}
	return status;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	const char *cmd = argv[1];
	argv += 2;
	argc -= 2;
	if (!strcmp(cmd, "manager"))
		return shmrt_tool_manager(argc, argv);
	while (argc && !strcmp(argv[0], "--json")) {
		json = 1;
		argv++;
		argc--;
	}
	if (!strcmp(cmd, "ls") && argc == 0)
		return cmd_ls();
	if (!strcmp(cmd, "info") && argc == 1)
		return cmd_info(argv[0]);
	if (!strcmp(cmd, "rm"))
		return cmd_rm(argc, argv);
	if (!strcmp(cmd, "gc"))
		return cmd_gc(argc, argv);
	if (!strcmp(cmd, "--version")) {
		printf("shmrt %s (layout %d)\n", SHMRT_VERSION_STRING, SHMRT_LAYOUT_VERSION);
		return 0;
	}
	usage();
	return 2;
}
