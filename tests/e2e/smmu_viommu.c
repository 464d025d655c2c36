// SPDX-License-Identifier: GPL-2.0-only
/*
 * smmu_viommu: what a VMM asks before it gives a VM a vSMMU, and whether the
 * kernel gives one.
 *
 *   probe         The host capability probe (probe/cmdqv-probe.c), run as
 *                 an admin would, with both edus given to vfio-pci: its
 *                 report where a vSMMU is refused (variant "qemu": QEMU's
 *                 IORT) and where one is allowed ("canwbs"), and one line
 *                 and its exit status for each host with nothing to ask.
 *   smmu_hw_info  IOMMU_GET_HW_INFO of type ARM_SMMUV3, and of the Tegra241
 *                 CMDQV type, refused where there is no CMDQV.
 *   smmu_viommu   IOMMU_VIOMMU_ALLOC of type ARM_SMMUV3 on a nesting parent:
 *                 refused with EOPNOTSUPP where the machine does not allow a
 *                 vSMMU (variant "qemu": no CANWBS, no S2FWB), allowed where
 *                 it does ("canwbs"); the CMDQV types refused.
 *
 * Each variant skips on the other's machine (e2e_vsmmu_allowed()), and the
 * cases that assert a Tegra241 CMDQV type is refused skip where there is a
 * CMDQV (e2e_has_cmdqv()). The harness runs this program first, so that the
 * probe sees the devices as an admin would.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "e2e.h"

#define PROBE			"/tests/cmdqv-probe"
#define PROBE_NOBODY		65534

/*
 * Run the probe (as @uid if not 0, from a copy anybody may run); its exit
 * status, its output in @out
 */
static int probe_run(char *out, size_t len, uid_t uid, const char *arg1,
		     const char *arg2, const char *arg3)
{
	const char *prog = uid ? "/tmp/cmdqv-probe" : PROBE;
	const char *argv[] = { prog, arg1, arg2, arg3, NULL };
	size_t total = 0;
	int fds[2], status;
	ssize_t n;
	pid_t pid;

	if (uid && system("cp " PROBE " /tmp/cmdqv-probe && chmod 755 /tmp /tmp/cmdqv-probe"))
		return -1;
	if (pipe(fds))
		return -1;
	pid = fork();
	if (!pid) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[0]);
		if (uid && (setgid(uid) || setuid(uid)))
			_exit(127);
		execv(prog, (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	while ((n = read(fds[0], out + total, len - 1 - total)) > 0)
		total += n;
	out[total] = '\0';
	close(fds[0]);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static unsigned int count_of(const char *s, const char *what)
{
	unsigned int n = 0;

	while ((s = strstr(s, what))) {
		n++;
		s += strlen(what);
	}
	return n;
}

FIXTURE(probe) {
	char out[8192];
	bool cmdqv;
};

FIXTURE_VARIANT(probe) {
	bool canwbs;		/* a vSMMU is allowed */
};

FIXTURE_VARIANT_ADD(probe, qemu) {
	.canwbs = false,
};

FIXTURE_VARIANT_ADD(probe, canwbs) {
	.canwbs = true,
};

FIXTURE_SETUP(probe)
{
	const char *why, *cmdqv;
	struct edu edu;
	bool allowed;
	char bdf[32];
	unsigned int i;

	/* The probe's verdicts and reasons are checked against an IORT's */
	if (access(IORT_PATH, R_OK))
		SKIP(return, "no IORT: not an ACPI boot");
	/* What the probe must find, asked the way a VMM asks */
	ASSERT_EQ(0, edu_open(&edu, 0, -1));
	allowed = e2e_vsmmu_allowed(edu.iommufd, edu.dev_id, &why);
	self->cmdqv = e2e_has_cmdqv(edu.iommufd, edu.dev_id, &cmdqv);
	edu_close(&edu);
	note("%s; %s", why, cmdqv);
	if (allowed != variant->canwbs)
		SKIP(return, "%s", why);
	for (i = 0; i != 2; i++) {
		ASSERT_EQ(0, edu_find(i, bdf, sizeof(bdf)));
		ASSERT_EQ(0, edu_bind_vfio_pci(bdf));
	}
}

FIXTURE_TEARDOWN(probe)
{
}

/*
 * Both edus, each behind QEMU's SMMUv3; a vSMMU only with CANWBS; a CMDQV
 * where the machine has one
 */
TEST_F(probe, report)
{
	int want = variant->canwbs ? 0 : 1;
	unsigned int cmdqv = self->cmdqv ? 2 : 0;

	ASSERT_EQ(want, probe_run(self->out, sizeof(self->out), 0, "--json",
				  NULL, NULL));
	TH_LOG("%s", self->out);
	ASSERT_EQ(1, count_of(self->out, "\"device\": \"0000:00:01.0\""));
	ASSERT_EQ(1, count_of(self->out, "\"device\": \"0000:00:02.0\""));
	ASSERT_EQ(2, count_of(self->out, "\"nesting\": true"));
	ASSERT_EQ(2 - cmdqv, count_of(self->out, "\"cmdqv\": null"));
	ASSERT_EQ(variant->canwbs ? 2 : 0,
		  count_of(self->out, "\"accel_vsmmu\": true"));
	ASSERT_EQ(variant->canwbs ? 0 : 2,
		  count_of(self->out, "the root complex is not CANWBS"));

	/* The same, for people: one line per device */
	ASSERT_EQ(want, probe_run(self->out, sizeof(self->out), 0, NULL, NULL,
				  NULL));
	ASSERT_EQ(2, count_of(self->out, "\n"));
	ASSERT_EQ(2 - cmdqv, count_of(self->out, "; no CMDQV"));
	ASSERT_EQ(cmdqv, count_of(self->out, "; CMDQV v"));
	ASSERT_EQ(variant->canwbs ? 2 : 0,
		  count_of(self->out, "accelerated vSMMU possible"));
}

/* A fake root for the probe: @dev_iommu a node like /dev/iommu, @smmu one */
static int probe_fake_root(const char *dir, bool dev_iommu, const char *smmu)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "mkdir -p %s/dev %s/sys/class/iommu", dir,
		 dir);
	if (system(path))
		return -1;
	if (dev_iommu) {
		snprintf(path, sizeof(path), "%s/dev/iommu", dir);
		if (stat("/dev/iommu", &st) ||
		    (mknod(path, S_IFCHR | 0600, st.st_rdev) && errno != EEXIST))
			return -1;
	}
	if (smmu) {
		snprintf(path, sizeof(path), "mkdir -p %s/sys/class/iommu/%s/devices",
			 dir, smmu);
		if (system(path))
			return -1;
	}
	return 0;
}

