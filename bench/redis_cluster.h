/*
 * A Redis Cluster of three masters on loopback, the peer of the cluster Dict's gets
 * (bench/cluster_bench.c; the driver is bench/redis_cluster.c). The client is the
 * plain one a program without a cluster library would write: one hiredis connection
 * per master, every key sent to the master of its slot (CRC16 of the key, or of its
 * {hash tag}, mod 16384), one command at a time. A MOVED or ASK reply is an error: the
 * slots never move while the cluster runs.
 */
#ifndef SHMRT_BENCH_REDIS_CLUSTER_H
#define SHMRT_BENCH_REDIS_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#define REDIS_CLUSTER_SLOTS 16384

/* The slot of a key: CRC16-XMODEM of the key (of the text between the first '{' and
 * the next '}' when that is not empty), mod 16384, as Redis computes it. */
unsigned redis_cluster_slot(const void *key, size_t klen);

/* Starts the three masters (redis-server, each in a private temporary directory, on
 * free loopback ports), gives each a third of the slots, joins them and waits (at most
 * 20 s) until every one reports cluster_state:ok; then connects to each. They are
 * stopped by redis_cluster_stop, at exit, and by the cleaner if this process dies.
 * Returns 0; -ENOENT (no redis-server); -ETIMEDOUT; -EIO; -errno of the system. */
int redis_cluster_start(void);

/* Stops the masters (SIGTERM, then SIGKILL after 2 s) and removes their directories.
 * Idempotent. (If this process is killed first, a cleaner process does the same.) */
void redis_cluster_stop(void);

/* SET key val, on the key's master. Returns 0, -EIO (no connection, an error reply,
 * MOVED included). */
int redis_cluster_set(const void *key, size_t klen, const void *val, size_t vlen);

/* GET key into val (cap bytes), its length into *vlen, from the key's master.
 * Returns 0, -ENOENT (no such key), -EMSGSIZE (longer than cap), -EIO (as set). */
int redis_cluster_get(const void *key, size_t klen, void *val, size_t cap, size_t *vlen);

#endif
