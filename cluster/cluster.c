/*
 * shmrt cluster mode: the cluster itself (nodes, node regions, the RMA window) and its
 * Value and Counter (include/shmrt/cluster.h says what each call costs).
 *
 * Nodes. The communicator is duplicated (the cluster's MPI traffic never matches a
 * user's), split by MPI_COMM_TYPE_SHARED into real nodes and, when asked, each real
 * node into pretend nodes of N consecutive ranks. A node's first rank is its leader.
 * Nodes are numbered by their leaders' ranks, in order, so every rank computes the
 * same numbering from one MPI_Allgather of "am I a leader".
 *
 * Regions. Each node has one shmrt region, "NAME.nodeK": the leader creates (or
 * re-attaches to) it, then the node's other ranks open it after the leader's result
 * is broadcast in the node. Every outcome is agreed over the whole communicator
 * (an MPI_Allreduce of the error codes), so that all ranks fail alike or go on alike:
 * a collective call that returned an error on some ranks and 0 on others would leave
 * the others waiting in the next collective forever.
 *
 * The window. One MPI_Win_allocate per cluster: window_bytes on every leader, none on
 * the other ranks. It is zeroed by its owner before MPI_Win_lock_all and a barrier;
 * after that, no rank touches window memory except through MPI calls (the rule of
 * cluster.h: never CPU and MPI atomics on one word). Its info says
 * accumulate_ordering=none (no call relies on two accumulates being ordered: each
 * call flushes) but not same_op_no_op: a Value mixes MPI_SUM, MPI_REPLACE, MPI_NO_OP
 * and compare-and-swap on one word, which that hint would forbid.
 *
 * Placement of objects. Object creation is collective and every rank runs it in the
 * same order with the same names, so a bump allocator per node (next word of each
 * leader's window), kept identically by every rank, places them without any message:
 * a Value takes the next word of its home node (FNV-1a of the name modulo the nodes);
 * a Counter takes one word at the same displacement on every node. Words are never
 * freed; the window is freed by shmrt_cluster_close. Each rank keeps the names it
 * opened, so that a second open of a name returns the same object.
 *
 * Failures. MPI errors on the window and the duplicated communicator are returned
 * (MPI_ERRORS_RETURN) and reported as -EIO. A process that dies inside a node leaves
 * the node's region to shmrt's own recovery; a rank that dies ends the job (Open MPI
 * 4.1 is fail-stop).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_int.h"

static bool good_name(const char *s, size_t max)
{
	size_t n;
	if (s == NULL)
		return false;
	n = strlen(s);
	if (n == 0 || n > max || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

/* Every rank's rc in, the same rc out on every rank: the most negative one (0 when
 * all are 0). -EIO if the reduction itself fails. A collective call that returned an
 * error on some ranks and 0 on others would leave the others waiting in their next
 * collective. */
