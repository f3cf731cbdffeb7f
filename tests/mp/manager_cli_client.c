/*
 * A small Manager client for tests/mp/manager_cli_test.sh: connects to ADDRESS with
 * the key in KEYFILE, creates a dict {'a': 1, 'b': 2} and a list [1, 2, 3], prints
 * "ready", then holds its connection (so the objects stay alive) until it is killed,
 * 60 s at most. Exit status: 0 after the 60 s, 1 on an error.
 */
#define _GNU_SOURCE
#include <shmrt.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: manager_cli_client ADDRESS KEYFILE\n");
		return 2;
	}
	char key[4096];
	FILE *f = fopen(argv[2], "rb");
	size_t n = f ? fread(key, 1, sizeof(key), f) : 0;
	if (f)
		fclose(f);
	shmrt_manager_conn_t *conn;
	shmrt_proxy_t *d, *l;
	int rc = n ? shmrt_manager_connect(argv[1], key, n, 10000000000LL, &conn) : -EINVAL;
	if (rc == 0)
		rc = shmrt_manager_create(conn, "dict", NULL, &d);
	if (rc == 0)
		rc = shmrt_proxy_call2(d, "__setitem__", shmrt_mv_str("a"), shmrt_mv_int(1), NULL);
	if (rc == 0)
		rc = shmrt_proxy_call2(d, "__setitem__", shmrt_mv_str("b"), shmrt_mv_int(2), NULL);
	if (rc == 0) {
		shmrt_mv_t *init = shmrt_mv_list();
		for (int i = 1; i <= 3; i++)
			(void)shmrt_mv_list_append(init, shmrt_mv_int(i));
		rc = shmrt_manager_create(conn, "list", init, &l);
	}
	if (rc) {
		fprintf(stderr, "manager_cli_client: %s\n", shmrt_strerror(rc));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	alarm(60); /* never outlive a test that forgot us */
	for (;;)
		pause();
}
