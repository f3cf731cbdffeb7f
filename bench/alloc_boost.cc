// Boost.Interprocess peer of alloc/pair/64B (alloc_bench.c): allocate and deallocate 64
// bytes in a managed_shared_memory segment of 256 MiB (its default rbtree_best_fit
// allocator under an interprocess mutex), the C++ way of allocating in shared memory.
// The 2-process case runs the same loop in two processes that attach by name.
#include <benchmark/benchmark.h>

#include <boost/interprocess/managed_shared_memory.hpp>

#include <string>
#include <unistd.h>

#include "harness.h"

namespace bi = boost::interprocess;

namespace {

std::string boost_name()
{
	return "shmrt-bench-boost-" + std::to_string(getpid());
}

void *boost_worker_setup(int, void *arg)
{
	// Each worker attaches by name, as an independent process would.
	auto *name = static_cast<std::string *>(arg);
	auto *seg = new bi::managed_shared_memory(bi::open_only, name->c_str());
	alloc_boost_loop(seg, 1000);
	return seg;
}

} // namespace

extern "C" void *alloc_boost_open(void)
{
	std::string name = boost_name();
	bi::shared_memory_object::remove(name.c_str());
	try {
		return new bi::managed_shared_memory(bi::create_only, name.c_str(), 256 << 20);
	} catch (const std::exception &) {
		return nullptr;
	}
}

extern "C" uint64_t alloc_boost_loop(void *seg, uint64_t n)
{
	auto *m = static_cast<bi::managed_shared_memory *>(seg);
	for (uint64_t i = 0; i < n; i++) {
		void *p = m->allocate(64);
		benchmark::DoNotOptimize(p);
		m->deallocate(p);
	}
	return n;
}

extern "C" void alloc_boost_close(void *seg)
{
	delete static_cast<bi::managed_shared_memory *>(seg);
	bi::shared_memory_object::remove(boost_name().c_str());
}

extern "C" double alloc_boost_2proc(uint64_t ops, double *wall)
{
	std::string name = boost_name();
	bi::shared_memory_object::remove(name.c_str());
	double rate;
	{
		bi::managed_shared_memory seg(bi::create_only, name.c_str(), 256 << 20);
		bench_mp_case_t mc = { boost_worker_setup, alloc_boost_loop, &name, 2, ops };
		rate = bench_mp_run(&mc, wall);
	}
	bi::shared_memory_object::remove(name.c_str());
	return rate;
}
