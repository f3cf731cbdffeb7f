// Google Benchmark adapters: how a body of harness.h is timed and reported, and how
// its case is registered, so that main.cc is only the table of cases.
//
// Every case is named "<case>/<impl>", impl being "shmrt" or a peer, and is labelled
// "unit=<unit>,better=lower|higher"; bench/run.py reads the label, takes the median of
// the repetitions and writes the table and build/bench/summary.json.
//
// Two ways of timing:
//  - in this process (batch_case, array_gbps; registered with reg_loop): Google
//    Benchmark times the loop and picks the number of iterations; the figure is the
//    real time per operation (ns/op), or a "value" counter (GB/s).
//  - once per repetition (mp_case, gbps_case, pingpong_case, python_case,
//    python_gbps_case, py_case; registered with reg_mp, reg_once, reg_python,
//    reg_python_gbps, reg_py):
//    the body forks its processes and times itself; the manual time is the wall clock
//    of the whole run (so that the repetitions' times add up), in milliseconds, and the
//    figure is the "value" counter (ops/s, GB/s or us). A body that fails (a negative
//    result) skips the case with an error, and run.py leaves it out.
//
// The bodies take their parameters as template arguments after the body, in the
// order of its C declaration: mp_case<queue_shmrt, 64, 1, 1, 0> runs
// queue_shmrt(ops, 64, 1, 1, 0, &wall).
#ifndef SHMRT_BENCH_GBENCH_H
#define SHMRT_BENCH_GBENCH_H

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "harness.h"

// ---- labels -------------------------------------------------------------------------

inline void label(benchmark::State &s, const char *unit, const char *better)
{
	s.SetLabel(std::string("unit=") + unit + ",better=" + better);
}

// ---- in this process ----------------------------------------------------------------

constexpr uint64_t kBatch = 1000;

// ns/op: Loop(ctx, n) runs n operations; 100000 of them warm up (not timed), then
// Google Benchmark times batches of kBatch. Open makes the context (null: the case is
// skipped), Close frees it; without Open the loop gets a null context.
template <uint64_t (*Loop)(void *, uint64_t), void *(*Open)() = nullptr,
	  void (*Close)(void *) = nullptr>
void batch_case(benchmark::State &s)
{
	void *c = nullptr;
	if constexpr (Open != nullptr) {
		c = Open();
		if (!c) {
			s.SkipWithError("cannot create region");
			return;
		}
	}
	Loop(c, 100000);
	while (s.KeepRunningBatch(kBatch))
		Loop(c, kBatch);
	if constexpr (Close != nullptr)
		Close(c);
	label(s, "ns/op", "lower");
}

// GB/s of an 8 MiB array (value_bench.c): Op copies the array once per iteration, with
// a writer process rewriting it meanwhile if Writer.
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

inline benchmark::internal::Benchmark *reg_loop(const char *name,
						void (*fn)(benchmark::State &))
{
	return benchmark::RegisterBenchmark(name, fn);
}

// ---- once per repetition ------------------------------------------------------------

// ops/s: F(ops, P..., &wall), ops being the case's argument.
template <auto F, auto... P>
void mp_case(benchmark::State &s)
{
	uint64_t ops = static_cast<uint64_t>(s.range(0));
	for (auto _ : s) {
		double wall = 0, rate = F(ops, P..., &wall);
		if (rate < 0) {
			s.SkipWithError("a worker failed or timed out");
			break;
		}
		s.SetIterationTime(wall);
		s.counters["value"] = rate;
	}
	label(s, "ops/s", "higher");
}

// GB/s: F(n, P..., &wall) moves n messages of Msg bytes; messages/s times Msg.
template <uint32_t Msg, auto F, auto... P>
void gbps_case(benchmark::State &s)
{
	uint64_t n = static_cast<uint64_t>(s.range(0));
	for (auto _ : s) {
		double wall = 0, rate = F(n, P..., &wall);
		if (rate < 0) {
			s.SkipWithError("a worker failed or timed out");
			break;
		}
		s.SetIterationTime(wall);
		s.counters["value"] = rate * Msg / 1e9;
	}
	label(s, "GB/s", "higher");
}

// us per round trip: F(P..., 100000 round trips).
template <auto F, auto... P>
void pingpong_case(benchmark::State &s)
{
	for (auto _ : s) {
		double us = F(P..., 100000);
		if (us < 0) {
			s.SkipWithError("ping-pong failed (iceoryx: is iox-roudi installed?)");
			break;
		}
		s.SetIterationTime(us * 100000 / 1e6);
		s.counters["value"] = us;
	}
	label(s, "us", "lower");
}

