// Boost.Interprocess peer of the Dict benchmarks (issue 5): a boost::interprocess::map
// of 16-byte keys to 64-byte values in managed_shared_memory, guarded by an
// interprocess_sharable_mutex (shared for finds, exclusive for insert-or-assign), the
// way a C++ program shares a map between processes without a server. Same keys,
// values and access pattern as dict_bench.c.
#include <boost/interprocess/allocators/allocator.hpp>
#include <boost/interprocess/containers/map.hpp>
#include <boost/interprocess/managed_shared_memory.hpp>
#include <boost/interprocess/sync/interprocess_sharable_mutex.hpp>
#include <boost/interprocess/sync/scoped_lock.hpp>
#include <boost/interprocess/sync/sharable_lock.hpp>

#include <array>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>

#include "harness.h"

namespace bi = boost::interprocess;

namespace {

using Key = std::array<char, 16>;
using Val = std::array<char, 64>;
using Pair = std::pair<const Key, Val>;
using Alloc = bi::allocator<Pair, bi::managed_shared_memory::segment_manager>;
using Map = bi::map<Key, Val, std::less<Key>, Alloc>;

struct Shared {
	bi::interprocess_sharable_mutex mu;
	Map *map;
};

std::string seg_name;
bi::managed_shared_memory *seg;
Shared *shared;

void boost_teardown()
{
	delete seg;
	seg = nullptr;
	bi::shared_memory_object::remove(seg_name.c_str());
}

int boost_ready()
{
	if (shared)
		return 0;
	seg_name = "shmrt-bench-boostdict-" + std::to_string(getpid());
	bi::shared_memory_object::remove(seg_name.c_str());
	try {
		seg = new bi::managed_shared_memory(bi::create_only, seg_name.c_str(), 1ull << 30);
		std::atexit(boost_teardown);
		Map *m = seg->construct<Map>("map")(std::less<Key>(), seg->get_segment_manager());
		shared = seg->construct<Shared>("shared")();
		shared->map = m;
		for (uint64_t i = 0; i < DICT_KEYS; i++) {
			Key k;
			Val v;
			std::memcpy(k.data(), dict_bench_key(i), 16);
			bench_value64(i, v.data());
			m->emplace(k, v);
		}
	} catch (const std::exception &) {
		return -1;
	}
	return 0;
}

struct State {
	uint64_t seed;
	int mixed;
};

uint64_t boost_run(void *st, uint64_t n)
{
	auto *w = static_cast<State *>(st);
	uint64_t ok = 0;
	Val out;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t x = bench_xorshift(&w->seed);
		Key k;
		std::memcpy(k.data(), dict_bench_key(x % DICT_KEYS), 16);
		if (w->mixed && (x >> 40) % 10 == 0) {
			Val v;
			bench_value64(i, v.data());
			bi::scoped_lock<bi::interprocess_sharable_mutex> lk(shared->mu);
			shared->map->insert_or_assign(k, v);
			ok++;
		} else {
			bi::sharable_lock<bi::interprocess_sharable_mutex> lk(shared->mu);
			auto it = shared->map->find(k);
			if (it != shared->map->end()) {
				out = it->second;
				ok++;
			}
		}
	}
	return ok;
}

void *boost_setup(int worker, void *arg)
{
	static State s;
	s.seed = 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(worker + 1);
	s.mixed = arg != nullptr;
	return &s;
}

} // namespace

extern "C" double dict_boost(uint64_t ops, int workers, int mixed, double *wall)
{
	if (boost_ready())
		return -1;
	bench_mp_case_t c = { boost_setup, boost_run, mixed ? reinterpret_cast<void *>(1) : nullptr,
			      workers, ops };
	double rate = bench_mp_run(&c, wall);
	return rate > 0 && static_cast<uint64_t>(rate * *wall + 0.5) >= ops * workers ? rate : -1;
}
