/*
 * Error messages and type names. Each message says what the code means for shmrt,
 * which is more than strerror() knows (EBADMSG is "not a shmrt region", not "bad
 * message").
 *
 * Memory ordering: none; constant tables only, nothing shared.
 */
#define _GNU_SOURCE
#include "region_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

const char *shmrt_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case 0: return "success";
	case EINVAL: return "invalid argument (bad name, size, flag or offset)";
	case ENAMETOOLONG: return "name too long";
	case ENOENT: return "no such region, object or program";
	case EEXIST: return "region or object already exists";
	case EACCES: return "permission denied (or the region's mode is wider than asked for)";
	case EPERM: return "not permitted: the region belongs to another user, or the handle "
			   "is for inspection only";
	case EBADMSG: return "not a shmrt region, or its header or data is corrupted";
	case EPROTONOSUPPORT: return "region has a layout version this library does not know";
	case ETIMEDOUT: return "timed out";
	case ESTALE: return "region's creator died during initialisation";
	case EBUSY: return "busy (held, or being created by a live process)";
	case ENOSPC: return "out of shared memory (backing store full, or table full)";
	case ENOMEM: return "out of memory in the region's arena";
	case EUSERS: return "no free registry slot or thread record";
	case EPROTOTYPE: return "object exists with another type";
	case EMSGSIZE: return "too large (object smaller than requested, or message too big)";
	case EOWNERDEAD: return "previous owner died; state may need repair";
	case ENOTRECOVERABLE: return "lock is not recoverable";
	case EAGAIN: return "resource temporarily unavailable (try again)";
	case EPIPE: return "closed, or broken (a barrier broken, aborted or reset)";
	case EOVERFLOW: return "released too many times (bounded semaphore)";
	case EUCLEAN: return "data torn by a writer that died mid-write; rewrite or repair it";
	case EDEADLK: return "already held by the calling thread";
	case EIO: return "the kernel refused the operation (binding or I/O)";
	case EBADF: return "bad file descriptor";
	case E2BIG: return "too large (a placement with too many ranges, or a program's "
			   "arguments and environment)";
	case ECHILD: return "not a worker of the calling process, or its status was reaped "
			    "elsewhere";
	case ESRCH: return "no such process (the worker was already joined)";
	default: return strerror(err < 0 ? -err : err);
	}
}

const char *shmrt_type_name(uint32_t type)
{
	static const char *names[] = { "none",  "bytes", "value", "counter", "array",
				       "queue", "pipe",  "dict",  "lock",    "sync" };
	if (type < sizeof(names) / sizeof(names[0]))
		return names[type];
	return type >= SHMRT_TYPE_USER ? "user" : "unknown";
}