/* Each host with nothing to ask: one clear line and the documented status */
TEST_F(probe, bad_input)
{
	/* Usage */
	ASSERT_EQ(2, probe_run(self->out, sizeof(self->out), 0, "--bogus",
			       NULL, NULL));
	ASSERT_EQ(1, count_of(self->out, "\n"));
	ASSERT_EQ(1, count_of(self->out, "usage:"));

	/* Not root: /dev/iommu is root's */
	ASSERT_EQ(3, probe_run(self->out, sizeof(self->out), PROBE_NOBODY,
			       NULL, NULL, NULL));
	ASSERT_EQ(1, count_of(self->out, "\n"));
	ASSERT_EQ(1, count_of(self->out, "permission denied"));

	/* No iommufd in the kernel */
	ASSERT_EQ(0, probe_fake_root("/tmp/probe-no-iommufd", false, NULL));
	ASSERT_EQ(4, probe_run(self->out, sizeof(self->out), 0, "--root",
			       "/tmp/probe-no-iommufd", NULL));
	ASSERT_EQ(1, count_of(self->out, "\n"));
	ASSERT_EQ(1, count_of(self->out, "no iommufd"));

	/* iommufd but no SMMUv3 */
	ASSERT_EQ(0, probe_fake_root("/tmp/probe-no-smmu", true, NULL));
	ASSERT_EQ(5, probe_run(self->out, sizeof(self->out), 0, "--root",
			       "/tmp/probe-no-smmu", NULL));
	ASSERT_EQ(1, count_of(self->out, "\n"));
	ASSERT_EQ(1, count_of(self->out, "no SMMUv3"));

	/* An SMMUv3, but nothing behind it bound to vfio-pci */
	ASSERT_EQ(0, probe_fake_root("/tmp/probe-no-vfio", true, "smmu3.0x0"));
	ASSERT_EQ(5, probe_run(self->out, sizeof(self->out), 0, "--root",
			       "/tmp/probe-no-vfio", NULL));
	ASSERT_EQ(1, count_of(self->out, "\n"));
	ASSERT_EQ(1, count_of(self->out, "bound to vfio-pci"));

	/* The same in JSON: one object with the status */
	ASSERT_EQ(5, probe_run(self->out, sizeof(self->out), 0, "--json",
			       "--root", "/tmp/probe-no-vfio"));
	ASSERT_EQ(1, count_of(self->out, "\"status\": 5"));
}

