// SPDX-License-Identifier: GPL-2.0-only
/*
 * smmu_bad_input: what the real SMMU's driver refuses (the uAPI contract's
 * "Errno for bad input"), and that a refusal leaves the device translating
 * as before, and that a partly refused invalidation did what came before.
 * The device starts on a guest stage 1 (vsmmu_setup(), a nested HWPT from
 * a vSTE pointing at the guest's CD). Needs a machine that allows a vSMMU:
 * elsewhere every case skips.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kselftest_harness.h"
#include "e2e.h"

FIXTURE(smmu_bad_input) {
	struct vsmmu vm;
	__u32 hwpt_id;
};

FIXTURE_SETUP(smmu_bad_input)
{
	const char *why;

	ASSERT_EQ(0, edu_open(&self->vm.edu, 0, -1));
	if (!e2e_vsmmu_allowed(self->vm.edu.iommufd, self->vm.edu.dev_id, &why))
		SKIP(return, "%s", why);
	ASSERT_EQ(0, vsmmu_setup(&self->vm));
	ASSERT_EQ(0, nested_attach(&self->vm.edu, self->vm.viommu_id,
				   vste_s1(&self->vm.mem), VSTE1_S1,
				   &self->hwpt_id));
	/* The device translates through the guest's stage 1 */
	ASSERT_EQ(0, nested_copy(&self->vm.edu, &self->vm.mem, S1_DST, G_PAGE_A,
				 64));
	ASSERT_GMEM(&self->vm.mem);
}

FIXTURE_TEARDOWN(smmu_bad_input)
{
	vsmmu_teardown(&self->vm);
}

/* vSTE words a guest may not set, or set so (cfg, EATS) */
static const struct {
	__u64 set0, set1;	/* bits ORed into a good S1_TRANS vSTE */
	__u64 clear0;		/* and taken out of it */
} bad_vstes[] = {
	{ .set0 = 1ULL << 52 },				/* reserved */
	{ .set0 = 1ULL << 58 },				/* reserved */
	{ .set1 = 1ULL << 19 },				/* MEV: the host's */
	{ .set1 = 1ULL << 25 },				/* S2FWB: the host's */
	{ .set1 = 1ULL << 30 },				/* STRW */
	{ .set1 = 1ULL << 44 },				/* SHCFG */
	{ .set1 = 2ULL << 28 },				/* EATS S1CHK */
	{ .set1 = 3ULL << 28 },				/* EATS reserved */
	{ .set0 = 6ULL << 1, .clear0 = 7ULL << 1 },	/* Config S2 only */
	{ .set0 = 7ULL << 1, .clear0 = 7ULL << 1 },	/* Config nested */
	{ .set0 = 1ULL << 1, .clear0 = 7ULL << 1 },	/* Config reserved */
};

/* HWPT_ALLOC of a vSTE with bits outside the guest's fields: EIO */
TEST_F(smmu_bad_input, vste_bits)
{
	__u64 ste0 = vste_s1(&self->vm.mem);
	struct e2e_hwpt_arm_smmuv3 vste;
	__u32 id;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad_vstes); i++) {
		vste.ste[0] = htole64((ste0 & ~bad_vstes[i].clear0) |
				      bad_vstes[i].set0);
		vste.ste[1] = htole64(VSTE1_S1 | bad_vstes[i].set1);
		EXPECT_EQ(-EIO, hwpt_alloc(&self->vm.edu, self->vm.viommu_id, 0,
					   E2E_HWPT_DATA_ARM_SMMUV3, &vste,
					   sizeof(vste), &id))
			TH_LOG("vSTE %016llx %016llx accepted or refused otherwise",
			       (unsigned long long)le64toh(vste.ste[0]),
			       (unsigned long long)le64toh(vste.ste[1]));
	}
	/* The device still translates through the vSTE it has */
	ASSERT_EQ(0, nested_copy(&self->vm.edu, &self->vm.mem, S1_DST + 0x200,
				 G_PAGE_A + 0x200, 64));
	ASSERT_GMEM(&self->vm.mem);
}

/*
 * A translating vSTE of a vIOMMU on which the device has no vDEVICE: it can
 * be allocated but not attached (ENOENT), and the device keeps translating
 * as before. Abort and bypass vSTEs need no vDEVICE.
 */
