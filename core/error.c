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
	case EPERM: return "not permitted (a lock not held by the caller, another user's "
			   "region, or a handle for inspection only)";
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
	case EPIPE: return "closed or broken (a pipe's peer gone, a queue closed or its "
			   "producers gone, a barrier broken)";
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
	case EILSEQ: return "invalid UTF-8 in a string";
	case ELOOP: return "nested too deeply";
	case ENOTSUP: return "not supported (e.g. an unknown extension type in a message)";
	case ERANGE: return "number out of range";
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

/*
 * The message for an error returned by a call on an object of the given kind
 * (SHMRT_TYPE_*; SHMRT_TYPE_NONE for region calls): where one errno means different
 * things for different objects, the object's meaning; otherwise shmrt_strerror's.
 */
const char *shmrt_strerror_kind(int err, uint32_t kind)
{
	int e = err < 0 ? -err : err;
	switch (kind) {
	case SHMRT_TYPE_NONE:
		if (e == EPERM)
			return "not permitted: the region belongs to another user, or the handle "
			       "is for inspection only";
		break;
	case SHMRT_TYPE_PIPE:
		if (e == EPIPE)
			return "the peer closed its end or died (everything it sent was read)";
		break;
	case SHMRT_TYPE_QUEUE:
		if (e == EPIPE)
			return "the queue is closed, or every producer is gone, and it is drained";
		if (e == EUSERS)
			return "no thread record left in the region for the calling thread";
		break;
	case SHMRT_TYPE_LOCK:
		if (e == EPERM)
			return "the lock is not held by the calling thread";
		if (e == EOWNERDEAD)
			return "acquired, but its previous holder died holding it: repair what it "
			       "protects, then mark it consistent";
		if (e == ENOTRECOVERABLE)
			return "the lock was released unrepaired after a holder died: unusable";
		break;
	case SHMRT_TYPE_SYNC:
		if (e == EPIPE)
			return "the barrier is broken (aborted, reset, or a party died)";
		if (e == EPERM)
			return "the condition's lock is not held by the calling thread";
		break;
	case SHMRT_TYPE_VALUE:
	case SHMRT_TYPE_ARRAY:
		if (e == EPROTOTYPE)
			return "another element type (or length) than the object's";
		if (e == EPERM)
			return "the object's lock is not held by the calling thread";
		break;
	case SHMRT_TYPE_DICT:
		if (e == ENOENT)
			return "no such key";
		if (e == EMSGSIZE)
			return "key or value larger than the dict's maximum";
		break;
	}
	return shmrt_strerror(err);
}
