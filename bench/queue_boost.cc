// Boost.Interprocess peer of queue/1p1c/64B and queue/4p4c/64B (queue_bench.c): a
// bi::message_queue of 1024 messages of 64 bytes, the C++ way of passing messages
// between processes. The first P workers send n / P messages each, the C others
// receive them (the last one takes the remainder of the division).
#include <boost/interprocess/ipc/message_queue.hpp>

#include <string>
#include <unistd.h>

#include "harness.h"

namespace bi = boost::interprocess;

namespace {

struct BoostMq {
	std::string name;
	int producers, consumers;
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
				     w < c->producers, c->producers, c->consumers, w };
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

} // namespace

extern "C" double queue_boost_mq(uint64_t n, int P, int C, double *wall)
{
	BoostMq c{ "shmrt-bench-boost-" + std::to_string(getpid()) + "-mq", P, C };
	bi::message_queue::remove(c.name.c_str());
	double rate;
	{
		bi::message_queue mq(bi::create_only, c.name.c_str(), 1024, 64);
		bench_mp_case_t mc = { boost_mq_setup, boost_mq_run, &c, P + C, n };
		rate = bench_mp_run(&mc, wall);
	}
	bi::message_queue::remove(c.name.c_str());
	return rate;
}
