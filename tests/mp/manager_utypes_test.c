/*
 * User-registered manager types (shmrt/mtype.h) across processes (the checks of a
 * type table and a server in a thread: manager_utypes_serve_test.c): create, call
 * and release of a user object, its constructor's errors and `ls`; errors returned
 * by user methods reaching the client unchanged, and results the server refuses;
 * methods that create new managed objects (user and built-in), whose proxies work
 * and which die when released, when the session ends without releasing them, and at
 * once when the method fails or does not return them; two client processes on one
 * user object; the destructor run exactly once per constructed object, counted in
 * shared memory by the forked server, including the objects still alive at its end.
 * Every wait is bounded; children are killed at the end.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MMU_OWN_FIXTURES
#include "manager_mp_util.h"

/* Counted by the server process, read by the test: shared memory made before the
 * fork. */
struct counts {
	int64_t constructed, destroyed;
};
static struct counts *cnt;

static int64_t count_of(int64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE); /* pairs with the server's adds */
}

static void count_add(int64_t *p)
{
	__atomic_fetch_add(p, 1, __ATOMIC_RELEASE); /* read by count_of in the test */
}

/* ---- the types: Counter (state: an int) and Maths (no state) ---------------------- */

typedef struct counter {
	int64_t v;
} counter_t;

static int counter_init(const shmrt_mv_t *init, void **state)
{
	int64_t v = 0;
	const char *s;
	if (init && shmrt_mv_as_str(init, &s, NULL) == 0 && !strcmp(s, "fail"))
		return -EDOM; /* a constructor's own error */
	if (init && shmrt_mv_as_int(init, &v))
		return -EINVAL;
	counter_t *c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->v = v;
	*state = c;
	count_add(&cnt->constructed);
	return 0;
}

static void counter_fini(void *state)
{
	free(state);
	count_add(&cnt->destroyed);
}

static size_t counter_len(const void *state)
{
	return (size_t)((const counter_t *)state)->v;
}

/* incr [n=1] -> the new value */
static int c_incr(shmrt_mtype_ctx_t *ctx, void *state, shmrt_mv_t *args, shmrt_mv_t **res)
{
	(void)ctx;
	counter_t *c = state;
	int64_t n = 1;
	if (shmrt_mv_list_len(args) > 1 ||
	    (shmrt_mv_list_len(args) == 1 && shmrt_mv_as_int(shmrt_mv_list_get(args, 0), &n)))
		return -EINVAL;
	c->v += n;
	*res = shmrt_mv_int(c->v);
	return *res ? 0 : -ENOMEM;
}

static int c_get(shmrt_mtype_ctx_t *ctx, void *state, shmrt_mv_t *args, shmrt_mv_t **res)
{
	(void)ctx;
	(void)args;
	*res = shmrt_mv_int(((counter_t *)state)->v);
	return *res ? 0 : -ENOMEM;
}

/* fail [rc] -> returns rc, whatever it is */
static int c_fail(shmrt_mtype_ctx_t *ctx, void *state, shmrt_mv_t *args, shmrt_mv_t **res)
{
	(void)ctx;
	(void)state;
	int64_t rc;
	if (shmrt_mv_as_int(shmrt_mv_list_get(args, 0), &rc))
		return -EINVAL;
	*res = shmrt_mv_str("dropped with the error");
	return (int)rc;
}

/* spawn [] -> a new Counter with this one's value */
static int c_spawn(shmrt_mtype_ctx_t *ctx, void *state, shmrt_mv_t *args, shmrt_mv_t **res)
{
	(void)args;
	return shmrt_mtype_create(ctx, "Counter", shmrt_mv_int(((counter_t *)state)->v), res);
}

