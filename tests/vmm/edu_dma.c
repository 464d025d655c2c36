// SPDX-License-Identifier: GPL-2.0-only
/*
 * The real-VMM stage's inner-guest test (harness/vmm.sh): a driver for QEMU's
 * "edu" device that moves data with the DMA API, so through the DMA domain
 * the kernel gave the device on its SMMU, which there is QEMU 11.1's
 * accelerated vSMMU. Each case prints "edu-dma: ok NAME" or
 * "edu-dma: not ok NAME: why"; the stage's script reads them from the log.
 *
 *   round_trip     RAM -> edu -> RAM through coherent memory, data checked
 *   streaming      the same through dma_map_single() mappings
 *   unmapped_iova  a DMA to an IOVA the domain does not map: the SMMU
 *                  reports a translation fault; the device works after
 *   unmap_revokes  after dma_unmap_single() (strict invalidation) the device
 *                  can no longer write the page it wrote a moment before
 *
 * For each DMA that must fault (unmapped_iova's and unmap_revokes's) it
 * prints "edu-dma: fault expected at IOVA" (16 hex digits, as the SMMU
 * driver prints an event's words); the stage looks for a translation fault
 * event at each in the log.
 * edu ignores commands while a DMA runs, so a timeout ends the cases.
 */
#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/io.h>
#include <linux/iommu.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/slab.h>

#define EDU_VENDOR	0x1234
#define EDU_DEVICE	0x11e8
#define EDU_ID		0x00
#define EDU_DMA_SRC	0x80
#define EDU_DMA_DST	0x88
#define EDU_DMA_CNT	0x90
#define EDU_DMA_CMD	0x98
#define EDU_DMA_RUN	BIT(0)
#define EDU_DMA_TO_RAM	BIT(1)
/* The device's own buffer, as its DMA engine addresses it */
#define EDU_BUF		0x40000
#define EDU_BUF_SIZE	4096
/* edu's DMA engine drives 28 address bits (its default dma_mask) */
#define EDU_DMA_BITS	28
/* An IOVA the DMA domain never hands out: the allocator works top-down */
#define EDU_STRAY_IOVA	0x10000
#define EDU_TIMEOUT_MS	10000
/*
 * The SMMU driver logs at most 10 events in 5 s (its ratelimit), and one
 * faulting edu DMA raises more than 10 under QEMU: a second faulting DMA
 * waits this long, so that its events are logged too.
 */
#define EDU_EVENT_LOG_QUIET_MS	5500

struct edu {
	struct pci_dev *pdev;
	void __iomem *regs;
	int failed;
	bool stuck;
};

static void edu_run_case(struct edu *edu, const char *name,
			 int (*fn)(struct edu *edu))
{
	int err = edu->stuck ? -ECANCELED : fn(edu);

	if (err == -ETIMEDOUT)
		edu->stuck = true;
	if (err) {
		pr_info("edu-dma: not ok %s: %d\n", name, err);
		edu->failed++;
	} else {
		pr_info("edu-dma: ok %s\n", name);
	}
}

/* One transfer of @len bytes between @iova and the device's buffer */
static int edu_dma(struct edu *edu, dma_addr_t iova, size_t len, bool to_ram)
{
	unsigned long timeout = jiffies + msecs_to_jiffies(EDU_TIMEOUT_MS);

	/* edu takes 8-byte accesses to its DMA registers */
	writeq(to_ram ? EDU_BUF : iova, edu->regs + EDU_DMA_SRC);
	writeq(to_ram ? iova : EDU_BUF, edu->regs + EDU_DMA_DST);
	writeq(len, edu->regs + EDU_DMA_CNT);
	writeq(EDU_DMA_RUN | (to_ram ? EDU_DMA_TO_RAM : 0),
	       edu->regs + EDU_DMA_CMD);
	/* readq() orders the CPU's later reads of the data after it */
	while (readq(edu->regs + EDU_DMA_CMD) & EDU_DMA_RUN) {
		if (time_after(jiffies, timeout))
			return -ETIMEDOUT;
		usleep_range(500, 1000);
	}
	return 0;
}

static void fill(u8 *p, size_t len, u8 seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = seed + i * 7 + (i >> 8);
}

