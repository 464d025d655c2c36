// SPDX-License-Identifier: GPL-2.0-only
/*
 * smmu_inv_bench: IOMMU_HWPT_INVALIDATE throughput on a vSMMU
 *
 * Not a test: figures for make bench-smmu (harness/bench-smmu.sh), which
 * runs this program alone, in the CANWBS boot, on our kernel and on
 * mainline's. harness/run.sh leaves it out of make check's programs.
 *
 * The setup is smmu_nested's (vsmmu_setup()): a guest stage 1 whose CD has
 * ASID, nested on the IOAS through a vSMMU and the edu device's vDEVICE,
 * and attached; where the machine allows no vSMMU, it skips. Each call
 * passes an array of TLBI_NH_VA commands for that ASID, a different leaf
 * page each, every one of which must be carried out. After a warm-up,
 * INV_BENCH_RUNS runs of INV_BENCH_RUN_MS each: the figures are the median
 * run's calls/s (and commands/s), with the slowest and fastest run's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kselftest_harness.h"
#include "e2e.h"

#define INV_BENCH_RUNS		5
#define INV_BENCH_RUN_MS	2000
#define INV_BENCH_WARMUP_MS	500
#define INV_BENCH_MAX		256

FIXTURE(smmu_inv_bench) {
	struct vsmmu vm;
	__u32 hwpt_id;
	struct e2e_viommu_arm_smmuv3_invalidate cmds[INV_BENCH_MAX];
};

FIXTURE_VARIANT(smmu_inv_bench) {
	unsigned int n;		/* commands per call */
};

FIXTURE_VARIANT_ADD(smmu_inv_bench, x1) {
	.n = 1,
};

FIXTURE_VARIANT_ADD(smmu_inv_bench, x16) {
	.n = 16,
};

FIXTURE_VARIANT_ADD(smmu_inv_bench, x256) {
	.n = 256,
};

FIXTURE_SETUP(smmu_inv_bench)
{
	const char *why;
	unsigned int i;

	ASSERT_LE(variant->n, INV_BENCH_MAX);
	/* The device on a guest stage 1, as for the smmu_nested tests */
	ASSERT_EQ(0, edu_open(&self->vm.edu, 0, -1));
	if (!e2e_vsmmu_allowed(self->vm.edu.iommufd, self->vm.edu.dev_id, &why))
		SKIP(return, "%s", why);
	ASSERT_EQ(0, vsmmu_setup(&self->vm));
	ASSERT_EQ(0, nested_attach(&self->vm.edu, self->vm.viommu_id,
				   vste_s1(&self->vm.mem), VSTE1_S1,
				   &self->hwpt_id));

	/* Leaf pages from S1_SRC up: the first two are mapped */
	for (i = 0; i < variant->n; i++)
		self->cmds[i] = inv_cmd(CMD_TLBI_NH_VA | CMD0_ASID(ASID),
					((S1_SRC + i * SZ_4K) & CMD1_VA_MASK) |
					CMD1_LEAF);
}

FIXTURE_TEARDOWN(smmu_inv_bench)
{
	vsmmu_teardown(&self->vm);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Invalidate the whole array, call after call, for at least @ms: calls per
 * second, or -1 on an error.
 */
static double inv_bench_run(FIXTURE_DATA(smmu_inv_bench) *self,
			    unsigned int n, unsigned int ms)
{
	struct vsmmu *vm = &self->vm;
	double start = now_s(), t;
	unsigned long calls = 0;
	unsigned int i;
	__u32 done;
	int ret;

	do {
		for (i = 0; i < 10; i++) {
			ret = viommu_invalidate(&vm->edu, vm->viommu_id,
						self->cmds, n, &done);
			if (ret || done != n) {
				note("HWPT_INVALIDATE of %u TLBI_NH_VA: %s, %u done",
				     n, strerror(-ret), done);
				return -1;
			}
		}
		calls += 10;
		t = now_s() - start;
	} while (t < ms / 1000.0);
	return calls / t;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

TEST_F_TIMEOUT(smmu_inv_bench, tlbi_nh_va, 120)
{
	double rate[INV_BENCH_RUNS], med;
	unsigned int n = variant->n, r;

	/* Warm-up: caches, the slab, the command queue */
	ASSERT_LT(0, inv_bench_run(self, n, INV_BENCH_WARMUP_MS));
	for (r = 0; r < INV_BENCH_RUNS; r++) {
		rate[r] = inv_bench_run(self, n, INV_BENCH_RUN_MS);
		ASSERT_LT(0, rate[r]);
	}
	qsort(rate, INV_BENCH_RUNS, sizeof(rate[0]), cmp_double);
	med = rate[INV_BENCH_RUNS / 2];
	/* harness/bench-smmu.sh reads this line */
	note("inv-bench n=%u calls/s=%.1f cmds/s=%.0f runs=%dx%dms min=%.1f max=%.1f",
	     n, med, med * n, INV_BENCH_RUNS, INV_BENCH_RUN_MS, rate[0],
	     rate[INV_BENCH_RUNS - 1]);
}

TEST_HARNESS_MAIN