/* history [] -> a new managed list [v, v + 1] */
static int c_history(shmrt_mtype_ctx_t *ctx, void *state, shmrt_mv_t *args, shmrt_mv_t **res)
{
	(void)args;
	int64_t v = ((counter_t *)state)->v;
	shmrt_mv_t *l = shmrt_mv_list();
	if (shmrt_mv_list_append(l, shmrt_mv_int(v)) || shmrt_mv_list_append(l, shmrt_mv_int(v + 1)))
		return -ENOMEM;
	return shmrt_mtype_create(ctx, "list", l, res);
}

/* pair [] -> [Counter, dict holding that Counter]; a third object made, not returned */
static int c_pair(shmrt_mtype_ctx_t *ctx, void *state, shmrt_mv_t *args, shmrt_mv_t **res)
{
	(void)state;
	(void)args;
	shmrt_mv_t *a = NULL, *b = NULL, *junk = NULL, *m = shmrt_mv_map();
	int rc = shmrt_mtype_create(ctx, "Counter", shmrt_mv_int(7), &a);
	rc = rc ? rc : shmrt_mv_map_set(m, shmrt_mv_str("c"), shmrt_mv_copy(a));
	rc = rc ? rc : shmrt_mtype_create(ctx, "dict", m, &b);
	m = NULL;
	rc = rc ? rc : shmrt_mtype_create(ctx, "Counter", NULL, &junk);
	shmrt_mv_free(junk);
	shmrt_mv_t *l = shmrt_mv_list();
	if (!rc) {
		rc = shmrt_mv_list_append(l, a);
		a = NULL;
	}
	if (!rc) {
		rc = shmrt_mv_list_append(l, b);
		b = NULL;
	}
	shmrt_mv_free(m);
	shmrt_mv_free(a);
	shmrt_mv_free(b);
	if (rc) {
		shmrt_mv_free(l);
		return rc;
	}
	*res = l;
	return 0;
}

/* spawn_fail [] -> makes two objects, then fails with -EIO */
static int c_spawn_fail(shmrt_mtype_ctx_t *ctx, void *state, shmrt_mv_t *args, shmrt_mv_t **res)
{
	(void)state;
	(void)args;
	shmrt_mv_t *a;
	int rc = shmrt_mtype_create(ctx, "Counter", NULL, &a);
	if (rc)
		return rc;
	shmrt_mv_t *l = shmrt_mv_list();
	if (shmrt_mv_list_append(l, a))
		return -ENOMEM;
	if ((rc = shmrt_mtype_create(ctx, "list", NULL, &a)) != 0 || shmrt_mv_list_append(l, a)) {
		shmrt_mv_free(l);
		return -ENOMEM;
	}
	*res = l;
	return -EIO;
}

/* create_bad [case] -> shmrt_mtype_create's own errors */
static int c_create_bad(shmrt_mtype_ctx_t *ctx, void *state, shmrt_mv_t *args, shmrt_mv_t **res)
{
	(void)state;
	int64_t k;
	if (shmrt_mv_as_int(shmrt_mv_list_get(args, 0), &k))
		return -EINVAL;
	switch (k) {
	case 0:
		return shmrt_mtype_create(ctx, "NoSuchType", NULL, res);
	case 1:
		return shmrt_mtype_create(ctx, "list", shmrt_mv_int(3), res); /* not a list */
	case 2:
		return shmrt_mtype_create(ctx, "Counter", shmrt_mv_str("fail"), res);
	case 3:
		return shmrt_mtype_create(NULL, "list", NULL, res);
	default:
		return shmrt_mtype_create(ctx, "list", NULL, NULL);
	}
}

/* borrowed [x] -> x without taking it out of args (refused) */
static int c_borrowed(shmrt_mtype_ctx_t *ctx, void *state, shmrt_mv_t *args, shmrt_mv_t **res)
{
	(void)ctx;
	(void)state;
	*res = shmrt_mv_list_get(args, 0);
	return 0;
}

/* echo [x] -> x, taken out of args */
static int c_echo(shmrt_mtype_ctx_t *ctx, void *state, shmrt_mv_t *args, shmrt_mv_t **res)
{
	(void)ctx;
	(void)state;
	return shmrt_mv_list_pop(args, 0, res) ? -EINVAL : 0;
}

