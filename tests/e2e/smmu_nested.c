// SPDX-License-Identifier: GPL-2.0-only
/*
 * smmu_nested: a guest stage 1 (CD table, 4 KiB-granule LPAE tables) in
 * the guest memory, nested on the IOAS as stage 2 through a vSMMU and a
 * vDEVICE (vsmmu_setup()); invalidations through the vIOMMU; abort and
 * bypass vSTEs. Needs a machine that allows a vSMMU (IORT CANWBS, or an
 * SMMU with S2FWB): elsewhere every case skips.
 */
#include <errno.h>
#include <string.h>

#include "kselftest_harness.h"
#include "e2e.h"

FIXTURE(smmu_nested) {
	struct vsmmu vm;
};

FIXTURE_SETUP(smmu_nested)
{
	const char *why;

	ASSERT_EQ(0, edu_open(&self->vm.edu, 0, -1));
	if (!e2e_vsmmu_allowed(self->vm.edu.iommufd, self->vm.edu.dev_id, &why))
		SKIP(return, "%s", why);
	ASSERT_EQ(0, vsmmu_setup(&self->vm));
}

FIXTURE_TEARDOWN(smmu_nested)
{
	vsmmu_teardown(&self->vm);
}

/* The DMA to a stage-1 IOVA lands in the page the two stages select */
TEST_F(smmu_nested, s1_translate)
{
	__u32 hwpt_id;

	ASSERT_EQ(0, nested_attach(&self->vm.edu, self->vm.viommu_id,
				   vste_s1(&self->vm.mem), VSTE1_S1, &hwpt_id));
	ASSERT_EQ(0, nested_copy(&self->vm.edu, &self->vm.mem, S1_DST + 0x100,
				 G_PAGE_A + 0x100, 512));
	ASSERT_GMEM(&self->vm.mem);
}

/*
 * The guest moves a stage-1 page and invalidates the IOVA (TLBI_NH_VA) or
 * the whole ASID (TLBI_NH_ASID): the next DMA lands in the new page.
 */
static void remap_and_check(struct __test_metadata *_metadata,
			    FIXTURE_DATA(smmu_nested) *self, bool by_va)
{
	struct e2e_viommu_arm_smmuv3_invalidate cmd;
	struct gmem *mem = &self->vm.mem;
	__u32 hwpt_id, done;

	ASSERT_EQ(0, nested_attach(&self->vm.edu, self->vm.viommu_id,
				   vste_s1(mem), VSTE1_S1, &hwpt_id));
	ASSERT_EQ(0, nested_copy(&self->vm.edu, mem, S1_DST, G_PAGE_A, 256));
	ASSERT_GMEM(mem);

	s1_map(mem, G_L1, G_L2, G_L3, S1_DST, gpa(mem, G_PAGE_B));
	if (by_va)
		cmd = inv_cmd(CMD_TLBI_NH_VA | CMD0_ASID(ASID),
			      (S1_DST & CMD1_VA_MASK) | CMD1_LEAF);
	else
		cmd = inv_cmd(CMD_TLBI_NH_ASID | CMD0_ASID(ASID), 0);
	ASSERT_EQ(0, viommu_invalidate(&self->vm.edu, self->vm.viommu_id, &cmd,
				       1, &done));
	ASSERT_EQ(1, done);

	/* New data, so a DMA to the old page would show */
	fill_pattern(mem->va + G_SRC, 256, 0x77);
	memcpy(mem->expect + G_SRC, mem->va + G_SRC, 256);
	ASSERT_EQ(0, nested_copy(&self->vm.edu, mem, S1_DST, G_PAGE_B, 256));
	ASSERT_GMEM(mem);
}

TEST_F(smmu_nested, invalidate_va)
{
	remap_and_check(_metadata, self, true);
}

TEST_F(smmu_nested, invalidate_asid)
{
	remap_and_check(_metadata, self, false);
}

/*
 * The guest rewrites its CD (new ASID, new tables) and invalidates it
 * (CFGI_CD by vSID) and the old ASID: DMAs follow the new tables.
 */