/* IOMMU_GET_HW_INFO reports the SMMU's registers, as mainline does */
FIXTURE(smmu_hw_info) {
	struct edu edu;
};

FIXTURE_SETUP(smmu_hw_info)
{
	ASSERT_EQ(0, edu_open(&self->edu, 0, -1));
}

FIXTURE_TEARDOWN(smmu_hw_info)
{
	edu_close(&self->edu);
}

TEST_F(smmu_hw_info, arm_smmuv3)
{
	struct e2e_hw_info_arm_smmuv3 info;
	struct iommu_hw_info cmd = {
		.size = sizeof(cmd),
		.dev_id = self->edu.dev_id,
		.data_len = sizeof(info),
		.data_uptr = (uintptr_t)&info,
	};

	memset(&info, 0xa5, sizeof(info));
	ASSERT_EQ(0, ioctl(self->edu.iommufd, IOMMU_GET_HW_INFO, &cmd));
	ASSERT_EQ(E2E_HW_INFO_TYPE_ARM_SMMUV3, cmd.out_data_type);
	ASSERT_EQ(sizeof(info), cmd.data_len);
	ASSERT_EQ(0, info.__reserved);
	/* IDR0: S2P (bit 0), S1P (bit 1), TTF AArch64 (bits 3:2 = 2 or 3) */
	ASSERT_EQ(0x3, info.idr[0] & 0x3);
	ASSERT_EQ(0x2, (info.idr[0] >> 2) & 0x2);
	/* IDR5: GRAN4K (bit 4), which the guest stage 1 here uses */
	ASSERT_NE(0, info.idr[5] & (1 << 4));
}

/* Plain SMMUv3 has no CMDQV info: asking for that type is refused */
TEST_F(smmu_hw_info, cmdqv_type_refused)
{
	__u8 buf[64];
	struct iommu_hw_info cmd = {
		.size = sizeof(cmd),
		.flags = IOMMU_HW_INFO_FLAG_INPUT_TYPE,
		.dev_id = self->edu.dev_id,
		.data_len = sizeof(buf),
		.data_uptr = (uintptr_t)buf,
		.in_data_type = E2E_HW_INFO_TYPE_TEGRA241_CMDQV,
	};
	const char *why;

	if (e2e_has_cmdqv(self->edu.iommufd, self->edu.dev_id, &why))
		SKIP(return, "%s", why);
	ASSERT_EQ(-1, ioctl(self->edu.iommufd, IOMMU_GET_HW_INFO, &cmd));
	ASSERT_EQ(EOPNOTSUPP, errno);
}

/*
 * A vSMMU needs the root complex to guarantee coherent, write-back
 * cacheable DMA (IORT CANWBS) when the SMMU cannot force it (no S2FWB, as
 * on QEMU): refused without it, allowed with it.
 */
FIXTURE(smmu_viommu) {
	struct edu edu;
	struct gmem mem;
	__u32 ioas_id;
	__u32 s2_id;
};

FIXTURE_VARIANT(smmu_viommu) {
	bool canwbs;		/* a vSMMU is allowed */
};

FIXTURE_VARIANT_ADD(smmu_viommu, qemu) {
	.canwbs = false,
};

FIXTURE_VARIANT_ADD(smmu_viommu, canwbs) {
	.canwbs = true,
};

FIXTURE_SETUP(smmu_viommu)
{
	const char *why;

	ASSERT_EQ(0, edu_open(&self->edu, 0, -1));
	if (e2e_vsmmu_allowed(self->edu.iommufd, self->edu.dev_id, &why) !=
	    variant->canwbs)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, gmem_alloc(&self->mem, GMEM_IOVA, GMEM_SIZE));
	ASSERT_EQ(0, ioas_alloc(self->edu.iommufd, &self->ioas_id));
	ASSERT_EQ(0, ioas_map(self->edu.iommufd, self->ioas_id, self->mem.va,
			      self->mem.size, self->mem.iova));
	ASSERT_EQ(0, hwpt_alloc(&self->edu, self->ioas_id,
				IOMMU_HWPT_ALLOC_NEST_PARENT,
				IOMMU_HWPT_DATA_NONE, NULL, 0, &self->s2_id));
	ASSERT_EQ(0, vfio_attach(&self->edu, self->s2_id, NULL));
}

