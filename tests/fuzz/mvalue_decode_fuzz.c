/*
 * libFuzzer target: the manager's msgpack decoder on arbitrary bytes, then the round
 * trip of whatever it accepts (mvalue_fuzz_common.h). Nothing may crash, leak or read
 * out of bounds. Built with clang -fsanitize=fuzzer,address,undefined.
 *
 * Also the server's id reader for refused requests (shmrt__mv_request_id), which
 * reads untrusted bytes on its own: it returns only its documented codes, and on any
 * input the whole decoder accepts it agrees with it: an id exactly when the value is
 * a non-empty list whose first item reads as an int (shmrt_mv_as_int), and that int.
 */
#define _GNU_SOURCE
#include "mvalue_fuzz_common.h"
#include "manager/mvalue_int.h"

#include <stdbool.h>

static void request_id_oracle(const uint8_t *data, size_t size)
{
	int64_t id = 0, want = 0;
	int rc = shmrt__mv_request_id(data, size, &id);
	if (rc && rc != -EBADMSG && rc != -ERANGE && rc != -ENOMEM)
		abort();
	shmrt_mv_t *v;
	if (shmrt_mv_decode(data, size, NULL, &v))
		return;
	const shmrt_mv_t *first = shmrt_mv_kind(v) == SHMRT_MV_LIST && shmrt_mv_list_len(v) > 0
					  ? shmrt_mv_list_get(v, 0)
					  : NULL;
	bool is_int = first && shmrt_mv_as_int(first, &want) == 0;
	if (is_int != (rc == 0) || (is_int && want != id))
		abort();
	shmrt_mv_free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	request_id_oracle(data, size);
	mvalue_fuzz_one(data, size);
	return 0;
}
