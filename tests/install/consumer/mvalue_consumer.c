/* A program of the installed Manager library: builds {1: '1', '2': 2} and prints its
 * Python repr. */
#include <shmrt.h>
#include <stdio.h>

int main(void)
{
	shmrt_mv_t *d = shmrt_mv_map();
	if (!d || shmrt_mv_map_set(d, shmrt_mv_int(1), shmrt_mv_str("1")) ||
	    shmrt_mv_map_set(d, shmrt_mv_str("2"), shmrt_mv_int(2)))
		return 1;
	char buf[64];
	if (shmrt_mv_repr(d, buf, sizeof(buf)) < 0)
		return 2;
	puts(buf);
	shmrt_mv_free(d);
	return 0;
}