int shmrt__cl_agree(MPI_Comm comm, int rc)
{
	int all;
	if (MPI_Allreduce(&rc, &all, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS)
		return -EIO;
	return all;
}

/* Whether every rank passed the same 64-bit key (names, options). */
static int same_everywhere(MPI_Comm comm, uint64_t key)
{
	uint64_t lo, hi;
	if (MPI_Allreduce(&key, &lo, 1, MPI_UINT64_T, MPI_MIN, comm) != MPI_SUCCESS ||
	    MPI_Allreduce(&key, &hi, 1, MPI_UINT64_T, MPI_MAX, comm) != MPI_SUCCESS)
		return -EIO;
	return lo == hi ? 0 : -EINVAL;
}

SHMRT_API void shmrt_cluster_opts_init(shmrt_cluster_opts_t *opts)
{
	if (opts)
		memset(opts, 0, sizeof *opts);
}

static int ranks_per_node(const shmrt_cluster_opts_t *o)
{
	const char *e;
	if (o->ranks_per_node != 0)
		return o->ranks_per_node;
	e = getenv("SHMRT_CLUSTER_RANKS_PER_NODE");
	if (e && *e) {
		char *end;
		long v = strtol(e, &end, 10);
		if (*end != '\0' || v < 0 || v > 1 << 20)
			return -1;
		return (int)v;
	}
	return 0;
}

static void free_cluster(shmrt_cluster_t *cl)
{
	if (cl->node_comm != MPI_COMM_NULL)
		MPI_Comm_free(&cl->node_comm);
	if (cl->comm != MPI_COMM_NULL)
		MPI_Comm_free(&cl->comm);
	free(cl->leader);
	free(cl->scratch_int);
	free(cl->next);
	free(cl->scratch);
	free(cl->objs);
	free(cl);
}

/* Splits the communicator into nodes and numbers them. */
static int split_nodes(shmrt_cluster_t *cl, int rpn)
{
	MPI_Comm shared;
	int lr, is_leader, *flags, k;

	if (MPI_Comm_split_type(cl->comm, MPI_COMM_TYPE_SHARED, cl->rank, MPI_INFO_NULL,
				&shared) != MPI_SUCCESS)
		return -EIO;
	if (rpn > 0) {
		MPI_Comm_rank(shared, &lr);
		if (MPI_Comm_split(shared, lr / rpn, cl->rank, &cl->node_comm) != MPI_SUCCESS) {
			MPI_Comm_free(&shared);
			return -EIO;
		}
		MPI_Comm_free(&shared);
	} else {
		cl->node_comm = shared;
	}
	MPI_Comm_rank(cl->node_comm, &cl->node_rank);
	MPI_Comm_size(cl->node_comm, &cl->node_size);

	is_leader = cl->node_rank == 0;
	flags = cl->scratch_int;
	if (MPI_Allgather(&is_leader, 1, MPI_INT, flags, 1, MPI_INT, cl->comm) != MPI_SUCCESS)
		return -EIO;
	cl->nodes = 0;
	for (int r = 0; r < cl->size; r++)
		if (flags[r])
			cl->leader[cl->nodes++] = r;
	/* My node: the index of my leader's rank among the leaders. */
	k = cl->rank;
	if (MPI_Bcast(&k, 1, MPI_INT, 0, cl->node_comm) != MPI_SUCCESS)
		return -EIO;
	cl->node = -1;
	for (int i = 0; i < cl->nodes; i++)
		if (cl->leader[i] == k)
			cl->node = i;
	return cl->node < 0 ? -EIO : 0;
}

/* Opens the node's region: the leader first, then the others. */
static int open_region(shmrt_cluster_t *cl, const shmrt_cluster_opts_t *o)
{
	char rname[SHMRT_NAME_MAX + 1];
	shmrt_region_opts_t ro;
	int rc = 0, lrc;

	snprintf(rname, sizeof rname, "%s.node%d", cl->name, cl->node);
	shmrt_region_opts_init(&ro);
	ro.size = o->region_size;
	ro.flags = o->region_flags;
	if (cl->node_rank == 0) {
		int fl = SHMRT_O_CREATE | (o->fresh ? SHMRT_O_EXCL | SHMRT_O_FRESH : 0);
		rc = shmrt_region_open(rname, fl, &ro, &cl->region);
	}
	lrc = rc;
	if (MPI_Bcast(&lrc, 1, MPI_INT, 0, cl->node_comm) != MPI_SUCCESS)
		return -EIO;
	if (cl->node_rank != 0 && lrc == 0)
		rc = shmrt_region_open(rname, 0, &ro, &cl->region);
	return cl->node_rank == 0 ? rc : (lrc ? lrc : rc);
}

static int make_window(shmrt_cluster_t *cl)
{
	MPI_Info info;
	MPI_Aint bytes = cl->node_rank == 0 ? (MPI_Aint)(cl->words * 8) : 0;
	int rc;

	MPI_Info_create(&info);
	MPI_Info_set(info, "accumulate_ordering", "none");
	rc = MPI_Win_allocate(bytes, 8, info, cl->comm, &cl->base, &cl->win);
	MPI_Info_free(&info);
	if (rc != MPI_SUCCESS)
		return -EIO;
	MPI_Win_set_errhandler(cl->win, MPI_ERRORS_RETURN);
	if (bytes)
		memset(cl->base, 0, (size_t)bytes);  /* before any RMA: the lock_all below */
	if (MPI_Win_lock_all(MPI_MODE_NOCHECK, cl->win) != MPI_SUCCESS)
		return -EIO;
	MPI_Win_sync(cl->win);  /* the zeroes into the public copy */
	return 0;
}

SHMRT_API int shmrt_cluster_open(const char *name, MPI_Comm comm, const shmrt_cluster_opts_t *opts,
				 shmrt_cluster_t **out)
{
	shmrt_cluster_opts_t o;
	shmrt_cluster_t *cl;
	int inited = 0, rc, rpn;
	uint64_t key;

	MPI_Initialized(&inited);
	if (!inited || comm == MPI_COMM_NULL || out == NULL)
		return -EINVAL;  /* nothing collective can run: local error */
	if (opts)
		o = *opts;
	else
		shmrt_cluster_opts_init(&o);
	cl = calloc(1, sizeof *cl);
	if (!cl)
		return -ENOMEM;  /* local: the other ranks' next collective cannot complete */
	cl->comm = cl->node_comm = MPI_COMM_NULL;
	cl->win = MPI_WIN_NULL;
	if (MPI_Comm_dup(comm, &cl->comm) != MPI_SUCCESS) {
		free(cl);
		return -EIO;
	}
	MPI_Comm_set_errhandler(cl->comm, MPI_ERRORS_RETURN);
	{
		const char *e = getenv("SHMRT_CLUSTER_SPLIT_WRITES");
		cl->split_writes = e && *e && strcmp(e, "0") != 0;
	}
	MPI_Comm_rank(cl->comm, &cl->rank);
	MPI_Comm_size(cl->comm, &cl->size);

	rc = 0;
	if (name && strlen(name) > SHMRT_CLUSTER_NAME_MAX)
		rc = -ENAMETOOLONG;
	else if (!good_name(name, SHMRT_CLUSTER_NAME_MAX))
		rc = -EINVAL;
	rpn = ranks_per_node(&o);
	if (rpn < 0 || o.ranks_per_node < 0 || o.window_bytes % 8 != 0)
		rc = rc ? rc : -EINVAL;
	if (rc == 0)
		strcpy(cl->name, name);
	key = (rc == 0 ? fnv1a(name) : 0) ^ ((uint64_t)rpn << 1) ^ ((uint64_t)o.window_bytes << 21) ^
	      ((uint64_t)o.fresh << 60);
	rc = shmrt__cl_agree(cl->comm, rc);
	if (rc == 0)
		rc = same_everywhere(cl->comm, key);
	if (rc != 0)
		goto fail;

	cl->leader = malloc(sizeof(int) * (size_t)cl->size);
	cl->scratch_int = malloc(sizeof(int) * (size_t)cl->size);
	rc = shmrt__cl_agree(cl->comm, (cl->leader && cl->scratch_int) ? 0 : -ENOMEM);
	if (rc != 0)
		goto fail;
	rc = shmrt__cl_agree(cl->comm, split_nodes(cl, rpn));
	if (rc != 0)
		goto fail;
	cl->words = (int64_t)((o.window_bytes ? o.window_bytes : DEFAULT_WINDOW_BYTES) / 8);
	cl->next = calloc((size_t)cl->nodes, sizeof *cl->next);
	cl->scratch = calloc((size_t)cl->nodes, sizeof *cl->scratch);
	rc = shmrt__cl_agree(cl->comm, (cl->next && cl->scratch) ? 0 : -ENOMEM);
	if (rc != 0)
		goto fail;
	rc = shmrt__cl_agree(cl->comm, open_region(cl, &o));
	if (rc != 0)
		goto fail;
	rc = shmrt__cl_agree(cl->comm, make_window(cl));
	if (rc != 0)
		goto fail;
	if (MPI_Barrier(cl->comm) != MPI_SUCCESS) {
		rc = -EIO;
		goto fail;
	}
	*out = cl;
	return 0;
fail:
	if (cl->win != MPI_WIN_NULL) {
		MPI_Win_unlock_all(cl->win);
		MPI_Win_free(&cl->win);
	}
	if (cl->region)
		shmrt_region_close(cl->region);
	free_cluster(cl);
	return rc;
}

SHMRT_API int shmrt_cluster_close(shmrt_cluster_t *cl)
{
	if (cl == NULL)
		return -EINVAL;
	MPI_Win_flush_all(cl->win);
	MPI_Barrier(cl->comm);  /* nobody unlocks while another still reads its words */
	MPI_Win_unlock_all(cl->win);
	MPI_Win_free(&cl->win);  /* collective */
	shmrt_region_close(cl->region);
	free_cluster(cl);
	return 0;
}

SHMRT_API int shmrt_cluster_unlink(const char *name, int nodes)
{
	char rname[SHMRT_NAME_MAX + 1];
	int first = 0;
	if (!good_name(name, SHMRT_CLUSTER_NAME_MAX) || nodes < 0)
		return -EINVAL;
	for (int k = 0; k < nodes; k++) {
		snprintf(rname, sizeof rname, "%s.node%d", name, k);
		int rc = shmrt_region_unlink(rname);
		if (rc != 0 && rc != -ENOENT && first == 0)
			first = rc;
	}
	return first;
}

SHMRT_API int shmrt_cluster_rank(const shmrt_cluster_t *cl) { return cl ? cl->rank : -EINVAL; }
SHMRT_API int shmrt_cluster_size(const shmrt_cluster_t *cl) { return cl ? cl->size : -EINVAL; }
SHMRT_API int shmrt_cluster_node(const shmrt_cluster_t *cl) { return cl ? cl->node : -EINVAL; }
SHMRT_API int shmrt_cluster_nodes(const shmrt_cluster_t *cl) { return cl ? cl->nodes : -EINVAL; }
SHMRT_API int shmrt_cluster_node_rank(const shmrt_cluster_t *cl)
{
	return cl ? cl->node_rank : -EINVAL;
}
SHMRT_API int shmrt_cluster_node_size(const shmrt_cluster_t *cl)
{
	return cl ? cl->node_size : -EINVAL;
}
SHMRT_API shmrt_region_t *shmrt_cluster_region(const shmrt_cluster_t *cl)
{
	return cl ? cl->region : NULL;
}
SHMRT_API int shmrt_cluster_home(const shmrt_cluster_t *cl, const char *name)
{
	if (cl == NULL || name == NULL)
		return -EINVAL;
	return (int)(fnv1a(name) % (uint64_t)cl->nodes);
}

/* ---- objects ---------------------------------------------------------------------- */

static struct object *find_object(shmrt_cluster_t *cl, const char *name)
{
	for (size_t i = 0; i < cl->nobjs; i++)
		if (strcmp(cl->objs[i].name, name) == 0)
			return &cl->objs[i];
	return NULL;
}

int shmrt__cl_place(shmrt_cluster_t *cl, const char *name, int kind, uint64_t extra, int home,
		    int64_t words, struct object **obj)
{
	struct object *ob;
	int rc = 0;

	if (name && strlen(name) > SHMRT_CLUSTER_OBJNAME_MAX)
		rc = -ENAMETOOLONG;
	else if (!good_name(name, SHMRT_CLUSTER_OBJNAME_MAX))
		rc = -EINVAL;
	rc = shmrt__cl_agree(cl->comm, rc);
	if (rc == 0)
		rc = same_everywhere(cl->comm, fnv1a(name) ^ ((uint64_t)kind << 56) ^ extra);
	if (rc != 0)
		return rc;
	ob = find_object(cl, name);  /* the same answer on every rank (same history) */
	if (ob) {
		*obj = ob;
		return ob->kind == kind ? 1 : -EPROTOTYPE;
	}
	if (cl->nobjs == cl->capobjs) {
		size_t cap = cl->capobjs ? cl->capobjs * 2 : 16;
		struct object *n = realloc(cl->objs, cap * sizeof *n);
		rc = n ? 0 : -ENOMEM;
		if (n) {
			cl->objs = n;
			cl->capobjs = cap;
		}
	}
	rc = shmrt__cl_agree(cl->comm, rc);
	if (rc != 0)
		return rc;
	ob = &cl->objs[cl->nobjs];
	memset(ob, 0, sizeof *ob);
	strcpy(ob->name, name);
	ob->kind = kind;
	/* The same outcome on every rank: the same history of opens. */
	if (home >= 0) {
		if (words > cl->words - cl->next[home])
			return -ENOSPC;
		ob->home = home;
		ob->disp = cl->next[home];
		cl->next[home] += words;
	} else {
		int64_t d = 0;
		for (int k = 0; k < cl->nodes; k++)
			d = cl->next[k] > d ? cl->next[k] : d;
		if (words > cl->words - d)
			return -ENOSPC;
		for (int k = 0; k < cl->nodes; k++)
			cl->next[k] = d + words;
		ob->home = -1;
		ob->disp = d;
	}
	cl->nobjs++;
	*obj = ob;
	return 0;
}

SHMRT_API int shmrt_cluster_value_open(shmrt_cluster_t *cl, const char *name, int64_t init,
				       shmrt_cluster_value_t *out)
{
	struct object *ob;
	shmrt_cluster_value_t v;
	int rc;

	if (cl == NULL || out == NULL)
		return -EINVAL;
	rc = shmrt__cl_place(cl, name, KIND_VALUE, (uint64_t)init * 0x9e3779b97f4a7c15ull,
			     shmrt_cluster_home(cl, name), 1, &ob);
	if (rc < 0)
		return rc;
	v.cl = cl;
	v.home = ob->home;
	v.target = cl->leader[ob->home];
	v.disp = ob->disp;
	if (rc == 0 && cl->rank == v.target) {
		/* The home leader writes init through MPI too (the rule). */
		if (MPI_Accumulate(&init, 1, MPI_INT64_T, v.target, v.disp, 1, MPI_INT64_T,
				   MPI_REPLACE, cl->win) != MPI_SUCCESS ||
		    MPI_Win_flush(v.target, cl->win) != MPI_SUCCESS)
			rc = -EIO;
	}
	rc = shmrt__cl_agree(cl->comm, rc < 0 ? rc : 0);  /* also the barrier that publishes init */
	if (rc != 0)
		return rc;
	*out = v;
	return 0;
}

static bool bad_value(const shmrt_cluster_value_t *v)
{
	return v == NULL || v->cl == NULL || v->disp < 0 || v->disp >= v->cl->words;
}

SHMRT_API int shmrt_cluster_value_load(const shmrt_cluster_value_t *v, int64_t *out)
{
	int64_t r;
	if (bad_value(v) || out == NULL)
		return -EINVAL;
	if (MPI_Fetch_and_op(NULL, &r, MPI_INT64_T, v->target, v->disp, MPI_NO_OP, v->cl->win) !=
		    MPI_SUCCESS ||
	    MPI_Win_flush(v->target, v->cl->win) != MPI_SUCCESS)
		return -EIO;
	*out = r;
	return 0;
}

SHMRT_API int shmrt_cluster_value_store(const shmrt_cluster_value_t *v, int64_t x)
{
	if (bad_value(v))
		return -EINVAL;
	if (MPI_Accumulate(&x, 1, MPI_INT64_T, v->target, v->disp, 1, MPI_INT64_T, MPI_REPLACE,
			   v->cl->win) != MPI_SUCCESS ||
	    MPI_Win_flush(v->target, v->cl->win) != MPI_SUCCESS)
		return -EIO;
	return 0;
}

SHMRT_API int shmrt_cluster_value_fetch_add(const shmrt_cluster_value_t *v, int64_t x,
					    int64_t *old)
{
	int64_t r;
	if (bad_value(v))
		return -EINVAL;
	if (MPI_Fetch_and_op(&x, &r, MPI_INT64_T, v->target, v->disp, MPI_SUM, v->cl->win) !=
		    MPI_SUCCESS ||
	    MPI_Win_flush(v->target, v->cl->win) != MPI_SUCCESS)
		return -EIO;
	if (old)
		*old = r;
	return 0;
}

SHMRT_API int shmrt_cluster_value_cas(const shmrt_cluster_value_t *v, int64_t *expected,
				      int64_t desired)
{
	int64_t r, e;
	if (bad_value(v) || expected == NULL)
		return -EINVAL;
	e = *expected;
	if (MPI_Compare_and_swap(&desired, &e, &r, MPI_INT64_T, v->target, v->disp, v->cl->win) !=
		    MPI_SUCCESS ||
	    MPI_Win_flush(v->target, v->cl->win) != MPI_SUCCESS)
		return -EIO;
	if (r == e)
		return 0;
	*expected = r;
	return -EAGAIN;
}

/* ---- Counter ---------------------------------------------------------------------- */

SHMRT_API int shmrt_cluster_counter_open(shmrt_cluster_t *cl, const char *name,
					 shmrt_cluster_counter_t *out)
{
	char oname[SHMRT_OBJNAME_MAX + 1];
	struct object *ob;
	shmrt_cluster_counter_t c;
	int rc;

	if (cl == NULL || out == NULL)
		return -EINVAL;
	rc = shmrt__cl_place(cl, name, KIND_COUNTER, 0, -1, 1, &ob);
	if (rc < 0)
		return rc;
	memset(&c, 0, sizeof c);
	c.cl = cl;
	c.disp = ob->disp;
	snprintf(oname, sizeof oname, "c.%s", name);
	rc = shmrt__cl_agree(cl->comm, shmrt_counter_open(cl->region, oname, SHMRT_O_CREATE, &c.local));
	if (rc != 0)
		return rc;  /* the word stays placed: a retry reuses it */
	*out = c;
	return 0;
}

SHMRT_API void shmrt_cluster_counter_add(const shmrt_cluster_counter_t *c, int64_t x)
{
	if (c == NULL || c->cl == NULL)
		return;
	shmrt_counter_add(&c->local, x);
}

SHMRT_API int64_t shmrt_cluster_counter_read_node(const shmrt_cluster_counter_t *c)
{
	if (c == NULL || c->cl == NULL)
		return 0;
	return shmrt_counter_read(&c->local);
}

SHMRT_API int shmrt_cluster_counter_publish(const shmrt_cluster_counter_t *c)
{
	shmrt_cluster_t *cl;
	int64_t x;
	int t;
	if (c == NULL || c->cl == NULL)
		return -EINVAL;
	cl = c->cl;
	t = cl->leader[cl->node];
	x = shmrt_counter_read(&c->local);
	if (MPI_Accumulate(&x, 1, MPI_INT64_T, t, c->disp, 1, MPI_INT64_T, MPI_REPLACE, cl->win) !=
		    MPI_SUCCESS ||
	    MPI_Win_flush(t, cl->win) != MPI_SUCCESS)
		return -EIO;
	return 0;
}

SHMRT_API int shmrt_cluster_counter_read(const shmrt_cluster_counter_t *c, int64_t *out)
{
	shmrt_cluster_t *cl;
	int64_t sum;
	if (c == NULL || c->cl == NULL || out == NULL)
		return -EINVAL;
	cl = c->cl;
	for (int k = 0; k < cl->nodes; k++) {
		if (k == cl->node)
			continue;
		if (MPI_Fetch_and_op(NULL, &cl->scratch[k], MPI_INT64_T, cl->leader[k], c->disp,
				     MPI_NO_OP, cl->win) != MPI_SUCCESS)
			return -EIO;
	}
	if (cl->nodes > 1 && MPI_Win_flush_all(cl->win) != MPI_SUCCESS)
		return -EIO;
	sum = shmrt_counter_read(&c->local);
	for (int k = 0; k < cl->nodes; k++)
		if (k != cl->node)
			sum += cl->scratch[k];
	*out = sum;
	return 0;
}

SHMRT_API int shmrt_cluster_counter_sum(const shmrt_cluster_counter_t *c, int64_t *out)
{
	int64_t mine = 0, all;
	if (c == NULL || c->cl == NULL || out == NULL)
		return -EINVAL;
	if (MPI_Barrier(c->cl->node_comm) != MPI_SUCCESS)
		return -EIO;
	if (c->cl->node_rank == 0)
		mine = shmrt_counter_read(&c->local);
	if (MPI_Allreduce(&mine, &all, 1, MPI_INT64_T, MPI_SUM, c->cl->comm) != MPI_SUCCESS)
		return -EIO;
	*out = all;
	return 0;
}