FIXTURE_TEARDOWN(smmu_viommu)
{
	edu_close(&self->edu);
	gmem_free(&self->mem);
}

/*
 * A vSMMU on the fixture's nesting parent: allocated where the machine
 * allows one; where it does not, the refusal is checked and there is none.
 */
static bool smmu_viommu_vsmmu(struct __test_metadata *_metadata,
			      FIXTURE_DATA(smmu_viommu) *self,
			      const FIXTURE_VARIANT(smmu_viommu) *variant,
			      __u32 *viommu_id)
{
	int ret = viommu_alloc(&self->edu, self->s2_id,
			       E2E_VIOMMU_TYPE_ARM_SMMUV3, viommu_id);

	EXPECT_EQ(variant->canwbs ? 0 : -EOPNOTSUPP, ret);
	return !ret;
}

TEST_F(smmu_viommu, alloc)
{
	__u32 viommu_id;

	if (smmu_viommu_vsmmu(_metadata, self, variant, &viommu_id))
		ASSERT_EQ(0, iommufd_destroy(self->edu.iommufd, viommu_id));
}

/*
 * A CMDQV vIOMMU needs Tegra241 CMDQV hardware, which QEMU's SMMU does not
 * have: refused with EOPNOTSUPP whether a vSMMU is possible or not, the data
 * left as it was, and nothing allocated (the nesting parent is free again).
 */
TEST_F(smmu_viommu, cmdqv_type_refused)
{
	struct e2e_viommu_tegra241_cmdqv data;
	struct iommu_viommu_alloc cmd = {
		.size = sizeof(cmd),
		.type = E2E_VIOMMU_TYPE_TEGRA241_CMDQV,
		.dev_id = self->edu.dev_id,
		.hwpt_id = self->s2_id,
		.data_len = sizeof(data),
		.data_uptr = (uintptr_t)&data,
	};
	const char *why;

	if (e2e_has_cmdqv(self->edu.iommufd, self->edu.dev_id, &why))
		SKIP(return, "%s", why);
	memset(&data, 0x5a, sizeof(data));
	ASSERT_EQ(-1, ioctl(self->edu.iommufd, IOMMU_VIOMMU_ALLOC, &cmd));
	ASSERT_EQ(EOPNOTSUPP, errno);
	ASSERT_EQ(0x5a5a5a5a5a5a5a5aULL, data.out_vintf_mmap_offset);
	ASSERT_EQ(0x5a5a5a5a5a5a5a5aULL, data.out_vintf_mmap_length);
	/* Without data, too */
	cmd.data_len = 0;
	cmd.data_uptr = 0;
	ASSERT_EQ(-1, ioctl(self->edu.iommufd, IOMMU_VIOMMU_ALLOC, &cmd));
	ASSERT_EQ(EOPNOTSUPP, errno);

	/* The nesting parent still backs a vSMMU where one is possible */
	if (smmu_viommu_vsmmu(_metadata, self, variant, &cmd.out_viommu_id))
		ASSERT_EQ(0, iommufd_destroy(self->edu.iommufd,
					     cmd.out_viommu_id));
}

/*
 * Nor does a vSMMU have CMDQV queues: that HW queue type is refused, and
 * the queue memory is not left pinned. This holds with a CMDQV too: its
 * queues belong to vIOMMUs of the CMDQV type, not to a plain vSMMU.
 */
TEST_F(smmu_viommu, cmdqv_hw_queue_refused)
{
	struct iommu_hw_queue_alloc cmd = {
		.size = sizeof(cmd),
		.type = E2E_HW_QUEUE_TYPE_TEGRA241_CMDQV,
		.nesting_parent_iova = GMEM_IOVA,
		.length = SZ_4K,
	};
	__u32 viommu_id;

	/* Where a vSMMU is refused, there is none to ask */
	if (!smmu_viommu_vsmmu(_metadata, self, variant, &viommu_id))
		return;
	cmd.viommu_id = viommu_id;
	ASSERT_EQ(-1, ioctl(self->edu.iommufd, IOMMU_HW_QUEUE_ALLOC, &cmd));
	ASSERT_EQ(EOPNOTSUPP, errno);
	ASSERT_EQ(0, iommufd_destroy(self->edu.iommufd, viommu_id));
	ASSERT_EQ(0, ioas_unmap(self->edu.iommufd, self->ioas_id,
				self->mem.iova, self->mem.size));
}

TEST_HARNESS_MAIN