// Python scripts: runs the shell command `cmd`; the script times itself and prints its
// figure on its last output line. The manual time is the wall clock of the whole
// script.
inline double run_script(const std::string &cmd, double *wall)
{
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

// Python peers of C cases: `python3 bench/python/<args>` (the first python3 on PATH).
inline double run_python(const std::string &args, double *wall)
{
	return run_script("python3 " SHMRT_BENCH_PYDIR "/" + args, wall);
}

// ops/s: `python3 <script> <ops>`, ops being the case's argument.
inline void python_case(benchmark::State &s, const char *script)
{
	uint64_t ops = static_cast<uint64_t>(s.range(0));
	for (auto _ : s) {
		double wall = 0, rate = run_python(std::string(script) + " " + std::to_string(ops),
						   &wall);
		if (rate < 0) {
			s.SkipWithError("python3 failed");
			break;
		}
		s.SetIterationTime(wall);
		s.counters["value"] = rate;
	}
	label(s, "ops/s", "higher");
}

// GB/s: `python3 <args>` prints GB/s.
inline void python_gbps_case(benchmark::State &s, const char *args)
{
	for (auto _ : s) {
		double wall = 0, v = run_python(args, &wall);
		if (v < 0) {
			s.SkipWithError("python3 failed");
			break;
		}
		s.SetIterationTime(wall);
		s.counters["value"] = v;
	}
	label(s, "GB/s", "higher");
}

#ifdef SHMRT_BENCH_PY
// The py/ cases (both implementations are Python): `<SHMRT_PYTHON>
// bench/python/<args> <ops>` with the build tree's package first on PYTHONPATH; the
// figure is in `unit`, better `better`, ops being the case's argument.
inline void py_case(benchmark::State &s, std::string args, const char *unit,
		    const char *better)
{
	std::string cmd = "PYTHONPATH='" SHMRT_BENCH_PYPATH "' PYTHONDONTWRITEBYTECODE=1 '"
			  SHMRT_BENCH_PY "' '" SHMRT_BENCH_PYDIR "'/" + args + " " +
			  std::to_string(s.range(0));
	for (auto _ : s) {
		double wall = 0, v = run_script(cmd, &wall);
		if (v < 0) {
			s.SkipWithError(SHMRT_BENCH_PY " failed (see above)");
			break;
		}
		s.SetIterationTime(wall);
		s.counters["value"] = v;
	}
	label(s, unit, better);
}
#endif

// One iteration per repetition, manual time, in milliseconds. reps > 0: that many
// repetitions instead of the run's (--benchmark_repetitions).
inline benchmark::internal::Benchmark *once(benchmark::internal::Benchmark *b, int reps = 0)
{
	b->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
	if (reps > 0)
		b->Repetitions(reps);
	return b;
}

// mp_case, gbps_case: ops (or messages) is the case's argument.
inline void reg_mp(const char *name, void (*fn)(benchmark::State &), int64_t ops, int reps = 0)
{
	once(benchmark::RegisterBenchmark(name, fn)->Arg(ops), reps);
}

// pingpong_case: no argument.
inline void reg_once(const char *name, void (*fn)(benchmark::State &), int reps = 0)
{
	once(benchmark::RegisterBenchmark(name, fn), reps);
}

inline void reg_python(const char *name, const char *script, int64_t ops)
{
	once(benchmark::RegisterBenchmark(name, python_case, script)->Arg(ops));
}

inline void reg_python_gbps(const char *name, const char *args)
{
	once(benchmark::RegisterBenchmark(name, python_gbps_case, args));
}

#ifdef SHMRT_BENCH_PY
// A py/ case: "<case>/shmrt" runs `<script> <sub> shmrt <ops>`, "<case>/python_mp"
// `<script> <sub> python_mp <mp_ops>` (the slower peer does fewer operations, so that
// both take about as long); reps > 0: that many repetitions instead of the run's.
inline void reg_py(const std::string &c, const char *script_sub, int64_t ops, int64_t mp_ops,
		   const char *unit, const char *better, int reps = 0)
{
	// RegisterBenchmark copies the name, and its lambda the arguments.
	once(benchmark::RegisterBenchmark((c + "/shmrt").c_str(), py_case,
					  std::string(script_sub) + " shmrt", unit, better)
		     ->Arg(ops), reps);
	once(benchmark::RegisterBenchmark((c + "/python_mp").c_str(), py_case,
					  std::string(script_sub) + " python_mp", unit, better)
		     ->Arg(mp_ops), reps);
}
#endif

#endif
