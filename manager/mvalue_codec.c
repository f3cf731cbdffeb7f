/*
 * Manager values: the msgpack codec (shmrt/mvalue.h). The decoder faces the network.
 *
 * Encoder: a recursive walk that appends to a growable buffer, the smallest form of
 * every int, str, bin, array and map header (what msgpack-python writes), floats as
 * float 64, a ref as fixext 8 of type SHMRT_MV_EXT_REF with the id big endian.
 *
 * Decoder: one loop over the input with an explicit stack of frames (container,
 * items still expected, pending map key), never recursion, so 10^5 nested array
 * headers cost one refusal at max_depth, not a blown stack. The bounds, which make
 * the memory taken proportional to the input (about 40 bytes per input byte at
 * worst, capped by max_elems):
 *  - a str, bin or ext length, and an array or map count, may not exceed the bytes
 *    left: every element takes at least one byte, two per map pair (msgpack-c 4.0.0
 *    allocates a declared count up front: a five-byte array header costs it 32 GiB,
 *    its issue 1013). Lists and maps are allocated with exactly their declared room,
 *    so they never grow while decoding;
 *  - a container opened beyond max_depth levels is refused before it is allocated;
 *  - every value, keys included, counts against max_elems, before it is allocated.
 * Each value is attached to its parent the moment it is made, so on any error the
 * partial tree is freed from its root (and the stack's pending keys): nothing leaks.
 * Duplicate map keys follow Python's dict display ({1: 'a', 1.0: 'b'} is {1: 'b'}).
 * A uint 64 above INT64_MAX is valid msgpack that no value holds: -ERANGE, distinct
 * from malformed input, and shmrt__mv_request_id reads the id of such a request
 * ([id, ...], the first item only) so that it can be answered rather than its client
 * dropped.
 *
 * Memory ordering: none; nothing here is shared between processes.
 */
#define _GNU_SOURCE
#include "mvalue_int.h"
#include "base/compiler.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- buffer ------------------------------------------------------------------------- */

void shmrt_mv_buf_init(shmrt_mv_buf_t *b)
{
	if (b)
		*b = (shmrt_mv_buf_t){ NULL, 0, 0 };
}

void shmrt_mv_buf_free(shmrt_mv_buf_t *b)
{
	if (!b)
		return;
	free(b->data);
	shmrt_mv_buf_init(b);
}

static SHMRT_NOINLINE int buf_grow(shmrt_mv_buf_t *b, size_t n)
{
	if (n > SIZE_MAX / 2 - b->len)
		return -ENOMEM;
	size_t need = b->len + n, cap = b->cap < 64 ? 64 : b->cap;
	while (cap < need)
		cap *= 2;
	uint8_t *d = realloc(b->data, cap);
	if (unlikely(!d))
		return -ENOMEM;
	b->data = d;
	b->cap = cap;
	return 0;
}

static inline int reserve(shmrt_mv_buf_t *b, size_t n)
{
	return likely(b->cap - b->len >= n) ? 0 : buf_grow(b, n);
}

static inline void put_be(uint8_t *d, uint64_t x, int n)
{
	for (int i = n - 1; i >= 0; i--, x >>= 8)
		d[i] = (uint8_t)x;
}

/* A header: one type byte then an n-byte big-endian argument (n = 0: none). */
static inline void put_hdr(shmrt_mv_buf_t *b, uint8_t type, uint64_t arg, int n)
{
	b->data[b->len] = type;
	put_be(b->data + b->len + 1, arg, n);
	b->len += 1 + (size_t)n;
}

/* Header of a str, bin, array or map of length n; fix is the fix form's base (0 for
 * none) and fixmax its bound; t8 the 8-bit form's type (0: none), then 16, 32. */
static int put_len(shmrt_mv_buf_t *b, uint64_t n, uint8_t fix, uint64_t fixmax, uint8_t t8,
		   uint8_t t16, uint8_t t32)
{
	if (n > UINT32_MAX)
		return -EMSGSIZE;
	if (fix && n < fixmax)
		put_hdr(b, (uint8_t)(fix | n), 0, 0);
	else if (t8 && n < 256)
		put_hdr(b, t8, n, 1);
	else if (n < 65536)
		put_hdr(b, t16, n, 2);
	else
		put_hdr(b, t32, n, 4);
	return 0;
}