/* badref [] -> a ref to an object that does not exist */
static int c_badref(shmrt_mtype_ctx_t *ctx, void *state, shmrt_mv_t *args, shmrt_mv_t **res)
{
	(void)state;
	(void)args;
	*res = shmrt_mv_ref(shmrt_mtype_self(ctx) + 1000);
	return 0;
}

/* self [] -> a ref to this object (borrowed) */
static int c_self(shmrt_mtype_ctx_t *ctx, void *state, shmrt_mv_t *args, shmrt_mv_t **res)
{
	(void)state;
	(void)args;
	*res = shmrt_mv_ref(shmrt_mtype_self(ctx));
	return 0;
}

static const shmrt_mtype_method_t counter_methods[] = {
	{ "incr", c_incr },           { "get", c_get },
	{ "fail", c_fail },           { "spawn", c_spawn },
	{ "history", c_history },     { "pair", c_pair },
	{ "spawn_fail", c_spawn_fail }, { "create_bad", c_create_bad },
	{ "borrowed", c_borrowed },   { "echo", c_echo },
	{ "badref", c_badref },       { "self", c_self },
};
static const shmrt_mtype_t counter_type = {
	.name = "Counter",
	.init = counter_init,
	.fini = counter_fini,
	.methods = counter_methods,
	.nmethods = sizeof(counter_methods) / sizeof(counter_methods[0]),
	.len = counter_len,
};

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

/* ---- fixtures and checks ----------------------------------------------------------- */

static int setup(void **state)
{
	(void)state;
	memset(cnt, 0, sizeof(*cnt));
	shmrt_manager_opts_t o;
	memset(&o, 0, sizeof(o));
	o.types = types;
	o.ntypes = 2;
	server_up(&o);
	return 0;
}

/* Stops the server, whose end destroys what is left: every constructed object is
 * destroyed exactly once. */
static int teardown(void **state)
{
	(void)state;
	server_down();
	assert_int_equal(count_of(&cnt->destroyed), count_of(&cnt->constructed));
	tu_kill_all();
	return 0;
}

/* A result's ref at list index i (i < 0: the result itself), as a proxy. */
static shmrt_proxy_t *proxy_of(shmrt_mv_t *res, int i)
{
	uint64_t id;
	shmrt_proxy_t *p;
	assert_int_equal(shmrt_mv_as_ref(i < 0 ? res : shmrt_mv_list_get(res, i), &id), 0);
	assert_int_equal(shmrt_manager_proxy(conn, id, &p), 0);
	return p;
}

/* ---- create, call, release ------------------------------------------------------------ */

/* `shmrt manager ls --json` shows the user objects with their type, len and bytes. */
static void ls_tool(void)
{
	const char *tool = getenv("SHMRT_TOOL");
	if (!tool)
		skip(); /* run outside ctest */
	const char *tmp = getenv("TMPDIR");
	char dir[512], keyf[600], cmd[2048], out[4096];
	snprintf(dir, sizeof(dir), "%s/shmrt-utypes-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(keyf, sizeof(keyf), "%s/key", dir);
	FILE *f = fopen(keyf, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(KEY, 1, KEYLEN, f), KEYLEN);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(keyf, 0600), 0);
	snprintf(cmd, sizeof(cmd), "'%s' manager ls --json '%s' --authkey-file '%s'", tool,
		 shmrt_manager_address(srv), keyf);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	assert_int_equal(pclose(p), 0);
	unlink(keyf);
	rmdir(dir);
	if (!strstr(out, "\"type\": \"Counter\", \"len\": 16, \"bytes\": 0, \"refs\": 1}") ||
	    !strstr(out, "\"type\": \"Maths\", \"len\": 0, \"bytes\": 0, \"refs\": 1}"))
		fail_msg("ls: %s", out);
}

