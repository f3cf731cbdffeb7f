/*
 * tlscert_make DIR: writes tests/util/tlscert.h's certificates and keys into the
 * existing directory DIR (for the shell tests: the installer puts no openssl
 * program on the machine). Exit status 0, or 1 with a message.
 */
#include <stdio.h>

#include "tlscert.h"

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: tlscert_make DIR\n");
		return 2;
	}
	if (tlscert_make(argv[1])) {
		fprintf(stderr, "tlscert_make: could not write the certificates into %s\n", argv[1]);
		return 1;
	}
	return 0;
}
