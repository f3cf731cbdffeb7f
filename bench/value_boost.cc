// Boost.Interprocess peer of value/locked_add/2proc (value_bench.c): two processes add
// to a long under a bi::interprocess_mutex, both in a managed_shared_memory segment,
// the C++ way of sharing a locked value. Every add must be there at the end.
#include <boost/interprocess/managed_shared_memory.hpp>
#include <boost/interprocess/sync/interprocess_mutex.hpp>

#include <string>
#include <unistd.h>

#include "harness.h"

namespace bi = boost::interprocess;

namespace {

struct BoostLocked {
	bi::interprocess_mutex m;
	long v = 0;
};

uint64_t boost_locked_loop(void *st, uint64_t n)
{
	auto *b = static_cast<BoostLocked *>(st);
	for (uint64_t i = 0; i < n; i++) {
		b->m.lock();
		b->v++;
		b->m.unlock();
	}
	return n;
}

void *boost_locked_setup(int, void *arg)
{
	auto *name = static_cast<std::string *>(arg);
	auto *seg = new bi::managed_shared_memory(bi::open_only, name->c_str());
	return seg->find<BoostLocked>("locked").first;
}

} // namespace

extern "C" double boost_mutex_2proc(uint64_t ops, double *wall)
{
	std::string name = "shmrt-bench-boost-" + std::to_string(getpid());
	bi::shared_memory_object::remove(name.c_str());
	double rate;
	{
		bi::managed_shared_memory seg(bi::create_only, name.c_str(), 1 << 20);
		BoostLocked *b = seg.construct<BoostLocked>("locked")();
		bench_mp_case_t mc = { boost_locked_setup, boost_locked_loop, &name, 2, ops };
		rate = bench_mp_run(&mc, wall);
		if (rate > 0 && b->v != static_cast<long>(2 * ops))
			rate = -1;
	}
	bi::shared_memory_object::remove(name.c_str());
	return rate;
}