static void create_call_release(void **state)
{
	(void)state;
	shmrt_proxy_t *c, *m, *x;
	assert_int_equal(shmrt_manager_create(conn, "Counter", I(5), &c), 0);
	expect(c, "incr", NULL, 0, "6");
	expect(c, "incr", L(1, I(10)), 0, "16");
	expect(c, "get", NULL, 0, "16");
	expect(c, "incr", L(1, S("x")), -EINVAL, NULL);
	expect(c, "no_such_method", NULL, -ENOENT, NULL);
	expect(c, "__len__", NULL, -ENOENT, NULL); /* only what the table has */
	/* the constructor's errors, and init for a type without one */
	assert_int_equal(shmrt_manager_create(conn, "Counter", S("fail"), &x), -EDOM);
	assert_int_equal(shmrt_manager_create(conn, "Counter", S("nope"), &x), -EINVAL);
	assert_int_equal(shmrt_manager_create(conn, "Maths", I(1), &x), -EINVAL);
	assert_int_equal(shmrt_manager_create(conn, "Maths", shmrt_mv_nil(), &m), 0);
	expect(m, "add", L(2, I(4), I(3)), 0, "7");
	assert_int_equal(shmrt_manager_create(conn, "Unregistered", NULL, &x), -ENOENT);
	assert_int_equal(count_of(&cnt->constructed), 1);

	/* ls: the type's name, its len callback, bytes 0 */
	shmrt_mv_t *ls;
	char buf[512];
	assert_int_equal(shmrt_manager_objects(conn, &ls), 0);
	shmrt_mv_t *objs = shmrt_mv_map_get_str(ls, "objects");
	assert_int_equal(shmrt_mv_list_len(objs), 2);
	shmrt_mv_t *o0 = shmrt_mv_list_get(objs, 0);
	assert_true(shmrt_mv_repr(shmrt_mv_map_get_str(o0, "type"), buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "'Counter'");
	int64_t v;
	assert_int_equal(shmrt_mv_as_int(shmrt_mv_map_get_str(o0, "len"), &v), 0);
	assert_int_equal(v, 16);
	assert_int_equal(shmrt_mv_as_int(shmrt_mv_map_get_str(o0, "bytes"), &v), 0);
	assert_int_equal(v, 0);
	shmrt_mv_t *o1 = shmrt_mv_list_get(objs, 1);
	assert_true(shmrt_mv_repr(shmrt_mv_map_get_str(o1, "type"), buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "'Maths'");
	assert_int_equal(shmrt_mv_as_int(shmrt_mv_map_get_str(o1, "len"), &v), 0);
	assert_int_equal(v, 0);
	shmrt_mv_free(ls);
	ls_tool();

	/* a user object in a built-in container is kept alive by it */
	shmrt_proxy_t *d;
	assert_int_equal(shmrt_manager_create(conn, "dict", NULL, &d), 0);
	expect(d, "__setitem__", L(2, S("c"), shmrt_mv_ref(shmrt_proxy_ref(c))), 0, NULL);
	assert_int_equal(shmrt_proxy_release(c), 0);
	assert_int_equal(count_of(&cnt->destroyed), 0);
	expect(d, "clear", NULL, 0, NULL);
	assert_int_equal(count_of(&cnt->destroyed), 1); /* the last reference went */
	assert_int_equal(shmrt_proxy_release(d), 0);
	assert_int_equal(shmrt_proxy_release(m), 0);
	assert_int_equal(stat_of(conn, "objects"), 0);
	assert_int_equal(count_of(&cnt->destroyed), 1);
}

/* ---- errors of user methods ------------------------------------------------------------ */

static void method_errors(void **state)
{
	(void)state;
	shmrt_proxy_t *c;
	assert_int_equal(shmrt_manager_create(conn, "Counter", NULL, &c), 0);
	const int errs[] = { -EAGAIN, -ERANGE, -EDOM, -EOWNERDEAD, -ENOTSUP, -1, -4095 };
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		expect(c, "fail", L(1, I(errs[i])), errs[i], NULL);
	expect(c, "fail", L(1, I(1)), -EINVAL, NULL);  /* not an errno */
	expect(c, "fail", L(1, I(0)), 0, "'dropped with the error'");
	expect(c, "borrowed", L(1, S("x")), -EINVAL, NULL);
	expect(c, "echo", L(1, L(2, S("x"), I(1))), 0, "['x', 1]");
	expect(c, "badref", NULL, -ENOENT, NULL);
	/* a ref in args is checked before the method runs */
	expect(c, "echo", L(1, shmrt_mv_ref(shmrt_proxy_ref(c) + 99)), -ENOENT, NULL);
	expect(c, "echo", L(1, shmrt_mv_ref(shmrt_proxy_ref(c) ^ (1ull << 48))), -ESTALE, NULL);
	/* self: a borrowed ref; a proxy of it adds a reference as usual */
	shmrt_mv_t *r;
	assert_int_equal(shmrt_proxy_call0(c, "self", &r), 0);
	shmrt_proxy_t *c2 = proxy_of(r, -1);
	shmrt_mv_free(r);
	assert_int_equal(refs_of(shmrt_proxy_ref(c)), 2);
	assert_int_equal(shmrt_proxy_release(c2), 0);
	expect(c, "incr", NULL, 0, "1");
	/* shmrt_mtype_create's own errors; nothing is left behind */
	expect(c, "create_bad", L(1, I(0)), -ENOENT, NULL);
	expect(c, "create_bad", L(1, I(1)), -EINVAL, NULL);
	expect(c, "create_bad", L(1, I(2)), -EDOM, NULL);
	expect(c, "create_bad", L(1, I(3)), -EINVAL, NULL);
	expect(c, "create_bad", L(1, I(4)), -EINVAL, NULL);
	assert_int_equal(stat_of(conn, "objects"), 1);
	assert_int_equal(shmrt_proxy_release(c), 0);
	assert_int_equal(stat_of(conn, "objects"), 0);
	assert_int_equal(count_of(&cnt->destroyed), 1);
}

/* ---- methods that create objects --------------------------------------------------------- */

static void method_new_objects(void **state)
{
	(void)state;
	shmrt_proxy_t *c, *c2, *h;
	shmrt_mv_t *r;
	assert_int_equal(shmrt_manager_create(conn, "Counter", I(41), &c), 0);

	/* spawn: a new Counter; its proxy claims the reference the method gave */
	assert_int_equal(shmrt_proxy_call0(c, "spawn", &r), 0);
	assert_int_equal(stat_of(conn, "objects"), 2);
	uint64_t id;
	assert_int_equal(shmrt_mv_as_ref(r, &id), 0);
	assert_int_equal(refs_of(id), 1); /* the session's, unclaimed */
	c2 = proxy_of(r, -1);
	shmrt_mv_free(r);
	assert_int_equal(refs_of(id), 1); /* claimed: still one */
	expect(c2, "incr", NULL, 0, "42");
	expect(c, "get", NULL, 0, "41");
	assert_int_equal(shmrt_proxy_release(c2), 0);
	assert_int_equal(stat_of(conn, "objects"), 1);
	assert_int_equal(count_of(&cnt->destroyed), 1);

	/* two proxies of one returned ref: the second adds a reference */
	assert_int_equal(shmrt_proxy_call0(c, "spawn", &r), 0);
	c2 = proxy_of(r, -1);
	shmrt_proxy_t *c3 = proxy_of(r, -1);
	shmrt_mv_free(r);
	assert_int_equal(refs_of(shmrt_proxy_ref(c2)), 2);
	assert_int_equal(shmrt_proxy_release(c2), 0);
	expect(c3, "get", NULL, 0, "41");
	assert_int_equal(shmrt_proxy_release(c3), 0);
	assert_int_equal(stat_of(conn, "objects"), 1);

	/* history: a new built-in list */
	assert_int_equal(shmrt_proxy_call0(c, "history", &r), 0);
	h = proxy_of(r, -1);
	shmrt_mv_free(r);
	expect(h, "copy", NULL, 0, "[41, 42]");
	expect(h, "append", L(1, I(43)), 0, NULL);
	expect(h, "__len__", NULL, 0, "3");
	assert_int_equal(shmrt_proxy_release(h), 0);
	assert_int_equal(stat_of(conn, "objects"), 1);

	/* pair: [Counter, dict holding it]; the third object, not returned, is gone */
	int64_t before = count_of(&cnt->destroyed);
	assert_int_equal(shmrt_proxy_call0(c, "pair", &r), 0);
	assert_int_equal(stat_of(conn, "objects"), 3);
	assert_int_equal(count_of(&cnt->destroyed), before + 1);
	shmrt_proxy_t *pc = proxy_of(r, 0), *pd = proxy_of(r, 1);
	shmrt_mv_free(r);
	assert_int_equal(refs_of(shmrt_proxy_ref(pc)), 2); /* ours and the dict's */
	expect(pc, "get", NULL, 0, "7");
	assert_int_equal(shmrt_proxy_release(pc), 0);
	assert_int_equal(stat_of(conn, "objects"), 3); /* the dict keeps it */
	assert_int_equal(shmrt_proxy_release(pd), 0);
	assert_int_equal(stat_of(conn, "objects"), 1);
	assert_int_equal(count_of(&cnt->destroyed), before + 2);

	/* a method that fails releases what it made */
	before = count_of(&cnt->destroyed);
	expect(c, "spawn_fail", NULL, -EIO, NULL);
	assert_int_equal(stat_of(conn, "objects"), 1);
	assert_int_equal(count_of(&cnt->destroyed), before + 1);

	/* a returned ref never taken: the session holds it until it ends (teardown) */
	assert_int_equal(shmrt_proxy_call0(c, "spawn", &r), 0);
	shmrt_mv_free(r);
	assert_int_equal(stat_of(conn, "objects"), 2);
	assert_int_equal(shmrt_proxy_release(c), 0);
	assert_int_equal(stat_of(conn, "objects"), 1); /* the session still holds it */
	assert_int_equal(count_of(&cnt->destroyed), count_of(&cnt->constructed) - 1);
}

/* A client that gets new objects from methods and exits without taking proxies or
 * releasing anything: its session's end destroys them. */
static uint64_t shared_c;

static int leaver_main(void *arg)
{
	(void)arg;
	shmrt_manager_conn_t *c;
	shmrt_proxy_t *p, *h;
	shmrt_mv_t *r;
	uint64_t id;
	if (child_connect(&c) ||
	    shmrt_manager_proxy(c, shared_c, &p))
		return 2;
	for (int i = 0; i < 3; i++) {
		if (shmrt_proxy_call0(p, "spawn", &r))
			return 3;
		shmrt_mv_free(r);
	}
	if (shmrt_proxy_call0(p, "history", &r) || shmrt_mv_as_ref(r, &id) ||
	    shmrt_manager_proxy(c, id, &h)) /* a proxy taken, never released */
		return 4;
	_exit(0); /* the kernel closes the socket */
}

static void session_end_drops(void **state)
{
	(void)state;
	shmrt_proxy_t *c;
	assert_int_equal(shmrt_manager_create(conn, "Counter", I(3), &c), 0);
	shared_c = shmrt_proxy_ref(c);
	assert_int_equal(tu_wait(tu_fork(leaver_main, NULL), 20000), 0);
	uint64_t until = tu_ms() + 10000;
	while ((stat_of(conn, "objects") != 1 || stat_of(conn, "sessions") != 1) && tu_ms() < until)
		usleep(2000);
	assert_int_equal(stat_of(conn, "objects"), 1);
	assert_int_equal(count_of(&cnt->constructed), 4);
	assert_int_equal(count_of(&cnt->destroyed), 3);
	expect(c, "get", NULL, 0, "3");
	assert_int_equal(shmrt_proxy_release(c), 0);
	assert_int_equal(count_of(&cnt->destroyed), 4);
}

/* ---- two client processes on one user object --------------------------------------------- */

#define PER_CLIENT 300

static int incr_main(void *arg)
{
	(void)arg;
	shmrt_manager_conn_t *c;
	shmrt_proxy_t *p;
	if (child_connect(&c) ||
	    shmrt_manager_proxy(c, shared_c, &p))
		return 2;
	for (int k = 0; k < PER_CLIENT; k++)
		if (shmrt_proxy_call1(p, "incr", shmrt_mv_int(1), NULL))
			return 3;
	/* and one object made by a method, used and released in this process */
	shmrt_mv_t *r;
	uint64_t id;
	shmrt_proxy_t *q;
	if (shmrt_proxy_call0(p, "spawn", &r) || shmrt_mv_as_ref(r, &id) ||
	    shmrt_manager_proxy(c, id, &q) || shmrt_proxy_call1(q, "incr", shmrt_mv_int(1), NULL) ||
	    shmrt_proxy_release(q))
		return 4;
	shmrt_mv_free(r);
	shmrt_proxy_release(p);
	shmrt_manager_close(c);
	return 0;
}

static void two_clients(void **state)
{
	(void)state;
	shmrt_proxy_t *c;
	assert_int_equal(shmrt_manager_create(conn, "Counter", NULL, &c), 0);
	shared_c = shmrt_proxy_ref(c);
	pid_t a = tu_fork(incr_main, NULL), b = tu_fork(incr_main, NULL);
	assert_int_equal(tu_wait(a, 60000), 0);
	assert_int_equal(tu_wait(b, 60000), 0);
	expect(c, "get", NULL, 0, "600");
	assert_int_equal(stat_of(conn, "objects"), 1);
	assert_int_equal(count_of(&cnt->constructed), 3);
	assert_int_equal(count_of(&cnt->destroyed), 2);
	assert_int_equal(shmrt_proxy_release(c), 0);
}

/* Objects alive when the server ends are destroyed by its end. */
static void server_end(void **state)
{
	(void)state;
	shmrt_proxy_t *c[5], *d;
	shmrt_mv_t *r;
	for (int i = 0; i < 5; i++)
		assert_int_equal(shmrt_manager_create(conn, "Counter", I(i), &c[i]), 0);
	assert_int_equal(shmrt_manager_create(conn, "dict", NULL, &d), 0);
	expect(d, "__setitem__", L(2, S("c"), shmrt_mv_ref(shmrt_proxy_ref(c[4]))), 0, NULL);
	assert_int_equal(shmrt_proxy_call0(c[4], "spawn", &r), 0);
	shmrt_mv_free(r);
	assert_int_equal(count_of(&cnt->constructed), 6);
	assert_int_equal(count_of(&cnt->destroyed), 0);
	assert_int_equal(shmrt_manager_shutdown(srv), 0); /* with every object alive */
	srv = NULL;
	assert_int_equal(count_of(&cnt->destroyed), 6);
	/* the proxies' handles are freed; their releases fail: the server is gone */
	for (int i = 0; i < 5; i++)
		assert_true(shmrt_proxy_release(c[i]) < 0);
	assert_true(shmrt_proxy_release(d) < 0);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	cnt = mmap(NULL, sizeof(*cnt), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (cnt == MAP_FAILED)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(create_call_release, setup, teardown),
		cmocka_unit_test_setup_teardown(method_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(method_new_objects, setup, teardown),
		cmocka_unit_test_setup_teardown(session_end_drops, setup, teardown),
		cmocka_unit_test_setup_teardown(two_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(server_end, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
