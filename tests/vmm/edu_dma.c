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
 *   unmap_cost     not a check but a figure: the median time of one
 *                  dma_unmap_single() of a page in strict mode, one TLBI and
 *                  one CMD_SYNC on the vSMMU, through a VCMDQ when the guest
 *                  has a CMDQV ("edu-dma: unmap median N ns over M")
 *   vcmdq_illegal  with a CMDQV (QEMU's cmdqv=on; without one it is not
 *                  run): a command its VINTF may not issue, put into its
 *                  idle second queue behind the SMMU driver's back as a
 *                  hostile guest could, stops that queue; the error comes
 *                  back through the host and QEMU as the CMDQV's interrupt,
 *                  the SMMU driver skips the command and the queue runs on;
 *                  a DMA works after
 *
 * For each DMA that must fault (unmapped_iova's and unmap_revokes's) it
 * prints "edu-dma: fault expected at IOVA" (16 hex digits, as the SMMU
 * driver prints an event's words); the stage looks for a translation fault
 * event at each in the log.
 * edu ignores commands while a DMA runs, so a timeout ends the cases.
 */
#include <linux/acpi.h>
#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/bitfield.h>
#include <linux/io.h>
#include <linux/iommu.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/sort.h>

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

#define EDU_UNMAP_ROUNDS	64

static int cmp_s64(const void *a, const void *b)
{
	s64 x = *(const s64 *)a, y = *(const s64 *)b;

	return x < y ? -1 : x > y;
}

/*
 * Under emulation the absolute figure means little; the stage compares it
 * between a guest with and one without a CMDQV on the same machine.
 */
static int unmap_cost(struct edu *edu)
{
	struct device *dev = &edu->pdev->dev;
	dma_addr_t iova;
	s64 *ns;
	ktime_t t;
	u8 *page;
	int i, ret = 0;

	page = kzalloc(EDU_BUF_SIZE, GFP_KERNEL);
	ns = kcalloc(EDU_UNMAP_ROUNDS, sizeof(*ns), GFP_KERNEL);
	if (!page || !ns) {
		ret = -ENOMEM;
		goto out_free;
	}
	for (i = 0; i < EDU_UNMAP_ROUNDS; i++) {
		iova = dma_map_single(dev, page, EDU_BUF_SIZE, DMA_FROM_DEVICE);
		ret = dma_mapping_error(dev, iova);
		if (ret)
			goto out_free;
		t = ktime_get();
		dma_unmap_single(dev, iova, EDU_BUF_SIZE, DMA_FROM_DEVICE);
		ns[i] = ktime_to_ns(ktime_sub(ktime_get(), t));
	}
	sort(ns, EDU_UNMAP_ROUNDS, sizeof(*ns), cmp_s64, NULL);
	pr_info("edu-dma: unmap median %lld ns over %d\n",
		ns[EDU_UNMAP_ROUNDS / 2], EDU_UNMAP_ROUNDS);
out_free:
	kfree(ns);
	kfree(page);
	return ret;
}

/*
 * The guest's CMDQV as QEMU lays it out: its VINTF's logical queue pages
 * 0 (CONS, PROD, GERROR...) and 1 (BASE); 0x80 bytes per queue.
 */
#define CMDQV_HID		"NVDA200C"
#define CMDQV_VINTF_PAGE0	0x30000
#define CMDQV_VINTF_PAGE1	0x40000
#define CMDQV_PAGE_SIZE		0x10000
#define VCMDQ(q)		(0x80 * (q))
#define VCMDQ_CONS		0x00
#define  VCMDQ_RD		GENMASK(19, 0)	/* index and wrap */
#define VCMDQ_PROD		0x04
#define VCMDQ_GERROR		0x10
#define VCMDQ_GERRORN		0x14
#define VCMDQ_BASE		0x00
#define  VCMDQ_ADDR		GENMASK_ULL(47, 5)
#define  VCMDQ_LOG2SIZE		GENMASK_ULL(4, 0)
/* The driver sends on queue (CPU % queues): one vCPU leaves queue 1 idle */
#define VCMDQ_IDLE		1
/* CFGI_ALL: a guest may not issue it */
#define CMD_CFGI_ALL		0x04
#define CMD_CFGI_ALL_SPAN	31
#define VCMDQ_RECOVER_MS	30000

static int cmdqv_mem(struct resource *res)
{
	struct resource_entry *entry;
	struct acpi_device *adev;
	LIST_HEAD(list);
	int ret;

	adev = acpi_dev_get_first_match_dev(CMDQV_HID, NULL, -1);
	if (!adev)
		return -ENODEV;
	ret = acpi_dev_get_memory_resources(adev, &list);
	if (ret > 0) {
		entry = list_first_entry(&list, struct resource_entry, node);
		*res = *entry->res;
		ret = 0;
	} else if (!ret) {
		ret = -ENXIO;
	}
	acpi_dev_free_resource_list(&list);
	acpi_dev_put(adev);
	return ret;
}

/* Put @w0/@w1 at the queue's PROD and ring it; the new PROD */
static int vcmdq_inject(void __iomem *page0, void __iomem *page1, u64 w0,
			u64 w1, u32 *new_prod)
{
	u64 base = readq(page1 + VCMDQ_BASE);
	unsigned int shift = FIELD_GET(VCMDQ_LOG2SIZE, base);
	u32 mask = (2U << shift) - 1;	/* index and wrap */
	u32 prod = readl(page0 + VCMDQ_PROD);
	__le64 *q;

	if (!(base & VCMDQ_ADDR) || (readl(page0 + VCMDQ_CONS) & mask) != (prod & mask))
		return -EBUSY;
	q = memremap(base & VCMDQ_ADDR, 16UL << shift, MEMREMAP_WB);
	if (!q)
		return -ENOMEM;
	q[2 * (prod & ((1U << shift) - 1))] = cpu_to_le64(w0);
	q[2 * (prod & ((1U << shift) - 1)) + 1] = cpu_to_le64(w1);
	memunmap(q);
	*new_prod = (prod & ~mask) | ((prod + 1) & mask);
	/* The command in memory before the doorbell */
	writel(*new_prod, page0 + VCMDQ_PROD);
	return 0;
}

static int vcmdq_illegal(struct edu *edu)
{
	void __iomem *page0, *page1;
	unsigned long timeout;
	struct resource res;
	u32 prod, cons;
	int ret;

	ret = cmdqv_mem(&res);
	if (ret)
		return ret;
	page0 = ioremap(res.start + CMDQV_VINTF_PAGE0 + VCMDQ(VCMDQ_IDLE), 0x80);
	page1 = ioremap(res.start + CMDQV_VINTF_PAGE1 + VCMDQ(VCMDQ_IDLE), 0x80);
	if (!page0 || !page1) {
		ret = -ENOMEM;
		goto out_unmap;
	}
	ret = vcmdq_inject(page0, page1, CMD_CFGI_ALL, CMD_CFGI_ALL_SPAN, &prod);
	if (ret)
		goto out_unmap;
	/* The SMMU driver's error handler moves CONS past it, acked */
	timeout = jiffies + msecs_to_jiffies(VCMDQ_RECOVER_MS);
	for (;;) {
		cons = readl(page0 + VCMDQ_CONS);
		if ((cons & VCMDQ_RD) == (prod & VCMDQ_RD) &&
		    readl(page0 + VCMDQ_GERROR) == readl(page0 + VCMDQ_GERRORN))
			break;
		if (time_after(jiffies, timeout)) {
			pr_info("edu-dma: the queue stayed stopped: CONS 0x%08x PROD 0x%08x GERROR 0x%x GERRORN 0x%x\n",
				cons, prod, readl(page0 + VCMDQ_GERROR),
				readl(page0 + VCMDQ_GERRORN));
			ret = -ETIMEDOUT;
			goto out_unmap;
		}
		msleep(20);
	}
	pr_info("edu-dma: the queue ran on past the illegal command (CONS 0x%08x)\n",
		cons);
	ret = round_trip(edu);
out_unmap:
	if (page1)
		iounmap(page1);
	if (page0)
		iounmap(page0);
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
	edu_run_case(edu, "unmap_cost", unmap_cost);
	if (acpi_dev_present(CMDQV_HID, NULL, -1))
		edu_run_case(edu, "vcmdq_illegal", vcmdq_illegal);
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
