/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the two stress programs (iommufd_stress.c on the selftest mock,
 * smmu_stress.c on the emulated SMMU) share: the seeded generator, drawing
 * an operation by weight, the kernel's taint flags and a clock.
 */
#ifndef STRESS_H
#define STRESS_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* splitmix64: one 64-bit state per stream, the same numbers for a seed */
static inline uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/*
 * An operation drawn from @rng by weight: @cumul[i] is the sum of the
 * weights of operations 0..i, @total the sum of all @nops of them
 */
static inline int stress_draw_op(uint64_t *rng, const unsigned int *cumul,
				 int nops, unsigned int total)
{
	unsigned int r = splitmix64(rng) % total;
	int op;

	for (op = 0; op < nops; op++)
		if (r < cumul[op])
			return op;
	return nops - 1;
}

/* /proc/sys/kernel/tainted read through @fd (0 if it cannot be read) */
static inline unsigned long stress_read_taint(int fd)
{
	char buf[32];
	ssize_t n;

	if (fd < 0)
		return 0;
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	return strtoul(buf, NULL, 10);
}

/* Seconds on the monotonic clock */
static inline double stress_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#endif /* STRESS_H */
