/*
 * User-registered manager types (shmrt/mtype.h), the server's side: every check of
 * a type table, refused with -EINVAL by shmrt_manager_serve and shmrt_manager_start
 * (before listening, before forking) and the limits themselves accepted; and a
 * server run in a thread of this process by shmrt_manager_serve, whose constructors
 * and destructors are counted here (each destructor exactly once, those of the
 * objects alive at the server's end included). Calls, methods that create objects
 * and client processes: manager_utypes_test.c. Every wait is bounded.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char KEY[] = "manager-utypes-serve-test-authkey";
#define KEYLEN (sizeof(KEY) - 1)
#define SEC 1000000000ll

/* Written by the server's thread, read by the test's. */
static int64_t constructed, destroyed;

static int64_t count_of(int64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE); /* pairs with count_add */
}

static void count_add(int64_t *p)
{
	__atomic_fetch_add(p, 1, __ATOMIC_RELEASE); /* read by count_of */
}

/* Counter: an int that incr adds to; Maths: add, no state. */
static int counter_init(const shmrt_mv_t *init, void **state)
{
	int64_t *c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (shmrt_mv_as_int(init, c)) {
		free(c);
		return -EINVAL;
	}
	*state = c;
	count_add(&constructed);
	return 0;
}

static void counter_fini(void *state)
{
	free(state);
	count_add(&destroyed);
}

static int c_incr(shmrt_mtype_ctx_t *ctx, void *state, shmrt_mv_t *args, shmrt_mv_t **res)
{
	(void)ctx;
	(void)args;
	*res = shmrt_mv_int(++*(int64_t *)state);
	return *res ? 0 : -ENOMEM;
}

static const shmrt_mtype_method_t counter_methods[] = { { "incr", c_incr } };
static const shmrt_mtype_t counter_type = { .name = "Counter", .init = counter_init,
					    .fini = counter_fini, .methods = counter_methods,
					    .nmethods = 1 };

static int m_add(shmrt_mtype_ctx_t *ctx, void *state, shmrt_mv_t *args, shmrt_mv_t **res)
{
	(void)ctx;
	(void)state;
	int64_t x, y;
	if (shmrt_mv_list_len(args) != 2 || shmrt_mv_as_int(shmrt_mv_list_get(args, 0), &x) ||
	    shmrt_mv_as_int(shmrt_mv_list_get(args, 1), &y))
		return -EINVAL;
	*res = shmrt_mv_int(x + y);
	return *res ? 0 : -ENOMEM;
}

static const shmrt_mtype_method_t maths_methods[] = { { "add", m_add } };
static const shmrt_mtype_t maths_type = { .name = "Maths", .methods = maths_methods,
					  .nmethods = 1 };

static const shmrt_mtype_t *const types[] = { &counter_type, &maths_type };

#define I(x) shmrt_mv_int(x)

/* ---- validation -------------------------------------------------------------------- */

static int dummy(shmrt_mtype_ctx_t *ctx, void *state, shmrt_mv_t *args, shmrt_mv_t **res)
{
	(void)ctx;
	(void)state;
	(void)args;
	(void)res;
	return 0;
}

/* serve and start both refuse the table with -EINVAL, before listening or forking. */
static void refused(const shmrt_mtype_t *const *t, size_t n)
{
	const char *addr = "unix:";
	shmrt_manager_opts_t o;
	memset(&o, 0, sizeof(o));
	o.addresses = &addr;
	o.naddresses = 1;
	o.authkey = KEY;
	o.keylen = KEYLEN;
	o.types = t;
	o.ntypes = n;
	assert_int_equal(shmrt_manager_serve(&o), -EINVAL);
	shmrt_manager_server_t *s = NULL;
	assert_int_equal(shmrt_manager_start("unix:", KEY, KEYLEN, &o, &s), -EINVAL);
	assert_null(s);
}