static int encode_rec(const shmrt_mv_t *v, shmrt_mv_buf_t *b, unsigned depth)
{
	int rc = reserve(b, 9);
	if (unlikely(rc))
		return rc;
	switch (v->kind) {
	case SHMRT_MV_NIL: put_hdr(b, 0xc0, 0, 0); return 0;
	case SHMRT_MV_BOOL: put_hdr(b, v->u.b ? 0xc3 : 0xc2, 0, 0); return 0;
	case SHMRT_MV_INT: {
		int64_t i = v->u.i;
		if (i >= 0) {
			if (i < 128) put_hdr(b, (uint8_t)i, 0, 0);
			else if (i < 256) put_hdr(b, 0xcc, (uint64_t)i, 1);
			else if (i < 65536) put_hdr(b, 0xcd, (uint64_t)i, 2);
			else if (i <= UINT32_MAX) put_hdr(b, 0xce, (uint64_t)i, 4);
			else put_hdr(b, 0xcf, (uint64_t)i, 8);
		} else {
			if (i >= -32) put_hdr(b, (uint8_t)i, 0, 0);
			else if (i >= INT8_MIN) put_hdr(b, 0xd0, (uint64_t)i, 1);
			else if (i >= INT16_MIN) put_hdr(b, 0xd1, (uint64_t)i, 2);
			else if (i >= INT32_MIN) put_hdr(b, 0xd2, (uint64_t)i, 4);
			else put_hdr(b, 0xd3, (uint64_t)i, 8);
		}
		return 0;
	}
	case SHMRT_MV_FLOAT: {
		uint64_t bits;
		memcpy(&bits, &v->u.f, 8);
		put_hdr(b, 0xcb, bits, 8);
		return 0;
	}
	case SHMRT_MV_REF:
		if ((rc = reserve(b, 10)))
			return rc;
		put_hdr(b, 0xd7, SHMRT_MV_EXT_REF, 1);
		put_be(b->data + b->len, v->u.ref, 8);
		b->len += 8;
		return 0;
	case SHMRT_MV_STR:
	case SHMRT_MV_BYTES: {
		size_t n = v->u.s.n;
		rc = v->kind == SHMRT_MV_STR ? put_len(b, n, 0xa0, 32, 0xd9, 0xda, 0xdb)
					     : put_len(b, n, 0, 0, 0xc4, 0xc5, 0xc6);
		if (rc || (rc = reserve(b, n)))
			return rc;
		if (n)
			memcpy(b->data + b->len, v->u.s.p, n);
		b->len += n;
		return 0;
	}
	case SHMRT_MV_LIST:
		if (depth >= SHMRT_MV_DEPTH_MAX)
			return -ELOOP;
		put_len(b, v->u.l.len, 0x90, 16, 0, 0xdc, 0xdd);
		for (uint32_t i = 0; i < v->u.l.len; i++)
			if ((rc = encode_rec(v->u.l.items[i], b, depth + 1)))
				return rc;
		return 0;
	default: {
		const struct mv_map *m = v->u.m;
		if (depth >= SHMRT_MV_DEPTH_MAX)
			return -ELOOP;
		put_len(b, m->used, 0x80, 16, 0, 0xde, 0xdf);
		for (uint32_t i = 0; i < m->n; i++) {
			if (!m->e[i].key)
				continue;
			if ((rc = encode_rec(m->e[i].key, b, depth + 1)) ||
			    (rc = encode_rec(m->e[i].val, b, depth + 1)))
				return rc;
		}
		return 0;
	}
	}
}

int shmrt_mv_encode(const shmrt_mv_t *v, shmrt_mv_buf_t *b)
{
	if (!v || !b)
		return -EINVAL;
	size_t len0 = b->len;
	int rc = encode_rec(v, b, 0);
	if (rc)
		b->len = len0;
	return rc;
}

/* ---- decoder ------------------------------------------------------------------------ */

struct frame {
	shmrt_mv_t *c;       /* the list or map being filled */
	uint64_t left;       /* values still expected (a map's keys and values both) */
	shmrt_mv_t *key;     /* a map's key waiting for its value */
};

#define FRAMES_ON_STACK SHMRT_MV_MAX_DEPTH_DEFAULT

static inline uint64_t get_be(const uint8_t *s, int n)
{
	uint64_t x = 0;
	for (int i = 0; i < n; i++)
		x = x << 8 | s[i];
	return x;
}

/*
 * Reads the value at *sp: a scalar, made whole, or a container, made empty with room
 * for its *count items (*count is 0 for scalars). Counts the value in *elems and
 * checks the depth it would open at (depth: containers open around it).
 */