static int round_trip(struct edu *edu)
{
	dma_addr_t iova;
	u8 *buf;
	int ret;

	buf = dma_alloc_coherent(&edu->pdev->dev, 2 * EDU_BUF_SIZE, &iova, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	fill(buf, EDU_BUF_SIZE, 0x5a);
	memset(buf + EDU_BUF_SIZE, 0, EDU_BUF_SIZE);
	ret = edu_dma(edu, iova, EDU_BUF_SIZE, false);
	if (!ret)
		ret = edu_dma(edu, iova + EDU_BUF_SIZE, EDU_BUF_SIZE, true);
	if (!ret && memcmp(buf, buf + EDU_BUF_SIZE, EDU_BUF_SIZE))
		ret = -EIO;
	dma_free_coherent(&edu->pdev->dev, 2 * EDU_BUF_SIZE, buf, iova);
	return ret;
}

/*
 * Copy @len bytes from @src to @dst through the device, each buffer mapped
 * with dma_map_single() for the transfer and unmapped after it; *@dst_iova
 * tells where @dst was mapped.
 */
static int copy_mapped(struct edu *edu, u8 *src, u8 *dst, size_t len,
		       dma_addr_t *dst_iova)
{
	struct device *dev = &edu->pdev->dev;
	dma_addr_t src_iova;
	int ret;

	src_iova = dma_map_single(dev, src, EDU_BUF_SIZE, DMA_TO_DEVICE);
	ret = dma_mapping_error(dev, src_iova);
	if (ret)
		return ret;
	*dst_iova = dma_map_single(dev, dst, EDU_BUF_SIZE, DMA_FROM_DEVICE);
	ret = dma_mapping_error(dev, *dst_iova);
	if (ret)
		goto out_unmap_src;
	ret = edu_dma(edu, src_iova, len, false);
	if (!ret)
		ret = edu_dma(edu, *dst_iova, len, true);
	dma_unmap_single(dev, *dst_iova, EDU_BUF_SIZE, DMA_FROM_DEVICE);
	if (!ret && memcmp(src, dst, len))
		ret = -EIO;
out_unmap_src:
	dma_unmap_single(dev, src_iova, EDU_BUF_SIZE, DMA_TO_DEVICE);
	return ret;
}

/* Two page-aligned buffers (kmalloc aligns a power-of-two size): src, dst */
static u8 *alloc_pair(u8 seed)
{
	u8 *bufs = kzalloc(2 * EDU_BUF_SIZE, GFP_KERNEL);

	if (bufs)
		fill(bufs, EDU_BUF_SIZE, seed);
	return bufs;
}

static int streaming(struct edu *edu)
{
	dma_addr_t dst_iova;
	u8 *bufs = alloc_pair(0xc3);
	int ret;

	if (!bufs)
		return -ENOMEM;
	ret = copy_mapped(edu, bufs, bufs + EDU_BUF_SIZE, EDU_BUF_SIZE, &dst_iova);
	kfree(bufs);
	return ret;
}

/* The transfer itself completes (edu does not see the fault); then a good one */
static int unmapped_iova(struct edu *edu)
{
	struct iommu_domain *domain = iommu_get_domain_for_dev(&edu->pdev->dev);
	int ret;

	if (!domain || iommu_iova_to_phys(domain, EDU_STRAY_IOVA))
		return -EEXIST;
	pr_info("edu-dma: fault expected at 0x%016x\n", EDU_STRAY_IOVA);
	ret = edu_dma(edu, EDU_STRAY_IOVA, 64, true);
	if (ret)
		return ret;
	return round_trip(edu);
}

static int unmap_revokes(struct edu *edu)
{
	dma_addr_t page_iova;
	u8 *bufs = alloc_pair(0x11);
	u8 *page;
	int ret;

	if (!bufs)
		return -ENOMEM;
	page = bufs + EDU_BUF_SIZE;
	/* The device reaches the page (its translation is now in the TLBs) */
	ret = copy_mapped(edu, bufs, page, 64, &page_iova);
	if (ret)
		goto out_free;
	/* ...and no longer once unmapped: the page keeps what it had */
	memset(page, 0xee, 64);
	msleep(EDU_EVENT_LOG_QUIET_MS);
	pr_info("edu-dma: fault expected at %pad\n", &page_iova);
	ret = edu_dma(edu, page_iova, 64, true);
	if (!ret && memchr_inv(page, 0xee, 64))
		ret = -EACCES;
out_free:
	kfree(bufs);
	return ret;
}

static int edu_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct iommu_domain *domain;
	struct edu *edu;
	int ret;

	edu = devm_kzalloc(&pdev->dev, sizeof(*edu), GFP_KERNEL);
	if (!edu)
		return -ENOMEM;
	edu->pdev = pdev;
	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	edu->regs = pcim_iomap_region(pdev, 0, "edu-dma");
	if (IS_ERR(edu->regs))
		return PTR_ERR(edu->regs);
	ret = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(EDU_DMA_BITS));
	if (ret)
		return ret;
	pci_set_master(pdev);
	domain = iommu_get_domain_for_dev(&pdev->dev);
	dev_info(&pdev->dev, "edu id 0x%08x, IOMMU domain type %u\n",
		 readl(edu->regs + EDU_ID), domain ? domain->type : 0);

	edu_run_case(edu, "round_trip", round_trip);
	edu_run_case(edu, "streaming", streaming);
	edu_run_case(edu, "unmapped_iova", unmapped_iova);
	edu_run_case(edu, "unmap_revokes", unmap_revokes);
	pr_info("edu-dma: %d failed\n", edu->failed);
	return 0;
}

static const struct pci_device_id edu_ids[] = {
	{ PCI_DEVICE(EDU_VENDOR, EDU_DEVICE) },
	{ }
};
MODULE_DEVICE_TABLE(pci, edu_ids);

static struct pci_driver edu_driver = {
	.name = "edu-dma",
	.id_table = edu_ids,
	.probe = edu_probe,
};
module_pci_driver(edu_driver);

MODULE_DESCRIPTION("DMA through QEMU's edu device, for the real-VMM stage");
MODULE_LICENSE("GPL");