static void validation(void **state)
{
	(void)state;
	static const shmrt_mtype_method_t one[] = { { "m", dummy } };
	static const shmrt_mtype_method_t dup[] = { { "m", dummy }, { "n", dummy }, { "m", dummy } };
	static const shmrt_mtype_method_t noname[] = { { NULL, dummy } };
	static const shmrt_mtype_method_t empty[] = { { "", dummy } };
	static const shmrt_mtype_method_t nofn[] = { { "m", NULL } };
	static const shmrt_mtype_method_t badutf8[] = { { "m\xff", dummy } };
	static const shmrt_mtype_method_t ctrl[] = { { "m\t", dummy } };
	static shmrt_mtype_method_t many[SHMRT_MTYPE_METHODS_MAX + 1];
	static char names[SHMRT_MTYPE_METHODS_MAX + 1][8];
	for (int i = 0; i <= SHMRT_MTYPE_METHODS_MAX; i++) {
		snprintf(names[i], sizeof(names[i]), "m%d", i);
		many[i].name = names[i];
		many[i].fn = dummy;
	}
	char longname[SHMRT_MTYPE_NAME_MAX + 2];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;

	const shmrt_mtype_t ok = { .name = "Ok", .methods = one, .nmethods = 1 };
	const shmrt_mtype_t *t[SHMRT_MTYPE_MAX + 1];
	shmrt_mtype_t bad;

	refused(NULL, 1);                    /* types NULL */
	t[0] = NULL;
	refused(t, 1);                       /* a NULL type */
	const char *bad_names[] = { NULL, "", longname, "A\xc3", "a\nb", "\x7f", "list", "dict", "Namespace",
				    "Lock", "JoinableQueue", "Condition", "Barrier", "Value",
				    "Array", "Pool" };
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		bad = ok;
		bad.name = bad_names[i];
		t[0] = &bad;
		refused(t, 1);
	}
	t[0] = &ok;                          /* a name registered twice */
	t[1] = &ok;
	refused(t, 2);
	bad = ok;                            /* ... by two tables */
	t[1] = &bad;
	refused(t, 2);
	static char tnames[SHMRT_MTYPE_MAX + 1][8];
	static shmrt_mtype_t tt[SHMRT_MTYPE_MAX + 1];
	for (int i = 0; i <= SHMRT_MTYPE_MAX; i++) {
		snprintf(tnames[i], sizeof(tnames[i]), "T%d", i);
		tt[i] = ok;
		tt[i].name = tnames[i];
		t[i] = &tt[i];
	}
	refused(t, SHMRT_MTYPE_MAX + 1);     /* too many types */
	struct {
		const shmrt_mtype_method_t *m;
		size_t n;
	} bad_methods[] = { { NULL, 1 },  { dup, 3 },      { noname, 1 }, { empty, 1 },
			    { nofn, 1 },  { badutf8, 1 }, { ctrl, 1 },
			    { many, SHMRT_MTYPE_METHODS_MAX + 1 } };
	for (size_t i = 0; i < sizeof(bad_methods) / sizeof(bad_methods[0]); i++) {
		bad = ok;
		bad.methods = bad_methods[i].m;
		bad.nmethods = bad_methods[i].n;
		t[0] = &bad;
		refused(t, 1);
	}
	bad = ok;                            /* a too long method name */
	shmrt_mtype_method_t lm[] = { { longname, dummy } };
	bad.methods = lm;
	t[0] = &bad;
	refused(t, 1);

	/* the limits themselves are accepted: 64 types, 256 methods, 64-byte names */
	shmrt_manager_server_t *s;
	shmrt_manager_opts_t o;
	memset(&o, 0, sizeof(o));
	longname[SHMRT_MTYPE_NAME_MAX] = 0;
	tt[0].name = longname;
	tt[1].methods = many;
	tt[1].nmethods = SHMRT_MTYPE_METHODS_MAX;
	for (int i = 0; i < SHMRT_MTYPE_MAX; i++)
		t[i] = &tt[i];
	o.types = t;
	o.ntypes = SHMRT_MTYPE_MAX;
	assert_int_equal(shmrt_manager_start("unix:", KEY, KEYLEN, &o, &s), 0);
	shmrt_manager_conn_t *c;
	shmrt_proxy_t *p;
	assert_int_equal(shmrt_manager_connect(shmrt_manager_address(s), KEY, KEYLEN, 10 * SEC,
					       &c), 0);
	assert_int_equal(shmrt_manager_create(c, longname, NULL, &p), 0);
	assert_int_equal(shmrt_proxy_release(p), 0);
	assert_int_equal(shmrt_manager_create(c, "T1", NULL, &p), 0);
	assert_int_equal(shmrt_proxy_call0(p, names[SHMRT_MTYPE_METHODS_MAX - 1], NULL), 0);
	assert_int_equal(shmrt_proxy_call0(p, names[SHMRT_MTYPE_METHODS_MAX], NULL), -ENOENT);
	assert_int_equal(shmrt_proxy_release(p), 0);
	assert_int_equal(shmrt_manager_create(c, "T64", NULL, &p), -ENOENT);
	shmrt_manager_close(c);
	assert_int_equal(shmrt_manager_shutdown(s), 0);
}

