/*
 * libFuzzer target: region open (and the directory and registry reads that follow)
 * on arbitrary bytes. The input is written to a memfd, laid over a valid region's
 * header when it is short, and opened; whatever open accepts is then listed
 * (objects, processes, statistics) and garbage-collected. Nothing may crash, hang or
 * read outside the mapping. Built with clang -fsanitize=fuzzer,address,undefined.
 */
#define _GNU_SOURCE
#include <shmrt.h>

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	shmrt_fuzz_one(data, size);
	return 0;
}
