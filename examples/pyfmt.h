/* What the examples share: stopping on a failed call (as an uncaught exception stops
 * the Python program), checking the workers' exit codes (Python's Process.exitcode),
 * and printing the way Python and numpy do, so that the output matches the docs. */
#ifndef SHMRT_EXAMPLES_PYFMT_H
#define SHMRT_EXAMPLES_PYFMT_H

#include <shmrt.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* In main only: exits with shmrt's message if rc is an error (a negative errno).
 * A worker returns non-zero instead: that is its exit code. */
static inline void check(int rc, const char *what)
{
	if (rc) {
		fprintf(stderr, "%s: %s\n", what, shmrt_strerror(rc));
		exit(1);
	}
}

/* After a join: 0 if every worker exited with 0, else 1, having said on stderr
 * which did not and with what exit code (-N: killed by signal N). */
static inline int workers_failed(unsigned n, const shmrt_worker_t *ws)
{
	int failed = 0;
	for (unsigned i = 0; i < n; i++)
		if (ws[i].state != SHMRT_WORKER_EXITED || ws[i].exitcode != 0) {
			fprintf(stderr, "worker %u (pid %d): exitcode %d\n", i, (int)ws[i].pid,
				ws[i].exitcode);
			failed = 1;
		}
	return failed;
}

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

/* print(list_of_floats) */
static inline void py_print_doubles(const double *v, size_t n)
{
	char b[48];
	printf("[");
	for (size_t i = 0; i < n; i++)
		printf("%s%s", i ? ", " : "", py_float(v[i], b));
	printf("]\n");
}

/* print(list_of_ints) */
static inline void py_print_ints(const int *v, size_t n)
{
	printf("[");
	for (size_t i = 0; i < n; i++)
		printf("%s%d", i ? ", " : "", v[i]);
	printf("]\n");
}

/* A float64 element as numpy writes it in fixed notation: at most 8 decimals, the
 * fewest that read back the same, trailing zeros dropped, "2." for 2.0. */
static inline const char *np_fixed(double x, char buf[48])
{
	int p = 0;
	for (; p < 8; p++) {
		snprintf(buf, 48, "%.*f", p, x);
		if (strtod(buf, NULL) == x)
			break;
	}
	snprintf(buf, 48, "%.*f", p, x);
	if (p == 0)
		strcat(buf, ".");
	else
		for (char *e = buf + strlen(buf) - 1; *e == '0'; e--)
			*e = '\0'; /* "%.8f" of 0.1 + 0.2 is "0.30000000": numpy says 0.3 */
	return buf;
}

/* print(ndarray_of_float64) for a short array in fixed notation, numpy's default for
 * values below 1e8 whose non-zero magnitudes are >= 1e-4 and within a factor 1000 of
 * each other: elements right-aligned on the point, separated by a space. (numpy
 * wraps lines past 75 columns and takes the exponent form for other values; neither
 * is done here.) */
static inline void np_print_f64(const double *v, size_t n)
{
	char b[48];
	int ip = 0, fp = 0; /* widest integer part (sign included), widest fraction */
	for (size_t i = 0; i < n; i++) {
		const char *dot = strchr(np_fixed(v[i], b), '.');
		int il = (int)(dot - b), fl = (int)strlen(dot + 1);
		ip = il > ip ? il : ip;
		fp = fl > fp ? fl : fp;
	}
	printf("[");
	for (size_t i = 0; i < n; i++) {
		const char *dot = strchr(np_fixed(v[i], b), '.');
		int il = (int)(dot - b), fl = (int)strlen(dot + 1);
		printf("%s%*s%s%*s", i ? " " : "", ip - il, "", b, fp - fl, "");
	}
	printf("]\n");
}

#endif
