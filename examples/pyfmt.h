/* What the examples share: an anonymous region (Python's Value and Array live in an
 * anonymous mapping that children inherit), and printing the way Python does, so
 * that the output matches the docs. */
#ifndef SHMRT_EXAMPLES_PYFMT_H
#define SHMRT_EXAMPLES_PYFMT_H

#include <shmrt.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* repr(float): the shortest digits that read back the same (p significant digits),
 * in fixed notation when 1e-4 <= |x| < 1e16 (with at least one decimal), else in
 * exponent notation, as Python does. */
static inline const char *py_float(double x, char buf[48])
{
	int p = 1;
	for (; p < 17; p++) {
		snprintf(buf, 48, "%.*e", p - 1, x);
		if (strtod(buf, NULL) == x)
			break;
	}
	snprintf(buf, 48, "%.*e", p - 1, x);
	int exp = x == 0 ? 0 : atoi(strchr(buf, 'e') + 1);
	if (exp >= -4 && exp < 16) {
		int dec = p - 1 - exp;
		snprintf(buf, 48, "%.*f", dec < 1 ? 1 : dec, x);
	}
	return buf; /* exponent form stays as %e wrote it: "1e+16", "1.5e-05" */
}

static inline void py_print_doubles(const double *v, size_t n)
{
	char b[48];
	printf("[");
	for (size_t i = 0; i < n; i++)
		printf("%s%s", i ? ", " : "", py_float(v[i], b));
	printf("]\n");
}

static inline void py_print_ints(const int *v, size_t n)
{
	printf("[");
	for (size_t i = 0; i < n; i++)
		printf("%s%d", i ? ", " : "", v[i]);
	printf("]\n");
}

/* A 4 MiB anonymous (memfd) region, inherited across fork; exits on failure. */
static inline shmrt_region_t *anon_region(const char *label)
{
	shmrt_region_opts_t o;
	shmrt_region_opts_init(&o);
	o.backing = SHMRT_BACKING_MEMFD;
	o.size = 4 << 20;
	shmrt_region_t *r;
	int rc = shmrt_region_open(label, 0, &o, &r);
	if (rc) {
		fprintf(stderr, "%s: %s\n", label, shmrt_strerror(rc));
		exit(1);
	}
	return r;
}

#endif