/* ---- a server in a thread of this process -------------------------------------------------- */

static char thread_addr[256];
static int thread_ready;

static void on_ready(const char *const *addresses, size_t n, void *arg)
{
	(void)arg;
	if (n != 1)
		return;
	snprintf(thread_addr, sizeof(thread_addr), "%s", addresses[0]);
	__atomic_store_n(&thread_ready, 1, __ATOMIC_RELEASE); /* pairs with the test's load */
}

static void *serve_main(void *arg)
{
	const char *addr = "unix:";
	shmrt_manager_opts_t o;
	memset(&o, 0, sizeof(o));
	o.addresses = &addr;
	o.naddresses = 1;
	o.authkey = KEY;
	o.keylen = KEYLEN;
	o.types = types;
	o.ntypes = 2;
	o.on_ready = on_ready;
	*(int *)arg = shmrt_manager_serve(&o);
	return NULL;
}

static void in_process_serve(void **state)
{
	(void)state;
	pthread_t th;
	int rc = -1;
	assert_int_equal(pthread_create(&th, NULL, serve_main, &rc), 0);
	uint64_t until = tu_ms() + 10000;
	while (!__atomic_load_n(&thread_ready, __ATOMIC_ACQUIRE) && tu_ms() < until)
		usleep(1000);
	assert_true(__atomic_load_n(&thread_ready, __ATOMIC_ACQUIRE));
	shmrt_manager_conn_t *c;
	shmrt_proxy_t *p, *q, *m;
	assert_int_equal(shmrt_manager_connect(thread_addr, KEY, KEYLEN, 10 * SEC, &c), 0);
	assert_int_equal(shmrt_manager_create(c, "Counter", I(1), &p), 0);
	assert_int_equal(shmrt_manager_create(c, "Counter", I(2), &q), 0);
	assert_int_equal(shmrt_manager_create(c, "Maths", NULL, &m), 0);
	shmrt_mv_t *r;
	int64_t v;
	assert_int_equal(shmrt_proxy_call2(m, "add", I(4), I(3), &r), 0);
	assert_int_equal(shmrt_mv_as_int(r, &v), 0);
	assert_int_equal(v, 7);
	shmrt_mv_free(r);
	assert_int_equal(shmrt_proxy_release(p), 0);
	assert_int_equal(count_of(&destroyed), 1);
	shmrt_manager_stop(); /* with q alive: the server's end destroys it */
	pthread_join(th, NULL);
	assert_int_equal(rc, 0);
	assert_int_equal(count_of(&constructed), 2);
	assert_int_equal(count_of(&destroyed), 2);
	assert_true(shmrt_proxy_release(q) < 0); /* the handles are freed; no server */
	assert_true(shmrt_proxy_release(m) < 0);
	shmrt_manager_close(c);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(validation),
		cmocka_unit_test(in_process_serve),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
