/* The number in a sysfs or cgroupfs file, for the test programs that run in the guest. */
#ifndef VBRIDGE_TESTS_READ_NUMBER_H
#define VBRIDGE_TESTS_READ_NUMBER_H

#include <stdio.h>

/* The number in file DIR/NAME, or -1. */
static inline long read_number(const char *dir, const char *name)
{
	char path[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (f && fscanf(f, "%ld", &v) != 1)
		v = -1;
	if (f)
		fclose(f);
	return v;
}

#endif
