/*
 * shmrt version numbers.
 *
 * The library version (SHMRT_VERSION_*) follows semantic versioning of the C API
 * and ABI; before 1.0 a minor release may break the ABI, and the soname says so
 * (libshmrt.so.0.MINOR). The shared-memory layout version is separate: it changes whenever the
 * bytes a region holds change meaning, and a library refuses to open a region
 * whose layout version it does not know (-EPROTONOSUPPORT). Two libraries with
 * different API versions but the same layout version can share one region.
 */
#ifndef SHMRT_VERSION_H
#define SHMRT_VERSION_H

#define SHMRT_VERSION_MAJOR 0
#define SHMRT_VERSION_MINOR 3
#define SHMRT_VERSION_PATCH 0
#define SHMRT_VERSION_STRING "0.3.0"

/* Layout version of a region (header, registry, directory, arena). */
#define SHMRT_LAYOUT_VERSION 6

#endif /* SHMRT_VERSION_H */
