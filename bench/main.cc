// Google Benchmark shim: registers every case under the name "<case>/<impl>", where
// impl is "shmrt" or a peer. The label carries the unit and which direction is
// better; bench/run.py turns the medians into the table and build/bench/summary.json.
// Single-process cases report real time per operation; multi-process cases run once
// per repetition (manual time = wall clock of the whole run) and report a "value"
// counter in operations per second.
#include <benchmark/benchmark.h>

#include <boost/interprocess/managed_shared_memory.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

#include "harness.h"

namespace bi = boost::interprocess;

namespace {

void label(benchmark::State &s, const char *unit, const char *better)
{
	s.SetLabel(std::string("unit=") + unit + ",better=" + better);
}

// ---- alloc/pair/64B ---------------------------------------------------------

constexpr uint64_t kBatch = 1000;
constexpr uint64_t kMpOps = 20000000;

void alloc_1proc_shmrt(benchmark::State &s)
{
	void *c = alloc_shmrt_open();
	if (!c) {
		s.SkipWithError("cannot create region");
		return;
	}
	alloc_shmrt_loop(c, 100000);
	while (s.KeepRunningBatch(kBatch))
		alloc_shmrt_loop(c, kBatch);
	alloc_shmrt_close(c);
	label(s, "ns/op", "lower");
}

void alloc_1proc_glibc(benchmark::State &s)
{
	alloc_glibc_loop(nullptr, 100000);
	while (s.KeepRunningBatch(kBatch))
		alloc_glibc_loop(nullptr, kBatch);
	label(s, "ns/op", "lower");
}

std::string boost_name()
{
	return "shmrt-bench-boost-" + std::to_string(getpid());
}

uint64_t boost_loop(void *seg, uint64_t n)
{
	auto *m = static_cast<bi::managed_shared_memory *>(seg);
	for (uint64_t i = 0; i < n; i++) {
		void *p = m->allocate(64);
		benchmark::DoNotOptimize(p);
		m->deallocate(p);
	}
	return n;
}

void alloc_1proc_boost(benchmark::State &s)
{
	std::string name = boost_name();
	bi::shared_memory_object::remove(name.c_str());
	{
		bi::managed_shared_memory seg(bi::create_only, name.c_str(), 256 << 20);
		boost_loop(&seg, 100000);
		while (s.KeepRunningBatch(kBatch))
			boost_loop(&seg, kBatch);
	}
	bi::shared_memory_object::remove(name.c_str());
	label(s, "ns/op", "lower");
}

void *boost_worker_setup(int, void *arg)
{
	// Each worker attaches by name, as an independent process would.
	auto *name = static_cast<std::string *>(arg);
	auto *seg = new bi::managed_shared_memory(bi::open_only, name->c_str());
	boost_loop(seg, 1000);
	return seg;
}

double alloc_boost_2proc(uint64_t ops, double *wall)
{
	std::string name = boost_name();
	bi::shared_memory_object::remove(name.c_str());
	double rate;
	{
		bi::managed_shared_memory seg(bi::create_only, name.c_str(), 256 << 20);
		bench_mp_case_t mc = { boost_worker_setup, boost_loop, &name, 2, ops };
		rate = bench_mp_run(&mc, wall);
	}
	bi::shared_memory_object::remove(name.c_str());
	return rate;
}

template <double (*F)(uint64_t, double *)>
void mp_case(benchmark::State &s)
{
	uint64_t ops = static_cast<uint64_t>(s.range(0));
	for (auto _ : s) {
		double wall = 0, rate = F(ops, &wall);
		if (rate < 0) {
			s.SkipWithError("a worker failed or timed out");
			break;
		}
		s.SetIterationTime(wall);
		s.counters["value"] = rate;
	}
	label(s, "ops/s", "higher");
}

void reg_mp(const char *name, void (*fn)(benchmark::State &), int64_t ops)
{
	benchmark::RegisterBenchmark(name, fn)->Arg(ops)->Iterations(1)->UseManualTime()
		->Unit(benchmark::kMillisecond);
}

} // namespace

int main(int argc, char **argv)
{
	benchmark::RegisterBenchmark("alloc/pair/64B/1proc/shmrt", alloc_1proc_shmrt);
	benchmark::RegisterBenchmark("alloc/pair/64B/1proc/glibc_malloc", alloc_1proc_glibc);
	benchmark::RegisterBenchmark("alloc/pair/64B/1proc/boost_interprocess", alloc_1proc_boost);
	reg_mp("alloc/pair/64B/2proc/shmrt", mp_case<alloc_shmrt_2proc>, kMpOps);
	reg_mp("alloc/pair/64B/2proc/glibc_malloc", mp_case<alloc_glibc_2proc>, kMpOps);
	reg_mp("alloc/pair/64B/2proc/boost_interprocess", mp_case<alloc_boost_2proc>, kMpOps / 10);

	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 1;
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	return 0;
}
