// Google Benchmark shim: registers every case under the name "<case>/<impl>", where
// impl is "shmrt" or a peer. The label carries the unit and which direction is
// better; bench/run.py turns the medians into the table and build/bench/summary.json.
// Single-process cases report real time per operation; multi-process cases run once
// per repetition (manual time = wall clock of the whole run) and report a "value"
// counter in operations per second.
#include <benchmark/benchmark.h>

#include <boost/interprocess/managed_shared_memory.hpp>
#include <boost/interprocess/ipc/message_queue.hpp>
#include <boost/interprocess/sync/interprocess_mutex.hpp>

#include <chrono>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>
#include <vector>

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

// reps > 0: that many repetitions instead of the run's (--benchmark_repetitions).
// Cases of a few milliseconds whose rate moves with the phase of the machine get more
// samples, so that a median is not decided by a phase lasting three of five of them.
void reg_mp(const char *name, void (*fn)(benchmark::State &), int64_t ops, int reps = 0)
{
	auto *b = benchmark::RegisterBenchmark(name, fn)->Arg(ops)->Iterations(1)->UseManualTime()
			  ->Unit(benchmark::kMillisecond);
	if (reps > 0)
		b->Repetitions(reps);
}

const int kShortReps = 15; // for the short, phase-sensitive cases (pipe, ping-pong)


// ---- value / counter / locked add (issue 3) ----------------------------------------

template <uint64_t (*Loop)(void *, uint64_t)>
void value_1proc(benchmark::State &s)
{
	void *c = value_open();
	if (!c) {
		s.SkipWithError("cannot create region");
		return;
	}
	Loop(c, 100000);
	while (s.KeepRunningBatch(kBatch))
		Loop(c, kBatch);
	value_close(c);
	label(s, "ns/op", "lower");
}

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