TEST_F(smmu_nested, cd_change)
{
	struct e2e_viommu_arm_smmuv3_invalidate cmds[2];
	struct gmem *mem = &self->vm.mem;
	__u32 hwpt_id, done;

	ASSERT_EQ(0, nested_attach(&self->vm.edu, self->vm.viommu_id,
				   vste_s1(mem), VSTE1_S1, &hwpt_id));
	ASSERT_EQ(0, nested_copy(&self->vm.edu, mem, S1_DST, G_PAGE_A, 128));

	s1_map(mem, G_L1_ALT, G_L2_ALT, G_L3_ALT, S1_SRC, gpa(mem, G_SRC));
	s1_map(mem, G_L1_ALT, G_L2_ALT, G_L3_ALT, S1_DST, gpa(mem, G_PAGE_C));
	s1_write_cd(mem, ASID_ALT, G_L1_ALT);
	cmds[0] = inv_cmd(CMD_CFGI_CD | CMD0_SID(VSID), CMD1_LEAF);
	cmds[1] = inv_cmd(CMD_TLBI_NH_ASID | CMD0_ASID(ASID), 0);
	ASSERT_EQ(0, viommu_invalidate(&self->vm.edu, self->vm.viommu_id, cmds,
				       2, &done));
	ASSERT_EQ(2, done);

	fill_pattern(mem->va + G_SRC, 128, 0x99);
	memcpy(mem->expect + G_SRC, mem->va + G_SRC, 128);
	ASSERT_EQ(0, nested_copy(&self->vm.edu, mem, S1_DST, G_PAGE_C, 128));
	ASSERT_GMEM(mem);
}

/* A stage-1 IOVA with no mapping: the DMA lands nowhere */
TEST_F(smmu_nested, s1_unmapped)
{
	struct gmem *mem = &self->vm.mem;
	__u32 hwpt_id;

	ASSERT_EQ(0, nested_attach(&self->vm.edu, self->vm.viommu_id,
				   vste_s1(mem), VSTE1_S1, &hwpt_id));
	ASSERT_EQ(0, nested_copy(&self->vm.edu, mem, S1_HOLE, -1, 256));
	/* An IPA used as a stage-1 IOVA: stage 1 is not skipped */
	ASSERT_EQ(0, nested_copy(&self->vm.edu, mem, gpa(mem, G_PAGE_A), -1,
				 256));
	ASSERT_GMEM(mem);
	/* and the device still translates */
	ASSERT_EQ(0, nested_copy(&self->vm.edu, mem, S1_DST, G_PAGE_A, 256));
	ASSERT_GMEM(mem);
}

/* A vSTE with Config abort: nothing gets through */
TEST_F(smmu_nested, abort_ste)
{
	__u32 hwpt_id;

	ASSERT_EQ(0, nested_attach(&self->vm.edu, self->vm.viommu_id,
				   STE0_V | STE0_CFG_ABORT << STE0_CFG_SHIFT, 0,
				   &hwpt_id));
	ASSERT_EQ(0, edu_dma(&self->vm.edu, gpa(&self->vm.mem, G_BYPASS), 0,
			     256, EDU_DMA_TO_RAM));
	ASSERT_EQ(0, edu_dma(&self->vm.edu, S1_DST, 0, 256, EDU_DMA_TO_RAM));
	ASSERT_GMEM(&self->vm.mem);
}

/* A vSTE with Config bypass: only the stage 2 (the IOAS) translates */
TEST_F(smmu_nested, bypass_ste)
{
	struct gmem *mem = &self->vm.mem;
	__u32 hwpt_id;

	ASSERT_EQ(0, nested_attach(&self->vm.edu, self->vm.viommu_id,
				   STE0_V | STE0_CFG_BYPASS << STE0_CFG_SHIFT, 0,
				   &hwpt_id));
	ASSERT_EQ(0, edu_dma(&self->vm.edu, gpa(mem, G_SRC), 0, 512,
			     EDU_DMA_FROM_RAM));
	ASSERT_EQ(0, edu_dma(&self->vm.edu, gpa(mem, G_BYPASS), 0, 512,
			     EDU_DMA_TO_RAM));
	memcpy(mem->expect + G_BYPASS, mem->expect + G_SRC, 512);
	ASSERT_GMEM(mem);
}

/*
 * A command the vIOMMU does not pass on (CFGI_ALL) fails the call with EIO;
 * entry_num comes back as the index of the refused command.
 */
TEST_F(smmu_nested, invalidate_refuses_cfgi_all)
{
	struct e2e_viommu_arm_smmuv3_invalidate cmds[2];
	__u32 done;

	cmds[0] = inv_cmd(CMD_TLBI_NH_ASID | CMD0_ASID(ASID), 0);
	cmds[1] = inv_cmd(CMD_CFGI_ALL, 31);
	ASSERT_EQ(-EIO, viommu_invalidate(&self->vm.edu, self->vm.viommu_id,
					  cmds, 2, &done));
	ASSERT_EQ(1, done);
}

TEST_HARNESS_MAIN
