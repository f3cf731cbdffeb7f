/*
 * libFuzzer target: the manager's msgpack decoder on arbitrary bytes, then the round
 * trip of whatever it accepts (mvalue_fuzz_common.h). Nothing may crash, leak or read
 * out of bounds. Built with clang -fsanitize=fuzzer,address,undefined.
 */
#define _GNU_SOURCE
#include "mvalue_fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mvalue_fuzz_one(data, size);
	return 0;
}