double boost_mutex_2proc(uint64_t ops, double *wall)
{
	std::string name = boost_name();
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

// Runs a Python peer script; its last output line is the figure.
double run_python(const std::string &args, double *wall)
{
	std::string cmd = "python3 " SHMRT_BENCH_PYDIR "/" + args;
	auto t0 = std::chrono::steady_clock::now();
	FILE *f = popen(cmd.c_str(), "r");
	if (!f)
		return -1;
	char line[256] = "";
	double v = -1;
	while (fgets(line, sizeof(line), f))
		v = std::atof(line);
	if (pclose(f) != 0)
		return -1;
	*wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
	return v;
}

double python_locked_add(uint64_t ops, double *wall)
{
	return run_python("locked_add.py " + std::to_string(ops), wall);
}

// ---- arrays (issue 3) --------------------------------------------------------------

template <void (*Op)(void *), bool Writer>
void array_gbps(benchmark::State &s)
{
	void *c = array_open();
	if (!c) {
		s.SkipWithError("cannot create region");
		return;
	}
	pid_t w = Writer ? array_start_writer(c) : 0;
	Op(c);
	uint64_t bytes = 0;
	auto t0 = std::chrono::steady_clock::now();
	for (auto _ : s) {
		Op(c);
		bytes += array_bytes();
	}
	double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
	if (w)
		array_stop_writer(w);
	array_close(c);
	s.counters["value"] = static_cast<double>(bytes) / secs / 1e9;
	label(s, "GB/s", "higher");
}

void python_array_snapshot(benchmark::State &s)
{
	for (auto _ : s) {
		double wall = 0, v = run_python("array_snapshot.py 1048576 20", &wall);
		if (v < 0) {
			s.SkipWithError("python3 failed");
			break;
		}
		s.SetIterationTime(wall);
		s.counters["value"] = v;
	}
	label(s, "GB/s", "higher");
}

// ---- queues (issue 4) ------------------------------------------------------------

template <uint32_t Msg, int P, int C, unsigned Burst>
double q_shmrt(uint64_t n, double *wall)
{
	return queue_shmrt(n, Msg, P, C, Burst, wall);
}
template <uint32_t Msg, int Unix>
double q_fd(uint64_t n, double *wall)
{
	return queue_fd_peer(n, Msg, Unix, wall);
}
double q_ck_ring(uint64_t n, double *wall)
{
	return queue_ck_ring_raw(n, wall);
}
double q_posix_mq(uint64_t n, double *wall)
{
	return queue_posix_mq(n, 64, wall);
}
double q_python(uint64_t n, double *wall)
{
	return run_python("queue_1p1c.py " + std::to_string(n), wall);
}

struct BoostMq {
	std::string name;
	int producers;
};

struct BoostMqWorker {
	bi::message_queue *mq;
	bool producer;
	int producers, consumers;
	int id;
};

void *boost_mq_setup(int w, void *arg)
{
	auto *c = static_cast<BoostMq *>(arg);
	auto *x = new BoostMqWorker{ new bi::message_queue(bi::open_only, c->name.c_str()),
				     w < c->producers, c->producers, 0, w };
	return x;
}

uint64_t boost_mq_run(void *st, uint64_t n)
{
	auto *x = static_cast<BoostMqWorker *>(st);
	char buf[64] = {};
	if (x->producer) {
		for (uint64_t i = 0; i < n / static_cast<uint64_t>(x->producers); i++)
			x->mq->send(buf, sizeof(buf), 0);
		return 0;
	}
	uint64_t total = n / static_cast<uint64_t>(x->producers) * static_cast<uint64_t>(x->producers);
	uint64_t mine = total / static_cast<uint64_t>(x->consumers);
	if (x->id == x->producers + x->consumers - 1)
		mine = total - mine * static_cast<uint64_t>(x->consumers - 1);
	unsigned prio;
	bi::message_queue::size_type got;
	for (uint64_t i = 0; i < mine; i++)
		x->mq->receive(buf, sizeof(buf), got, prio);
	return mine;
}

template <int P, int C>
double q_boost(uint64_t n, double *wall)
{
	BoostMq c{ boost_name() + "-mq", P };
	bi::message_queue::remove(c.name.c_str());
	double rate;
	{
		bi::message_queue mq(bi::create_only, c.name.c_str(), 1024, 64);
		struct Wrap {
			static void *setup(int w, void *arg)
			{
				auto *x = static_cast<BoostMqWorker *>(boost_mq_setup(w, arg));
				x->consumers = C;
				return x;
			}
		};
		bench_mp_case_t mc = { Wrap::setup, boost_mq_run, &c, P + C, n };
		rate = bench_mp_run(&mc, wall);
	}
	bi::message_queue::remove(c.name.c_str());
	return rate;
}

// GB/s cases: messages/s times the message size.
template <double (*F)(uint64_t, double *), uint32_t Msg>
void gbps_case(benchmark::State &s)
{
	uint64_t n = static_cast<uint64_t>(s.range(0));
	for (auto _ : s) {
		double wall = 0, rate = F(n, &wall);
		if (rate < 0) {
			s.SkipWithError("a worker failed or timed out");
			break;
		}
		s.SetIterationTime(wall);
		s.counters["value"] = rate * Msg / 1e9;
	}
	label(s, "GB/s", "higher");
}

template <int Mode>
void pingpong_case(benchmark::State &s)
{
	for (auto _ : s) {
		double us = pingpong_us(Mode, 100000);
		if (us < 0) {
			s.SkipWithError("ping-pong failed");
			break;
		}
		s.SetIterationTime(us * 100000 / 1e6);
		s.counters["value"] = us;
	}
	label(s, "us", "lower");
}
#ifdef SHMRT_BENCH_IOX
void pingpong_iceoryx(benchmark::State &s)
{
	for (auto _ : s) {
		double us = iox_pingpong_us(100000);
		if (us < 0) {
			s.SkipWithError("iceoryx ping-pong failed (is iox-roudi installed?)");
			break;
		}
		s.SetIterationTime(us * 100000 / 1e6);
		s.counters["value"] = us;
	}
	label(s, "us", "lower");
}
#endif

// ---- dict (issue 5) ------------------------------------------------------------------

template <int Workers, int Mixed>
double d_shmrt(uint64_t n, double *wall)
{
	return dict_shmrt(n, Workers, Mixed, wall);
}

template <int Workers, int Mixed, int Depth>
double d_redis(uint64_t n, double *wall)
{
	return dict_redis(n, Workers, Mixed, Depth, wall);
}

template <int Workers, int Mixed>
double d_boost(uint64_t n, double *wall)
{
	return dict_boost(n, Workers, Mixed, wall);
}

double d_python_get1(uint64_t n, double *wall)
{
	return run_python("dict_manager.py get1 " + std::to_string(n), wall);
}

double d_python_mixed2(uint64_t n, double *wall)
{
	return run_python("dict_manager.py mixed2 " + std::to_string(n), wall);
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

	benchmark::RegisterBenchmark("value/fetch_add/1proc/shmrt", value_1proc<value_fetch_add_loop>);
	benchmark::RegisterBenchmark("value/fetch_add/1proc/raw_atomic", value_1proc<raw_atomic_loop>);
	reg_mp("counter/add/2proc/shmrt", mp_case<counter_2proc>, kMpOps);
	reg_mp("counter/add/2proc/raw_atomic_contended", mp_case<raw_atomic_contended_2proc>,
	       kMpOps / 4);
	reg_mp("value/locked_add/2proc/shmrt", mp_case<locked_add_2proc>, kMpOps / 4);
	reg_mp("value/locked_add/2proc/pthread_robust_mutex", mp_case<pthread_robust_mutex_2proc>,
	       kMpOps / 4);
	reg_mp("value/locked_add/2proc/boost_interprocess_mutex", mp_case<boost_mutex_2proc>,
	       kMpOps / 4);
	reg_mp("value/locked_add/2proc/python_mp", mp_case<python_locked_add>, 200000);
	benchmark::RegisterBenchmark("array/snapshot/8MiB/shmrt", array_gbps<array_snapshot_once, false>)
		->Unit(benchmark::kMillisecond);
	benchmark::RegisterBenchmark("array/snapshot/8MiB/memcpy", array_gbps<memcpy_once, false>)
		->Unit(benchmark::kMillisecond);
	benchmark::RegisterBenchmark("array/snapshot/8MiB/python_mp", python_array_snapshot)
		->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
	benchmark::RegisterBenchmark("array/read_under_writer/8MiB/shmrt", array_gbps<array_read_once, true>)
		->Unit(benchmark::kMillisecond);
	benchmark::RegisterBenchmark("array/read_under_writer/8MiB/shmrt_snapshot",
				     array_gbps<array_snapshot_once, true>)->Unit(benchmark::kMillisecond);
	benchmark::RegisterBenchmark("array/read_under_writer/8MiB/memcpy_unprotected",
				     array_gbps<memcpy_once, true>)->Unit(benchmark::kMillisecond);

	const int64_t kQ = 2000000;
	reg_mp("queue/1p1c/64B/shmrt", mp_case<q_shmrt<64, 1, 1, 0>>, kQ);
	reg_mp("queue/1p1c/64B/ck_ring_raw", mp_case<q_ck_ring>, kQ);
	reg_mp("queue/1p1c/64B/pipe", mp_case<q_fd<64, 0>>, kQ);
	reg_mp("queue/1p1c/64B/unix_socket", mp_case<q_fd<64, 1>>, kQ);
	reg_mp("queue/1p1c/64B/posix_mq", mp_case<q_posix_mq>, kQ / 4);
	reg_mp("queue/1p1c/64B/boost_message_queue", mp_case<q_boost<1, 1>>, kQ);
	reg_mp("queue/1p1c/64B/python_mp", mp_case<q_python>, 100000);
	reg_mp("queue/1p1c/64B/burst32/shmrt", mp_case<q_shmrt<64, 1, 1, 32>>, kQ * 2);
	reg_mp("queue/4p4c/64B/shmrt", mp_case<q_shmrt<64, 4, 4, 0>>, kQ);
	reg_mp("queue/4p4c/64B/boost_message_queue", mp_case<q_boost<4, 4>>, kQ);
	for (auto *name : { "queue/pingpong/64B/shmrt", "queue/pingpong/64B/spin_pingpong_raw",
			    "queue/pingpong/64B/futex_pingpong_raw", "queue/pingpong/64B/pipe",
			    "queue/pingpong/64B/shmrt_spsc", "queue/pingpong/64B/shmrt_pipe" }) {
		static const std::vector<void (*)(benchmark::State &)> fns = {
			pingpong_case<0>, pingpong_case<1>, pingpong_case<2>, pingpong_case<3>,
			pingpong_case<4>, pingpong_case<5>
		};
		static int k = 0;
		int mode = k;
		auto *b = benchmark::RegisterBenchmark(name, fns[k++])->Iterations(1)->UseManualTime()
				  ->Unit(benchmark::kMillisecond);
		if (mode != 2 && mode != 3) // not the futex and pipe(2) peers: seconds each
			b->Repetitions(kShortReps);
	}
#ifdef SHMRT_BENCH_IOX
	benchmark::RegisterBenchmark("queue/pingpong/64B/iceoryx", pingpong_iceoryx)->Iterations(1)
		->UseManualTime()->Unit(benchmark::kMillisecond);
#endif
	auto reg_gb = [](const char *name, void (*fn)(benchmark::State &), int64_t n) {
		benchmark::RegisterBenchmark(name, fn)->Arg(n)->Iterations(1)->UseManualTime()
			->Unit(benchmark::kMillisecond);
	};
	reg_gb("queue/1p1c/4KiB/shmrt", gbps_case<q_shmrt<4096, 1, 1, 0>, 4096>, 400000);
	reg_gb("queue/1p1c/4KiB/pipe", gbps_case<q_fd<4096, 0>, 4096>, 400000);
	reg_gb("queue/1p1c/4KiB/unix_socket", gbps_case<q_fd<4096, 1>, 4096>, 400000);
	reg_gb("queue/1p1c/64KiB/shmrt", gbps_case<q_shmrt<65536, 1, 1, 0>, 65536>, 40000);
	reg_gb("queue/1p1c/64KiB/pipe", gbps_case<q_fd<65536, 0>, 65536>, 40000);
	reg_gb("queue/1p1c/64KiB/unix_socket", gbps_case<q_fd<65536, 1>, 65536>, 40000);

	reg_mp("pipe/1p1c/64B/shmrt", mp_case<pipe_shmrt>, kQ * 2, kShortReps);
	reg_mp("pipe/1p1c/64B/shmrt_call", mp_case<pipe_shmrt_call>, kQ * 2, kShortReps);
	reg_mp("pipe/1p1c/64B/ck_ring_spsc_raw", mp_case<pipe_ck_ring_spsc_raw>, kQ * 2, kShortReps);
	reg_mp("pipe/1p1c/64B/spsc_64B_raw", mp_case<pipe_spsc_64B_raw>, kQ * 2, kShortReps);
	reg_mp("pipe/1p1c/64B/spsc_64B_ck_ec", mp_case<pipe_spsc_64B_ck_ec>, kQ * 2, kShortReps);

	// Dict: ops per worker (the python peer takes the total).
	const int64_t kD = 4000000;
	reg_mp("dict/get/1proc/shmrt", mp_case<d_shmrt<1, 0>>, kD);
	reg_mp("dict/get/1proc/boost_interprocess", mp_case<d_boost<1, 0>>, kD / 4);
	reg_mp("dict/get/1proc/redis", mp_case<d_redis<1, 0, 1>>, 40000);
	reg_mp("dict/get/1proc/redis_pipelined32", mp_case<d_redis<1, 0, 32>>, 1000000);
	reg_mp("dict/get/1proc/python_mp", mp_case<d_python_get1>, 20000);
	reg_mp("dict/get/2proc/shmrt", mp_case<d_shmrt<2, 0>>, kD);
	reg_mp("dict/mixed90/2proc/shmrt", mp_case<d_shmrt<2, 1>>, kD);
	reg_mp("dict/mixed90/2proc/boost_interprocess", mp_case<d_boost<2, 1>>, kD / 8);
	reg_mp("dict/mixed90/2proc/redis", mp_case<d_redis<2, 1, 1>>, 20000);
	reg_mp("dict/mixed90/2proc/redis_pipelined32", mp_case<d_redis<2, 1, 32>>, 500000);
	reg_mp("dict/mixed90/2proc/python_mp", mp_case<d_python_mixed2>, 20000);

	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 1;
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	return 0;
}
