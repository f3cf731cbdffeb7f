/*
 * shmrt: a shared-memory runtime for C. Include this one header.
 * See README.md for the model and DESIGN notes; each module header documents its
 * calls, their errors, and their Concurrency: and Ordering: contracts.
 */
#ifndef SHMRT_H
#define SHMRT_H

#include "shmrt/version.h"
#include "shmrt/common.h"
#include "shmrt/placement.h"
#include "shmrt/numa.h"
#include "shmrt/region.h"
#include "shmrt/alloc.h"
#include "shmrt/value.h"
#include "shmrt/sync.h"
#include "shmrt/array.h"
#include "shmrt/queue.h"
#include "shmrt/pipe.h"
#include "shmrt/dict.h"
#include "shmrt/worker.h"
/* Library shmrt_manager (-lshmrt_manager): */
#include "shmrt/mvalue.h"
#include "shmrt/manager.h"
#include "shmrt/remote.h"

#endif /* SHMRT_H */