static int read_one(const uint8_t **sp, const uint8_t *end, const shmrt_mv_limits_t *lim,
		    uint64_t *elems, uint32_t depth, shmrt_mv_t **out, uint64_t *count)
{
	const uint8_t *s = *sp;
	uint8_t t = *s++;
	size_t left = (size_t)(end - s);
	uint64_t n = 0;          /* a length or count, or an argument */
	int w = 0;               /* bytes of the argument after the type byte */
	shmrt_mv_t *v;

	if (++*elems > lim->max_elems)
		return -E2BIG;
	*count = 0;
	/* Fixed-width arguments first: their size is known from t. */
	if (t >= 0xcc && t <= 0xd3)
		w = 1 << ((t - 0xcc) & 3);        /* uint 8..64, int 8..64 */
	else if (t == 0xca || t == 0xcb)
		w = t == 0xca ? 4 : 8;
	else if (t == 0xd9 || t == 0xc4 || t == 0xc7)
		w = 1;                            /* str 8, bin 8, ext 8 */
	else if (t == 0xda || t == 0xc5 || t == 0xc8 || t == 0xdc || t == 0xde)
		w = 2;
	else if (t == 0xdb || t == 0xc6 || t == 0xc9 || t == 0xdd || t == 0xdf)
		w = 4;
	if ((size_t)w > left)
		return -EBADMSG;
	if (w) {
		n = get_be(s, w);
		s += w;
		left -= (size_t)w;
	}

	if (t < 0x80 || t >= 0xe0) {              /* positive and negative fixint */
		v = shmrt_mv_int((int8_t)t);
	} else if (t <= 0x8f || (t >= 0x90 && t <= 0x9f) || t == 0xdc || t == 0xdd ||
		   t == 0xde || t == 0xdf) {
		bool map = t <= 0x8f || t == 0xde || t == 0xdf;
		if (t <= 0x9f)
			n = t & 0x0f;
		if (n > (map ? left / 2 : left))
			return -EBADMSG;          /* a count over the bytes left */
		if (depth >= lim->max_depth)
			return -ELOOP;
		v = map ? shmrt__mv_map_new(n) : shmrt__mv_list_new(n);
		*count = map ? 2 * n : n;
	} else if ((t >= 0xa0 && t <= 0xbf) || t == 0xd9 || t == 0xda || t == 0xdb) {
		if (t <= 0xbf)
			n = t & 0x1f;
		if (n > left)
			return -EBADMSG;
		if (shmrt__utf8_check(s, n))
			return -EILSEQ;
		v = shmrt__mv_bytes_new(SHMRT_MV_STR, s, n);
		s += n;
	} else if (t == 0xc4 || t == 0xc5 || t == 0xc6) {
		if (n > left)
			return -EBADMSG;
		v = shmrt__mv_bytes_new(SHMRT_MV_BYTES, s, n);
		s += n;
	} else if ((t >= 0xd4 && t <= 0xd8) || t == 0xc7 || t == 0xc8 || t == 0xc9) {
		if (t >= 0xd4)
			n = 1u << (t - 0xd4);     /* fixext 1, 2, 4, 8, 16 */
		if (left < 1 || n > left - 1)
			return -EBADMSG;
		int8_t type = (int8_t)*s++;
		if (type != SHMRT_MV_EXT_REF)
			return -ENOTSUP;
		if (n != 8)
			return -EBADMSG;
		v = shmrt_mv_ref(get_be(s, 8));
		s += 8;
	} else {
		switch (t) {
		case 0xc0: v = shmrt_mv_nil(); break;
		case 0xc2: v = shmrt_mv_bool(false); break;
		case 0xc3: v = shmrt_mv_bool(true); break;
		case 0xca: {
			float f;
			uint32_t u = (uint32_t)n;
			memcpy(&f, &u, 4);
			v = shmrt_mv_float(f);
			break;
		}
		case 0xcb: {
			double d;
			memcpy(&d, &n, 8);
			v = shmrt_mv_float(d);
			break;
		}
		case 0xcc: case 0xcd: case 0xce: case 0xcf:
			if (n > INT64_MAX)
				return -ERANGE;
			v = shmrt_mv_int((int64_t)n);
			break;
		case 0xd0: v = shmrt_mv_int((int8_t)n); break;
		case 0xd1: v = shmrt_mv_int((int16_t)n); break;
		case 0xd2: v = shmrt_mv_int((int32_t)n); break;
		case 0xd3: v = shmrt_mv_int((int64_t)n); break;
		default: return -EBADMSG;         /* 0xc1, never used */
		}
	}
	if (unlikely(!v))
		return -ENOMEM;
	*sp = s;
	*out = v;
	return 0;
}

