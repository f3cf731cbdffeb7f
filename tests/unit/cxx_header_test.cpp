// The public headers compile as C++ (with -Wall -Wextra -pedantic) and link.
#include <shmrt.h>

#include <cstdio>
#include <cstring>

int main()
{
	shmrt_region_opts_t o;
	shmrt_region_opts_init(&o);
	o.backing = SHMRT_BACKING_MEMFD;
	o.size = 8 << 20;
	shmrt_region_t *r = nullptr;
	if (shmrt_region_open("cxx", 0, &o, &r) != 0)
		return 1;
	shmrt_off_t off;
	if (shmrt_alloc(r, 64, &off) != 0)
		return 2;
	std::strcpy(static_cast<char *>(shmrt_ptr(r, off)), "c++");
	bool ok = shmrt_offset(r, shmrt_ptr(r, off)) == off && shmrt_free(r, off) == 0;
	shmrt_region_close(r);
	std::printf("1 passed, 0 failed\n");
	return ok ? 0 : 3;
}
