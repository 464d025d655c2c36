// SPDX-License-Identifier: GPL-2.0-only
/*
 * smmu_two_edu: a second edu (device B, on a plain IOAS of its own, the
 * same iommufd) next to device A with its guest stage 1. Whatever A's guest
 * does wrong, B's DMAs go on, each device reaching its own memory only, and
 * B's faults are not A's guest's events. Needs a machine that allows a
 * vSMMU (elsewhere the case skips) and two edus, as the harness's QEMU has.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "e2e.h"

FIXTURE(smmu_two_edu) {
	struct vsmmu vm;
	__u32 hwpt_id;
	__u32 veventq_id;
	int veventq_fd;
	struct edu b;
	struct gmem bmem;
	__u32 b_ioas_id;
	__u32 b_sid;
};

FIXTURE_SETUP(smmu_two_edu)
{
	const char *why;
	__u32 a_sid;

	self->veventq_fd = -1;
	self->b.cdev = -1;
	self->b.iommufd = -1;
	ASSERT_EQ(0, edu_open(&self->vm.edu, 0, -1));
	if (!e2e_vsmmu_allowed(self->vm.edu.iommufd, self->vm.edu.dev_id, &why))
		SKIP(return, "%s", why);
	ASSERT_EQ(0, vsmmu_setup(&self->vm));
	ASSERT_EQ(0, nested_attach(&self->vm.edu, self->vm.viommu_id,
				   vste_s1(&self->vm.mem), VSTE1_S1,
				   &self->hwpt_id));
	ASSERT_EQ(0, veventq_alloc(&self->vm.edu, self->vm.viommu_id,
				   E2E_VEVENTQ_TYPE_ARM_SMMUV3, 64, 0,
				   &self->veventq_id, &self->veventq_fd));

	ASSERT_EQ(0, edu_open(&self->b, 1, self->vm.edu.iommufd))
		TH_LOG("no second edu device (harness/boot.sh has two)");
	ASSERT_EQ(0, edu_sid(&self->vm.edu, &a_sid));
	ASSERT_EQ(0, edu_sid(&self->b, &self->b_sid));
	note("device A %s (SID 0x%x), device B %s (SID 0x%x)",
	     self->vm.edu.bdf, a_sid, self->b.bdf, self->b_sid);
	ASSERT_NE(a_sid, self->b_sid);
	ASSERT_NE(VSID, self->b_sid);
	/* The same IOVAs as A's guest memory, in an IOAS of B's own */
	ASSERT_EQ(0, gmem_alloc(&self->bmem, GMEM_IOVA, GMEM_SIZE));
	ASSERT_EQ(0, ioas_alloc(self->b.iommufd, &self->b_ioas_id));
	ASSERT_EQ(0, ioas_map(self->b.iommufd, self->b_ioas_id, self->bmem.va,
			      self->bmem.size, self->bmem.iova));
	ASSERT_EQ(0, vfio_attach(&self->b, self->b_ioas_id, NULL));
	ASSERT_EQ(0, edu_enable(&self->b));
}

FIXTURE_TEARDOWN(smmu_two_edu)
{
	if (self->veventq_fd >= 0)
		close(self->veventq_fd);
	edu_close(&self->b);
	gmem_free(&self->bmem);
	vsmmu_teardown(&self->vm);
}

/* B copies a page within its memory: all of it, and only it, changes */
static int b_copy(FIXTURE_DATA(smmu_two_edu) *self, __u32 seed)
{
	size_t src = 0x10000 + (seed % 16) * SZ_4K;
	__u8 data[256];

	fill_pattern(data, sizeof(data), seed);
	gmem_set(&self->bmem, src, data, sizeof(data));
	return edu_copy(&self->b, &self->bmem, src, src + 0x100000,
			sizeof(data));
}

#define ASSERT_B_WORKS(seed) do {					\
		ASSERT_EQ(0, b_copy(self, seed));			\
		ASSERT_GMEM(&self->bmem);				\
		ASSERT_GMEM(&self->vm.mem);				\
	} while (0)

TEST_F(smmu_two_edu, bad_input_on_a)
{
	struct e2e_viommu_arm_smmuv3_invalidate cmds[2];
	struct e2e_hwpt_arm_smmuv3 vste = {
		.ste = { htole64(vste_s1(&self->vm.mem) | 1ULL << 52),
			 htole64(VSTE1_S1) },
	};
	struct vevent ev[4];
	__u32 viommu2, id, done;

	ASSERT_B_WORKS(1);

	/* A bad vSTE, and a translating vSTE without vDEVICE */
	ASSERT_EQ(-EIO, hwpt_alloc(&self->vm.edu, self->vm.viommu_id, 0,
				   E2E_HWPT_DATA_ARM_SMMUV3, &vste,
				   sizeof(vste), &id));
	ASSERT_EQ(0, viommu_alloc(&self->vm.edu, self->vm.s2_id,
				  E2E_VIOMMU_TYPE_ARM_SMMUV3, &viommu2));
	ASSERT_EQ(-ENOENT, nested_attach(&self->vm.edu, viommu2,
					 vste_s1(&self->vm.mem), VSTE1_S1,
					 &id));
	ASSERT_B_WORKS(2);

	/* Refused commands; B's physical SID is nothing to A's guest */
	cmds[0] = inv_cmd(CMD_TLBI_NH_ALL, 0);
	cmds[1] = inv_cmd(CMD_CFGI_ALL, 31);
	ASSERT_EQ(-EIO, viommu_invalidate(&self->vm.edu, self->vm.viommu_id,
					  cmds, 2, &done));
	ASSERT_EQ(1, done);
	cmds[1] = inv_cmd(CMD_CFGI_CD | CMD0_SID(self->b_sid), CMD1_LEAF);
	ASSERT_EQ(-EIO, viommu_invalidate(&self->vm.edu, self->vm.viommu_id,
					  cmds, 2, &done));
	ASSERT_EQ(1, done);
	ASSERT_B_WORKS(3);

	/* A faults: A's guest hears of it, by A's vSID */
	ASSERT_EQ(0, edu_dma(&self->vm.edu, S1_HOLE, 0, 4, EDU_DMA_TO_RAM));
	ASSERT_EQ(1, vevents_wait(self->veventq_fd, ev, 4));
	ASSERT_VEVENT(&ev[0], 0, EVT_ID_TRANSLATION_FAULT, S1_HOLE);
	ASSERT_B_WORKS(4);

	/* B faults (its IOAS maps nothing there): not A's guest's event */
	ASSERT_EQ(0, edu_dma(&self->b, GMEM_IOVA + GMEM_SIZE, 0, 4,
			     EDU_DMA_TO_RAM));
	ASSERT_EQ(0, wait_readable(self->veventq_fd, GRACE_MS));
	ASSERT_B_WORKS(5);

	/* A's guest aborts A; A translates again afterwards */
	ASSERT_EQ(0, nested_attach(&self->vm.edu, self->vm.viommu_id,
				   STE0_V | STE0_CFG_ABORT << STE0_CFG_SHIFT,
				   0, &id));
	ASSERT_EQ(0, edu_dma(&self->vm.edu, S1_DST, 0, 64, EDU_DMA_TO_RAM));
	ASSERT_B_WORKS(6);
	ASSERT_EQ(0, vfio_attach(&self->vm.edu, self->hwpt_id, NULL));
	ASSERT_EQ(0, nested_copy(&self->vm.edu, &self->vm.mem, S1_DST, G_PAGE_A,
				 64));
	ASSERT_GMEM(&self->vm.mem);
	ASSERT_B_WORKS(7);
}

TEST_HARNESS_MAIN
