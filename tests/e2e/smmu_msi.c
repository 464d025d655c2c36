// SPDX-License-Identifier: GPL-2.0-only
/*
 * smmu_msi: an MSI of a device behind a nested domain. The kernel maps the
 * doorbell in the stage 2 at the MSI window's IOVA; the guest's stage 1 has
 * to map the window to itself (variant "window"). Without that (variant
 * "no_window") the MSI write faults in the stage 1: no interrupt, and the
 * guest sees the fault. Needs a machine that allows a vSMMU: elsewhere every
 * case skips.
 */
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "kselftest_harness.h"
#include "e2e.h"

/* The SMMU driver's software MSI window (IOMMU_RESV_SW_MSI) */
#define MSI_IOVA_BASE		0x8000000UL
#define MSI_IOVA_SIZE		SZ_1M

FIXTURE(smmu_msi) {
	struct vsmmu vm;
	__u32 hwpt_id;
	__u32 veventq_id;
	int veventq_fd;
	int efd;
};

FIXTURE_VARIANT(smmu_msi) {
	bool map_window;
};

FIXTURE_VARIANT_ADD(smmu_msi, window) {
	.map_window = true,
};

FIXTURE_VARIANT_ADD(smmu_msi, no_window) {
	.map_window = false,
};

static int vfio_msi_eventfd(struct edu *edu, int efd)
{
	struct vfio_irq_info info = {
		.argsz = sizeof(info),
		.index = VFIO_PCI_MSI_IRQ_INDEX,
	};
	char buf[sizeof(struct vfio_irq_set) + sizeof(int)];
	struct vfio_irq_set *set = (struct vfio_irq_set *)buf;

	if (ioctl(edu->cdev, VFIO_DEVICE_GET_IRQ_INFO, &info))
		return -errno;
	if (info.count < 1 || !(info.flags & VFIO_IRQ_INFO_EVENTFD))
		return -ENODEV;
	set->argsz = sizeof(buf);
	set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	set->index = VFIO_PCI_MSI_IRQ_INDEX;
	set->start = 0;
	set->count = 1;
	memcpy(set->data, &efd, sizeof(efd));
	if (ioctl(edu->cdev, VFIO_DEVICE_SET_IRQS, set)) {
		int ret = -errno;

		note("VFIO_DEVICE_SET_IRQS (MSI): %s", strerror(-ret));
		return ret;
	}
	return 0;
}

FIXTURE_SETUP(smmu_msi)
{
	__u8 zero[SZ_4K] = {};
	const char *why;
	__u64 iova;

	self->veventq_fd = -1;
	self->efd = -1;
	ASSERT_EQ(0, edu_open(&self->vm.edu, 0, -1));
	if (!e2e_vsmmu_allowed(self->vm.edu.iommufd, self->vm.edu.dev_id, &why))
		SKIP(return, "%s", why);
	ASSERT_EQ(0, vsmmu_setup(&self->vm));
	if (variant->map_window) {
		gmem_set(&self->vm.mem, G_L3_MSI, zero, sizeof(zero));
		for (iova = MSI_IOVA_BASE; iova < MSI_IOVA_BASE + MSI_IOVA_SIZE;
		     iova += SZ_4K)
			s1_map(&self->vm.mem, G_L1, G_L2, G_L3_MSI, iova, iova);
	}
	ASSERT_EQ(0, veventq_alloc(&self->vm.edu, self->vm.viommu_id,
				   E2E_VEVENTQ_TYPE_ARM_SMMUV3, 64, 0,
				   &self->veventq_id, &self->veventq_fd));
	/* Nested first: MSI setup maps the doorbell for the domain it finds */
	ASSERT_EQ(0, nested_attach(&self->vm.edu, self->vm.viommu_id,
				   vste_s1(&self->vm.mem), VSTE1_S1,
				   &self->hwpt_id));
	self->efd = eventfd(0, EFD_NONBLOCK);
	ASSERT_LE(0, self->efd);
	ASSERT_EQ(0, vfio_msi_eventfd(&self->vm.edu, self->efd));
	/* No reset on open for edu: an earlier test may have left one raised */
	edu_write32(&self->vm.edu, EDU_IRQ_ACK,
		    edu_read32(&self->vm.edu, EDU_IRQ_STATUS));
}

FIXTURE_TEARDOWN(smmu_msi)
{
	if (self->efd >= 0)
		close(self->efd);
	if (self->veventq_fd >= 0)
		close(self->veventq_fd);
	vsmmu_teardown(&self->vm);
}

/* A DMA that raises edu's interrupt when done: the eventfd fires, or not */
TEST_F(smmu_msi, dma_irq)
{
	struct edu *edu = &self->vm.edu;
	struct vevent ev[8];
	__u64 count;
	int ret, i;

	ASSERT_EQ(0, edu_read32(edu, EDU_IRQ_STATUS));
	ASSERT_EQ(0, edu_dma(edu, S1_SRC, 0, 64,
			     EDU_DMA_FROM_RAM | EDU_DMA_IRQ));
	ASSERT_EQ(0, edu_dma(edu, S1_DST, 0, 64, EDU_DMA_TO_RAM));
	memcpy(self->vm.mem.expect + G_PAGE_A, self->vm.mem.expect + G_SRC, 64);
	ASSERT_GMEM(&self->vm.mem);
	/* The device raised it either way */
	ASSERT_EQ(EDU_IRQ_DMA, edu_read32(edu, EDU_IRQ_STATUS));

	ret = wait_readable(self->efd, variant->map_window ? EVT_WAIT_MS :
								 GRACE_MS);
	if (variant->map_window) {
		ASSERT_EQ(1, ret);
		ASSERT_EQ(sizeof(count), read(self->efd, &count, sizeof(count)));
		ASSERT_EQ(1, count);
		ASSERT_EQ(0, wait_readable(self->veventq_fd, 0));
	} else {
		ASSERT_EQ(0, ret);
		/* The MSI write's fault, in the window */
		ret = vevents_wait(self->veventq_fd, ev, 8);
		ASSERT_LE(1, ret);
		for (i = 0; i < ret; i++) {
			ASSERT_EQ(0, ev[i].hdr.flags);
			ASSERT_EQ(EVT_ID_TRANSLATION_FAULT,
				  EVT0_ID(ev[i].evt[0]));
			ASSERT_EQ(VSID, EVT0_SID(ev[i].evt[0]));
			ASSERT_EQ(0, ev[i].evt[1] & EVT1_RNW);
			ASSERT_LE(MSI_IOVA_BASE, ev[i].evt[2]);
			ASSERT_GT(MSI_IOVA_BASE + MSI_IOVA_SIZE, ev[i].evt[2]);
		}
	}

	/* Acknowledged, the interrupt is gone; another one comes the same way */
	edu_write32(edu, EDU_IRQ_ACK, EDU_IRQ_DMA);
	ASSERT_EQ(0, edu_read32(edu, EDU_IRQ_STATUS));
	ASSERT_EQ(0, edu_dma(edu, S1_SRC, 0, 4,
			     EDU_DMA_FROM_RAM | EDU_DMA_IRQ));
	ret = wait_readable(self->efd, variant->map_window ? EVT_WAIT_MS :
								 GRACE_MS);
	ASSERT_EQ(variant->map_window ? 1 : 0, ret);
	edu_write32(edu, EDU_IRQ_ACK, EDU_IRQ_DMA);
	ASSERT_EQ(0, edu_read32(edu, EDU_IRQ_STATUS));
}

TEST_HARNESS_MAIN