TEST_F(smmu_bad_input, no_vdevice)
{
	__u32 viommu2, s1_id, bypass_id, abort_id;
	struct edu *edu = &self->vm.edu;
	struct gmem *mem = &self->vm.mem;

	ASSERT_EQ(0, viommu_alloc(edu, self->vm.s2_id,
				  E2E_VIOMMU_TYPE_ARM_SMMUV3, &viommu2));
	ASSERT_EQ(-ENOENT, nested_attach(edu, viommu2, vste_s1(mem), VSTE1_S1,
					 &s1_id));
	ASSERT_EQ(0, nested_copy(edu, mem, S1_DST + 0x300, G_PAGE_A + 0x300,
				 64));
	ASSERT_GMEM(mem);

	ASSERT_EQ(0, nested_attach(edu, viommu2,
				   STE0_V | STE0_CFG_BYPASS << STE0_CFG_SHIFT,
				   0, &bypass_id));
	ASSERT_EQ(0, edu_dma(edu, gpa(mem, G_SRC), 0, 64, EDU_DMA_FROM_RAM));
	ASSERT_EQ(0, edu_dma(edu, gpa(mem, G_BYPASS), 0, 64, EDU_DMA_TO_RAM));
	memcpy(mem->expect + G_BYPASS, mem->expect + G_SRC, 64);
	ASSERT_GMEM(mem);
	ASSERT_EQ(0, nested_attach(edu, viommu2,
				   STE0_V | STE0_CFG_ABORT << STE0_CFG_SHIFT,
				   0, &abort_id));
	ASSERT_EQ(0, edu_dma(edu, gpa(mem, G_BYPASS), 0, 64, EDU_DMA_TO_RAM));
	ASSERT_EQ(0, edu_dma(edu, S1_DST, 0, 64, EDU_DMA_TO_RAM));
	ASSERT_GMEM(mem);
}

/* HWPT_INVALIDATE on the vIOMMU with a bad array */
static int viommu_invalidate_raw(struct edu *edu, __u32 viommu_id, void *data,
				 __u32 type, __u32 entry_len, __u32 n,
				 __u32 *done)
{
	struct iommu_hwpt_invalidate cmd = {
		.size = sizeof(cmd),
		.hwpt_id = viommu_id,
		.data_uptr = (uintptr_t)data,
		.data_type = type,
		.entry_len = entry_len,
		.entry_num = n,
	};
	int ret;

	ret = ioctl(edu->iommufd, IOMMU_HWPT_INVALIDATE, &cmd) ? -errno : 0;
	*done = cmd.entry_num;
	return ret;
}

/*
 * The array's shape: entry_len 0, no entries, another data type: EINVAL.
 * Entries longer than the SMMUv3 command: E2BIG if the extra tail is not
 * zero (nothing done), taken if it is: the next DMA goes to the page the
 * invalidated stage-1 entry now names.
 */
TEST_F(smmu_bad_input, invalidate_array)
{
	struct {
		struct e2e_viommu_arm_smmuv3_invalidate cmd;
		__u64 tail;
	} wide[2];
	__u32 done;

	wide[0].cmd = inv_cmd(CMD_TLBI_NH_ASID | CMD0_ASID(ASID_ALT), 0);
	wide[1].cmd = inv_cmd(CMD_TLBI_NH_VA | CMD0_ASID(ASID),
			      (S1_DST & CMD1_VA_MASK) | CMD1_LEAF);
	wide[0].tail = 0;
	wide[1].tail = 0;

	ASSERT_EQ(-EINVAL, viommu_invalidate_raw(&self->vm.edu,
						 self->vm.viommu_id, wide,
						 E2E_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
						 0, 1, &done));
	ASSERT_EQ(0, done);
	ASSERT_EQ(-EINVAL, viommu_invalidate_raw(&self->vm.edu,
						 self->vm.viommu_id, wide,
						 E2E_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
						 sizeof(wide[0].cmd), 0, &done));
	ASSERT_EQ(0, done);
	ASSERT_EQ(-EINVAL, viommu_invalidate_raw(&self->vm.edu,
						 self->vm.viommu_id, wide,
						 IOMMU_HWPT_INVALIDATE_DATA_VTD_S1,
						 sizeof(wide[0].cmd), 1, &done));
	ASSERT_EQ(0, done);

	s1_map(&self->vm.mem, G_L1, G_L2, G_L3, S1_DST,
	       gpa(&self->vm.mem, G_PAGE_B));
	wide[1].tail = 1ULL << 63;
	ASSERT_EQ(-E2BIG, viommu_invalidate_raw(&self->vm.edu,
						self->vm.viommu_id, wide,
						E2E_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
						sizeof(wide[0]), 2, &done));
	ASSERT_EQ(0, done);
	wide[1].tail = 0;
	ASSERT_EQ(0, viommu_invalidate_raw(&self->vm.edu, self->vm.viommu_id,
					   wide,
					   E2E_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
					   sizeof(wide[0]), 2, &done));
	ASSERT_EQ(2, done);
	fill_pattern(self->vm.mem.va + G_SRC, 64, 0x1e);
	memcpy(self->vm.mem.expect + G_SRC, self->vm.mem.va + G_SRC, 64);
	ASSERT_EQ(0, nested_copy(&self->vm.edu, &self->vm.mem, S1_DST, G_PAGE_B,
				 64));
	ASSERT_GMEM(&self->vm.mem);
}