int shmrt_mv_decode_prefix(const void *p, size_t len, const shmrt_mv_limits_t *lim,
			   shmrt_mv_t **out, size_t *used)
{
	shmrt_mv_limits_t l = { SHMRT_MV_MAX_BYTES_DEFAULT, SHMRT_MV_MAX_ELEMS_DEFAULT,
				SHMRT_MV_MAX_DEPTH_DEFAULT };
	if (!p || !out || !used)
		return -EINVAL;
	if (lim) {
		if (lim->max_bytes)
			l.max_bytes = lim->max_bytes;
		if (lim->max_elems)
			l.max_elems = lim->max_elems;
		if (lim->max_depth)
			l.max_depth = lim->max_depth;
		if (l.max_depth > SHMRT_MV_DEPTH_MAX)
			return -EINVAL;
	}
	if (len > l.max_bytes)
		return -EMSGSIZE;

	struct frame on_stack[FRAMES_ON_STACK], *fr = on_stack;
	if (l.max_depth > FRAMES_ON_STACK && !(fr = malloc(l.max_depth * sizeof(*fr))))
		return -ENOMEM;
	const uint8_t *s = p, *end = s + len;
	shmrt_mv_t *root = NULL;
	uint64_t elems = 0;
	uint32_t depth = 0; /* frames in use: containers still being filled */
	int rc = 0;
	do {
		shmrt_mv_t *v;
		uint64_t count;
		if (s == end) {
			rc = -EBADMSG; /* truncated */
			break;
		}
		if ((rc = read_one(&s, end, &l, &elems, depth, &v, &count)))
			break;
		if (!root) {
			root = v;
		} else {
			struct frame *f = &fr[depth - 1];
			f->left--;
			if (f->c->kind == SHMRT_MV_LIST) {
				shmrt__mv_list_push(f->c, v);
			} else if (!f->key) {
				if (!shmrt__mv_hashable(v)) {
					shmrt_mv_free(v);
					rc = -EBADMSG; /* an unhashable key */
					break;
				}
				f->key = v;
			} else {
				rc = shmrt__mv_map_put(f->c, f->key, v);
				f->key = NULL;
				if (rc)
					break;
			}
		}
		if (count)
			fr[depth++] = (struct frame){ v, count, NULL };
		while (depth && fr[depth - 1].left == 0)
			depth--;
	} while (depth);

	if (rc) {
		for (uint32_t i = 0; i < depth; i++)
			shmrt_mv_free(fr[i].key);
		shmrt_mv_free(root);
	} else {
		*out = root;
		*used = (size_t)(s - (const uint8_t *)p);
	}
	if (fr != on_stack)
		free(fr);
	return rc;
}

int shmrt_mv_decode(const void *p, size_t len, const shmrt_mv_limits_t *lim, shmrt_mv_t **out)
{
	shmrt_mv_t *v;
	size_t used;
	int rc = shmrt_mv_decode_prefix(p, len, lim, &v, &used);
	if (rc)
		return rc;
	if (used != len) {
		shmrt_mv_free(v);
		return -EBADMSG; /* trailing bytes */
	}
	*out = v;
	return 0;
}

int shmrt__mv_request_id(const void *p, size_t len, int64_t *id)
{
	const shmrt_mv_limits_t lim = { SHMRT_MV_MAX_BYTES_DEFAULT, 1, 1 };
	const uint8_t *s = p, *end = s + len;
	uint64_t count = 0, elems = 0;
	if (!p || !id || len == 0)
		return -EBADMSG;
	uint8_t t = *s++;
	int w = t == 0xdc ? 2 : t == 0xdd ? 4 : 0;
	if (!(t >= 0x90 && t <= 0x9f) && !w)
		return -EBADMSG; /* not an array */
	if ((size_t)(end - s) < (size_t)w + 1)
		return -EBADMSG;
	count = w ? get_be(s, w) : (uint64_t)(t & 0x0f);
	s += w;
	if (count == 0)
		return -EBADMSG;
	/* The first item alone, at the depth limit: a container is refused before it is
	 * allocated, a scalar made whole (and freed). */
	shmrt_mv_t *v;
	int rc = read_one(&s, end, &lim, &elems, lim.max_depth, &v, &count);
	if (rc) /* the documented codes only: whatever else the item is, nothing to answer */
		return rc == -ERANGE || rc == -ENOMEM ? rc : -EBADMSG;
	rc = shmrt_mv_as_int(v, id) ? -EBADMSG : 0;
	shmrt_mv_free(v);
	return rc;
}
