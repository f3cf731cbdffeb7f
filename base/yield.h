/*
 * Race-window widening for tests (urcu's debug-yield idea): when the environment
 * variable SHMRT_YIELD=N is set in a build with SHMRT_DEBUG_YIELD, every
 * SHMRT_YIELD_POINT() yields the CPU with probability 1/N. Compiled out otherwise.
 */
#ifndef SHMRT_BASE_YIELD_H
#define SHMRT_BASE_YIELD_H

#ifdef SHMRT_DEBUG_YIELD
void shmrt__yield_point(void);
#define SHMRT_YIELD_POINT() shmrt__yield_point()
#else
#define SHMRT_YIELD_POINT() ((void)0)
#endif

#endif /* SHMRT_BASE_YIELD_H */
