/*
 * The processor: a pause for spin loops, and how many CPUs this process may use.
 */
#ifndef SHMRT_BASE_CPU_H
#define SHMRT_BASE_CPU_H

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

/* Online CPUs (sysconf), read once per process; at least 1. */
int shmrt__ncpus(void);

#endif /* SHMRT_BASE_CPU_H */