/* Commands a guest may not send, each refused (EIO) at the index it has */
TEST_F(smmu_bad_input, invalidate_bad_cmds)
{
	const struct e2e_viommu_arm_smmuv3_invalidate bad[] = {
		inv_cmd(CMD_CFGI_ALL, 31),
		/* vSIDs with no vDEVICE on this vIOMMU */
		inv_cmd(CMD_CFGI_CD | CMD0_SID(VSID + 1), CMD1_LEAF),
		inv_cmd(CMD_CFGI_CD_ALL | CMD0_SID(VSID + 1), 0),
		/* no ATS on this SMMU */
		inv_cmd(CMD_ATC_INV | CMD0_SID(VSID), 0),
		/* a reserved bit; a leaf bit the command does not have */
		inv_cmd(CMD_TLBI_NH_ASID | CMD0_ASID(ASID) | 1ULL << 8, 0),
		inv_cmd(CMD_TLBI_NH_ALL, CMD1_LEAF),
		/* an opcode that does not exist */
		inv_cmd(0xff, 0),
	};
	struct e2e_viommu_arm_smmuv3_invalidate cmds[3];
	__u32 done, psid;
	size_t i;

	ASSERT_EQ(0, edu_sid(&self->vm.edu, &psid));
	for (i = 0; i <= ARRAY_SIZE(bad); i++) {
		cmds[0] = inv_cmd(CMD_TLBI_NH_ASID | CMD0_ASID(ASID_ALT), 0);
		cmds[1] = inv_cmd(CMD_TLBI_NH_ALL, 0);
		/* Last, the device's physical SID: no vSID of it */
		if (i < ARRAY_SIZE(bad))
			cmds[2] = bad[i];
		else
			cmds[2] = inv_cmd(CMD_CFGI_CD | CMD0_SID(psid),
					  CMD1_LEAF);
		EXPECT_EQ(-EIO, viommu_invalidate(&self->vm.edu,
						  self->vm.viommu_id, cmds, 3,
						  &done))
			TH_LOG("command %016llx %016llx not refused with EIO",
			       (unsigned long long)le64toh(cmds[2].cmd[0]),
			       (unsigned long long)le64toh(cmds[2].cmd[1]));
		EXPECT_EQ(2, done);
		EXPECT_EQ(-EIO, viommu_invalidate(&self->vm.edu,
						  self->vm.viommu_id, &cmds[2],
						  1, &done));
		EXPECT_EQ(0, done);
	}
}

/*
 * A TLBI_NH_VA before a refused command is carried out: the guest moved the
 * page, and the device's next DMA (whose old translation the SMMU cached)
 * lands in the new one.
 */
TEST_F(smmu_bad_input, invalidate_partial)
{
	struct e2e_viommu_arm_smmuv3_invalidate cmds[2];
	__u32 done;

	s1_map(&self->vm.mem, G_L1, G_L2, G_L3, S1_DST,
	       gpa(&self->vm.mem, G_PAGE_B));
	cmds[0] = inv_cmd(CMD_TLBI_NH_VA | CMD0_ASID(ASID),
			  (S1_DST & CMD1_VA_MASK) | CMD1_LEAF);
	cmds[1] = inv_cmd(CMD_CFGI_ALL, 31);
	ASSERT_EQ(-EIO, viommu_invalidate(&self->vm.edu, self->vm.viommu_id,
					  cmds, 2, &done));
	ASSERT_EQ(1, done);

	fill_pattern(self->vm.mem.va + G_SRC, 64, 0x9a);
	memcpy(self->vm.mem.expect + G_SRC, self->vm.mem.va + G_SRC, 64);
	ASSERT_EQ(0, nested_copy(&self->vm.edu, &self->vm.mem, S1_DST, G_PAGE_B,
				 64));
	ASSERT_GMEM(&self->vm.mem);
}

/*
 * vSIDs are 32-bit (commands and events carry 32 bits): a wider virt_id is
 * refused (EINVAL, our choice), U32_MAX is taken.
 */
TEST_F(smmu_bad_input, vdevice_virt_id)
{
	__u32 id = 0;

	/* Off the vSID first, then without a vDEVICE */
	ASSERT_EQ(0, vfio_attach(&self->vm.edu, self->vm.s2_id, NULL));
	ASSERT_EQ(0, iommufd_destroy(self->vm.edu.iommufd, self->vm.vdev_id));
	ASSERT_EQ(-EINVAL, vdevice_alloc(&self->vm.edu, self->vm.viommu_id,
					 1ULL << 32, &id));
	ASSERT_EQ(-EINVAL, vdevice_alloc(&self->vm.edu, self->vm.viommu_id,
					 (1ULL << 32) | VSID, &id));
	ASSERT_EQ(-EINVAL, vdevice_alloc(&self->vm.edu, self->vm.viommu_id,
					 ~0ULL, &id));
	ASSERT_EQ(0, vdevice_alloc(&self->vm.edu, self->vm.viommu_id,
				   0xffffffffULL, &id));
	ASSERT_EQ(0, iommufd_destroy(self->vm.edu.iommufd, id));
	ASSERT_EQ(0, vdevice_alloc(&self->vm.edu, self->vm.viommu_id, VSID,
				   &self->vm.vdev_id));
	ASSERT_EQ(0, vfio_attach(&self->vm.edu, self->hwpt_id, NULL));
	ASSERT_EQ(0, nested_copy(&self->vm.edu, &self->vm.mem, S1_DST + 0x400,
				 G_PAGE_A + 0x400, 64));
	ASSERT_GMEM(&self->vm.mem);
}

TEST_HARNESS_MAIN
