/*
 * One fuzz iteration, shared by the libFuzzer target and the deterministic
 * corruption test (which runs under gcc too). A valid template region is created
 * once; each input overwrites a prefix of a copy of it (bytes [0, n)), or, with the
 * first byte odd, scatters the input as (offset, value) pairs over the whole copy,
 * so that both the header and the registry/directory/arena metadata get damaged.
 */
#ifndef SHMRT_FUZZ_COMMON_H
#define SHMRT_FUZZ_COMMON_H

#include <shmrt.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FUZZ_REGION (512u << 10)

static uint8_t *fuzz_template;

static void fuzz_make_template(void)
{
	shmrt_region_opts_t o;
	shmrt_region_opts_init(&o);
	o.backing = SHMRT_BACKING_MEMFD;
	o.size = FUZZ_REGION;
	o.max_procs = 4;
	o.max_threads = 4;
	o.max_objects = 8;
	shmrt_region_t *r;
	if (shmrt_region_open("fuzz", 0, &o, &r))
		abort();
	shmrt_object_info_t oi;
	if (shmrt_object_open(r, "a", SHMRT_O_CREATE, SHMRT_TYPE_BYTES, 100, NULL, &oi) ||
	    shmrt_object_open(r, "b", SHMRT_O_CREATE, SHMRT_TYPE_BYTES, 20000, NULL, &oi))
		abort();
	fuzz_template = malloc(FUZZ_REGION);
	if (pread(shmrt_region_fd(r), fuzz_template, FUZZ_REGION, 0) != (ssize_t)FUZZ_REGION)
		abort();
	shmrt_region_close(r);
}

static void shmrt_fuzz_one(const uint8_t *data, size_t size)
{
	if (!fuzz_template)
		fuzz_make_template();
	int fd = memfd_create("fuzz-input", MFD_CLOEXEC);
	if (fd < 0)
		return;
	uint8_t *img = malloc(FUZZ_REGION);
	memcpy(img, fuzz_template, FUZZ_REGION);
	size_t len = FUZZ_REGION;
	if (size && (data[0] & 1)) {
		for (size_t i = 1; i + 4 <= size; i += 4) {
			uint32_t off = ((uint32_t)data[i] | (uint32_t)data[i + 1] << 8 |
					(uint32_t)data[i + 2] << 16) % FUZZ_REGION;
			img[off] = data[i + 3];
		}
	} else if (size) {
		memcpy(img, data, size < FUZZ_REGION ? size : FUZZ_REGION);
		if (size >= 2 && data[1] == 0x7f)
			len = size; /* also try truncated files */
	}
	if (pwrite(fd, img, len, 0) == (ssize_t)len) {
		shmrt_region_t *r;
		if (shmrt_region_open_fd(fd, &r) == 0) {
			shmrt_object_info_t objs[16];
			shmrt_proc_info_t procs[8];
			shmrt_region_stats_t st;
			size_t n;
			(void)shmrt_object_list(r, objs, 16, &n);
			(void)shmrt_region_procs(r, procs, 8, &n);
			(void)shmrt_region_stats(r, &st);
			if (shmrt_object_lookup(r, "a", objs) == 0 && objs[0].size > FUZZ_REGION)
				abort(); /* lookup must bounds-check what it returns */
			(void)shmrt_region_gc(r, NULL);
			shmrt_region_close(r);
		}
	}
	free(img);
	close(fd);
}

#endif
