// SPDX-License-Identifier: GPL-2.0-only
/*
 * smmu_nested: this program plays the VMM. It takes QEMU's edu device
 * (PCI 1234:11e8, behind the emulated SMMUv3) away from the host, hands it to
 * iommufd through its VFIO cdev, maps a buffer of "guest memory" and makes the
 * device DMA into it, checking that every byte lands where the IOVA says and
 * nowhere else.
 *
 * Fixtures, and what they need:
 *
 *   edu_s2        The device attached to a plain IOAS (one stage, the
 *                 kernel's own page table). Works on 6.12 as it is.
 *   iort          The IORT the kernel installed: variant "qemu" expects
 *                 QEMU's own table (CANWBS clear on every root complex),
 *                 variant "canwbs" the table harness/iort-canwbs.sh made and
 *                 put in the initrd (byte for byte, CANWBS set). Works on
 *                 6.12 as it is; each boot runs its own variant.
 *   smmu_hw_info  IOMMU_GET_HW_INFO of type ARM_SMMUV3.
 *   smmu_viommu   IOMMU_VIOMMU_ALLOC of type ARM_SMMUV3 on a nesting parent:
 *                 refused with EOPNOTSUPP without CANWBS (variant "qemu"),
 *                 allowed with it (variant "canwbs").
 *   smmu_nested   A guest stage 1 (CD table, 4 KiB-granule LPAE tables) in
 *                 the guest memory, nested on the IOAS as stage 2 through a
 *                 vIOMMU and a vDEVICE; invalidations through the vIOMMU;
 *                 abort and bypass vSTEs. Needs the CANWBS boot.
 *
 * The last three test the SMMUv3 nesting patches of the series (hw_info,
 * NEST_PARENT, vSMMU, nested HWPTs, invalidation); harness/run.sh runs
 * smmu_viommu.qemu in the first boot and the rest in the CANWBS boot. They
 * are written against mainline's uAPI: the copies below (e2e_ names) have
 * mainline's layout and numbers, so the program also runs against a
 * mainline kernel, whatever uAPI headers it was built with.
 *
 * The edu device: BAR0 registers 0x80 DMA source, 0x88 destination, 0x90
 * count, 0x98 command (bit 0 start/busy, bit 1 edu to RAM); its buffer is
 * 4 KiB at 0x40000 in its own address space; bus addresses are masked to
 * 28 bits, so every IOVA here is below 256 MiB. A transfer takes 100 ms of
 * QEMU's virtual clock; the program polls, it uses no interrupt.
 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "kselftest_harness.h"

#define EDU_VENDOR		0x1234
#define EDU_DEVICE		0x11e8
#define EDU_ID			0x00
#define EDU_ID_VALUE		0x010000ed
#define EDU_DMA_SRC		0x80
#define EDU_DMA_DST		0x88
#define EDU_DMA_CNT		0x90
#define EDU_DMA_CMD		0x98
#define EDU_DMA_RUN		0x1
#define EDU_DMA_TO_RAM		0x2
#define EDU_BUF			0x40000
#define EDU_BUF_SIZE		0x1000
#define EDU_DMA_TIMEOUT_MS	10000

#define PCI_CMD_OFFSET		0x04
#define PCI_CMD_MEMORY		0x2
#define PCI_CMD_MASTER		0x4

#define SZ_4K			0x1000UL
#define SZ_1M			0x100000UL

/*
 * The guest memory: 4 MiB at IOVA (IPA) 64 MiB, below edu's 28-bit limit
 * and clear of the SMMU's software MSI window (0x8000000-0x80fffff).
 */
#define GMEM_IOVA		0x4000000UL
#define GMEM_SIZE		(4 * SZ_1M)

/* One page mapped on its own, to be unmapped under a test */
#define LONE_IOVA		(GMEM_IOVA + GMEM_SIZE + SZ_1M)

/*
 * The edu device's virtual Stream ID. Its physical one is its requester ID
 * (0x8 at 0000:00:01.0 on the harness's QEMU); different on purpose, so only
 * a translated SID reaches it.
 */
#define VSID			0x42

/* SMMUv3 uAPI, mainline's include/uapi/linux/iommufd.h */
#define E2E_HWPT_DATA_ARM_SMMUV3		2
#define E2E_HW_INFO_TYPE_ARM_SMMUV3		2
#define E2E_HW_INFO_TYPE_TEGRA241_CMDQV		3
#define E2E_VIOMMU_TYPE_ARM_SMMUV3		1
#define E2E_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3	1

/* Tegra241 CMDQV uAPI, the same header: types QEMU has no hardware for */
#define E2E_VIOMMU_TYPE_TEGRA241_CMDQV		2
#define E2E_HW_QUEUE_TYPE_TEGRA241_CMDQV	1

struct e2e_viommu_tegra241_cmdqv {
	__u64 out_vintf_mmap_offset;
	__u64 out_vintf_mmap_length;
};

struct e2e_hwpt_arm_smmuv3 {
	__u64 ste[2];		/* little endian */
};

struct e2e_viommu_arm_smmuv3_invalidate {
	__u64 cmd[2];		/* little endian */
};

struct e2e_hw_info_arm_smmuv3 {
	__u32 flags;
	__u32 __reserved;
	__u32 idr[6];
	__u32 iidr;
	__u32 aidr;
};

/* SMMUv3 architecture: STE, CD, commands (mainline's arm-smmu-v3.h) */
#define STE0_V			(1ULL << 0)
#define STE0_CFG_SHIFT		1
#define STE0_CFG_ABORT		0ULL
#define STE0_CFG_BYPASS		4ULL
#define STE0_CFG_S1_TRANS	5ULL
#define STE0_S1FMT_LINEAR	(0ULL << 4)
#define STE0_S1CTXPTR_MASK	0x000ffffffffffc0ULL	/* bits 51:6 */
#define STE1_S1CIR_WBRA		(1ULL << 2)
#define STE1_S1COR_WBRA		(1ULL << 4)
#define STE1_S1CSH_ISH		(3ULL << 6)

#define CD0_T0SZ(x)		((__u64)(x) << 0)
#define CD0_TG0_4K		(0ULL << 6)
#define CD0_IRGN0_WBWA		(1ULL << 8)
#define CD0_ORGN0_WBWA		(1ULL << 10)
#define CD0_SH0_ISH		(3ULL << 12)
#define CD0_EPD1		(1ULL << 30)
#define CD0_V			(1ULL << 31)
#define CD0_IPS_40BIT		(2ULL << 32)
#define CD0_AA64		(1ULL << 41)
#define CD0_R			(1ULL << 45)
#define CD0_A			(1ULL << 46)
#define CD0_ASET		(1ULL << 47)
#define CD0_ASID(x)		((__u64)(x) << 48)
#define CD1_TTB0_MASK		0x000ffffffffffff0ULL	/* bits 51:4 */
#define CD_SIZE			64

#define CMD_CFGI_CD		0x05
#define CMD_TLBI_NH_ASID	0x11
#define CMD_TLBI_NH_VA		0x12
#define CMD_CFGI_ALL		0x04	/* not allowed through a vIOMMU */
#define CMD0_SID(x)		((__u64)(x) << 32)
#define CMD0_ASID(x)		((__u64)(x) << 48)
#define CMD1_LEAF		(1ULL << 0)
#define CMD1_VA_MASK		(~0xfffULL)

/*
 * VMSAv8-64 stage-1 descriptors, 4 KiB granule. MAIR index 0 is normal
 * write-back memory, the attribute io-pgtable gives cacheable DMA.
 */
#define PTE_TABLE		0x3ULL
#define PTE_PAGE		0x3ULL
#define PTE_ATTRIDX(x)		((__u64)(x) << 2)
#define PTE_AP_UNPRIV		(1ULL << 6)
#define PTE_SH_ISH		(3ULL << 8)
#define PTE_AF			(1ULL << 10)
#define PTE_NG			(1ULL << 11)
#define PTE_ADDR_MASK		0x0000fffffffff000ULL
#define S1_MAIR			0xffULL
#define S1_T0SZ			25	/* 39-bit IOVA: walk starts at level 1 */

/* IORT (ACPI): header, node array, root complex nodes */
#define IORT_PATH		"/sys/firmware/acpi/tables/IORT"
#define IORT_UPGRADE_PATH	"/kernel/firmware/acpi/IORT.aml"
#define ACPI_HDR_LEN		4
#define ACPI_HDR_CHECKSUM	9
#define ACPI_HDR_OEM_REV	24
#define IORT_NODE_COUNT		36
#define IORT_NODE_OFFSET	40
#define IORT_NODE_TYPE_RC	2
#define IORT_RC_MEMORY_FLAGS	23
#define IORT_MF_CANWBS		0x04

/* The edu device, bound to vfio-pci and to an iommufd */
struct edu {
	char bdf[32];
	int cdev;
	int iommufd;
	__u32 dev_id;
	volatile __u8 *bar;
	size_t bar_size;
};

/* Guest memory: user memory mapped in the IOAS at a fixed IOVA (IPA) */
struct gmem {
	__u8 *va;
	__u64 iova;
	size_t size;
	__u8 *expect;		/* what the memory must hold */
};

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* 0 or -errno, with a note naming what failed */
static int sysfs_write(const char *path, const char *val)
{
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY);
	if (fd < 0) {
		note("open %s: %s", path, strerror(errno));
		return -errno;
	}
	n = write(fd, val, strlen(val));
	if (n != (ssize_t)strlen(val)) {
		int err = n < 0 ? errno : EIO;

		note("write '%s' to %s: %s", val, path, strerror(err));
		close(fd);
		return -err;
	}
	close(fd);
	return 0;
}

static int sysfs_read_hex(const char *dir, const char *name, unsigned long *val)
{
	char path[PATH_MAX], buf[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	*val = strtoul(buf, NULL, 16);
	return 0;
}

/*
 * The PCI address of the first edu device: the lowest address, whatever order
 * sysfs lists them in (the harness's QEMU has two)
 */
static int edu_find(char *bdf, size_t len)
{
	const char *root = "/sys/bus/pci/devices";
	struct dirent *de;
	int ret = -ENODEV;
	DIR *dir;

	dir = opendir(root);
	if (!dir) {
		note("opendir %s: %s", root, strerror(errno));
		return -errno;
	}
	while ((de = readdir(dir))) {
		unsigned long vendor, device;
		char path[PATH_MAX];

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", root, de->d_name);
		if (sysfs_read_hex(path, "vendor", &vendor) ||
		    sysfs_read_hex(path, "device", &device))
			continue;
		if (vendor == EDU_VENDOR && device == EDU_DEVICE &&
		    strlen(de->d_name) < len &&
		    (ret || strcmp(de->d_name, bdf) < 0)) {
			memcpy(bdf, de->d_name, strlen(de->d_name) + 1);
			ret = 0;
		}
	}
	closedir(dir);
	if (ret)
		note("no PCI device %04x:%04x (QEMU's edu)", EDU_VENDOR,
		     EDU_DEVICE);
	return ret;
}

/* The name of the driver bound to @bdf, "" if none */
static void pci_driver(const char *bdf, char *drv, size_t len)
{
	char path[PATH_MAX], link[PATH_MAX];
	const char *name;
	ssize_t n;

	drv[0] = '\0';
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return;
	link[n] = '\0';
	name = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
	if (strlen(name) < len)
		memcpy(drv, name, strlen(name) + 1);
}

static int edu_bind_vfio_pci(const char *bdf)
{
	char path[PATH_MAX], drv[64];
	int ret;

	pci_driver(bdf, drv, sizeof(drv));
	if (!strcmp(drv, "vfio-pci"))
		return 0;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override",
		 bdf);
	ret = sysfs_write(path, "vfio-pci");
	if (ret)
		return ret;
	if (drv[0]) {
		snprintf(path, sizeof(path),
			 "/sys/bus/pci/devices/%s/driver/unbind", bdf);
		ret = sysfs_write(path, bdf);
		if (ret)
			return ret;
	}
	ret = sysfs_write("/sys/bus/pci/drivers_probe", bdf);
	if (ret)
		return ret;
	pci_driver(bdf, drv, sizeof(drv));
	if (strcmp(drv, "vfio-pci")) {
		note("%s: bound to '%s' after drivers_probe, not vfio-pci", bdf,
		     drv);
		return -ENODEV;
	}
	return 0;
}

/* Open the VFIO cdev of @bdf: /dev/vfio/devices/vfioN */
static int edu_open_cdev(const char *bdf)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *dir;
	int fd = -ENOENT;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	dir = opendir(path);
	if (!dir) {
		note("opendir %s: %s (no VFIO cdev?)", path, strerror(errno));
		return -errno;
	}
	while ((de = readdir(dir))) {
		if (strncmp(de->d_name, "vfio", 4))
			continue;
		snprintf(path, sizeof(path), "/dev/vfio/devices/%s", de->d_name);
		fd = open(path, O_RDWR);
		if (fd < 0) {
			fd = -errno;
			note("open %s: %s", path, strerror(errno));
		}
		break;
	}
	closedir(dir);
	return fd;
}

/* Find edu, give it to vfio-pci, open its cdev and bind it to an iommufd */
static int edu_open(struct edu *edu)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	int ret;

	memset(edu, 0, sizeof(*edu));
	edu->cdev = -1;
	edu->iommufd = -1;
	ret = edu_find(edu->bdf, sizeof(edu->bdf));
	if (ret)
		return ret;
	ret = edu_bind_vfio_pci(edu->bdf);
	if (ret)
		return ret;
	edu->cdev = edu_open_cdev(edu->bdf);
	if (edu->cdev < 0)
		return edu->cdev;
	edu->iommufd = open("/dev/iommu", O_RDWR);
	if (edu->iommufd < 0) {
		note("open /dev/iommu: %s", strerror(errno));
		return -errno;
	}
	bind.iommufd = edu->iommufd;
	if (ioctl(edu->cdev, VFIO_DEVICE_BIND_IOMMUFD, &bind)) {
		note("VFIO_DEVICE_BIND_IOMMUFD: %s", strerror(errno));
		return -errno;
	}
	edu->dev_id = bind.out_devid;
	return 0;
}

/*
 * After the device is attached: memory decoding and bus mastering on, BAR0
 * mapped, and the device answers with its ID.
 */
static int edu_enable(struct edu *edu)
{
	struct vfio_region_info cfg = {
		.argsz = sizeof(cfg),
		.index = VFIO_PCI_CONFIG_REGION_INDEX,
	};
	struct vfio_region_info bar = {
		.argsz = sizeof(bar),
		.index = VFIO_PCI_BAR0_REGION_INDEX,
	};
	__u16 cmd;
	__u32 id;
	void *va;

	if (ioctl(edu->cdev, VFIO_DEVICE_GET_REGION_INFO, &cfg)) {
		note("VFIO_DEVICE_GET_REGION_INFO (config): %s", strerror(errno));
		return -errno;
	}
	if (pread(edu->cdev, &cmd, sizeof(cmd), cfg.offset + PCI_CMD_OFFSET) !=
	    sizeof(cmd)) {
		note("read PCI_COMMAND: %s", strerror(errno));
		return -EIO;
	}
	cmd |= PCI_CMD_MEMORY | PCI_CMD_MASTER;
	if (pwrite(edu->cdev, &cmd, sizeof(cmd), cfg.offset + PCI_CMD_OFFSET) !=
	    sizeof(cmd)) {
		note("write PCI_COMMAND: %s", strerror(errno));
		return -EIO;
	}
	if (ioctl(edu->cdev, VFIO_DEVICE_GET_REGION_INFO, &bar)) {
		note("VFIO_DEVICE_GET_REGION_INFO (BAR0): %s", strerror(errno));
		return -errno;
	}
	if (!(bar.flags & VFIO_REGION_INFO_FLAG_MMAP) || bar.size < SZ_4K) {
		note("BAR0: flags 0x%x size 0x%llx: cannot mmap", bar.flags,
		     (unsigned long long)bar.size);
		return -EINVAL;
	}
	va = mmap(NULL, bar.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		  edu->cdev, bar.offset);
	if (va == MAP_FAILED) {
		note("mmap BAR0: %s", strerror(errno));
		return -errno;
	}
	edu->bar = va;
	edu->bar_size = bar.size;
	id = *(volatile __u32 *)(edu->bar + EDU_ID);
	if (id != EDU_ID_VALUE) {
		note("edu ID register reads 0x%08x, not 0x%08x", id,
		     EDU_ID_VALUE);
		return -EIO;
	}
	return 0;
}

static void edu_close(struct edu *edu)
{
	if (edu->bar)
		munmap((void *)edu->bar, edu->bar_size);
	/* Closing the cdev unbinds the device from the iommufd */
	if (edu->cdev >= 0)
		close(edu->cdev);
	if (edu->iommufd >= 0)
		close(edu->iommufd);
}

static void edu_write64(struct edu *edu, unsigned int reg, __u64 val)
{
	*(volatile __u64 *)(edu->bar + reg) = val;
}

static __u64 edu_read64(struct edu *edu, unsigned int reg)
{
	return *(volatile __u64 *)(edu->bar + reg);
}

static long elapsed_ms(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1000 +
	       (now.tv_nsec - start->tv_nsec) / 1000000;
}

/*
 * One edu DMA of @len bytes between bus address @iova and edu's buffer at
 * offset @off; waits for the device to finish. 0 or -ETIMEDOUT.
 */
static int edu_dma(struct edu *edu, __u64 iova, unsigned int off,
		   unsigned int len, bool to_ram)
{
	struct timespec start;

	if (off + len > EDU_BUF_SIZE)
		return -EINVAL;
	__sync_synchronize();
	if (to_ram) {
		edu_write64(edu, EDU_DMA_SRC, EDU_BUF + off);
		edu_write64(edu, EDU_DMA_DST, iova);
	} else {
		edu_write64(edu, EDU_DMA_SRC, iova);
		edu_write64(edu, EDU_DMA_DST, EDU_BUF + off);
	}
	edu_write64(edu, EDU_DMA_CNT, len);
	edu_write64(edu, EDU_DMA_CMD, EDU_DMA_RUN | (to_ram ? EDU_DMA_TO_RAM : 0));
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (edu_read64(edu, EDU_DMA_CMD) & EDU_DMA_RUN) {
		if (elapsed_ms(&start) > EDU_DMA_TIMEOUT_MS) {
			note("edu DMA (%s, iova 0x%llx) still running after %d ms",
			     to_ram ? "to RAM" : "from RAM",
			     (unsigned long long)iova, EDU_DMA_TIMEOUT_MS);
			return -ETIMEDOUT;
		}
		usleep(1000);
	}
	__sync_synchronize();
	return 0;
}

/* A byte pattern that differs with the address, so misplaced data shows */
static void fill_pattern(__u8 *p, size_t len, __u32 seed)
{
	__u32 x = seed | 1;
	size_t i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = x;
	}
}

static int gmem_alloc(struct gmem *mem, __u64 iova, size_t size)
{
	mem->va = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (mem->va == MAP_FAILED) {
		mem->va = NULL;
		return -errno;
	}
	mem->expect = malloc(size);
	if (!mem->expect)
		return -ENOMEM;
	mem->iova = iova;
	mem->size = size;
	fill_pattern(mem->va, size, 0x5eed);
	memcpy(mem->expect, mem->va, size);
	return 0;
}

static void gmem_free(struct gmem *mem)
{
	if (mem->va)
		munmap(mem->va, mem->size);
	free(mem->expect);
}

/* The guest memory changed as the test expects: every byte, -1 if so */
static long gmem_first_diff(const struct gmem *mem)
{
	size_t i;

	for (i = 0; i < mem->size; i++)
		if (mem->va[i] != mem->expect[i])
			return i;
	return -1;
}

/* The test itself writes @len bytes at @off: memory and expectation */
static void gmem_set(struct gmem *mem, size_t off, const void *src, size_t len)
{
	memcpy(mem->va + off, src, len);
	memcpy(mem->expect + off, src, len);
}

static int ioas_alloc(int iommufd, __u32 *ioas_id)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };

	if (ioctl(iommufd, IOMMU_IOAS_ALLOC, &cmd)) {
		note("IOMMU_IOAS_ALLOC: %s", strerror(errno));
		return -errno;
	}
	*ioas_id = cmd.out_ioas_id;
	return 0;
}

static int ioas_map(int iommufd, __u32 ioas_id, void *va, size_t len,
		    __u64 iova)
{
	struct iommu_ioas_map cmd = {
		.size = sizeof(cmd),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = ioas_id,
		.user_va = (uintptr_t)va,
		.length = len,
		.iova = iova,
	};

	if (ioctl(iommufd, IOMMU_IOAS_MAP, &cmd)) {
		note("IOMMU_IOAS_MAP 0x%llx+0x%zx: %s",
		     (unsigned long long)iova, len, strerror(errno));
		return -errno;
	}
	return 0;
}

static int ioas_unmap(int iommufd, __u32 ioas_id, __u64 iova, size_t len)
{
	struct iommu_ioas_unmap cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
		.iova = iova,
		.length = len,
	};

	if (ioctl(iommufd, IOMMU_IOAS_UNMAP, &cmd)) {
		note("IOMMU_IOAS_UNMAP 0x%llx+0x%zx: %s",
		     (unsigned long long)iova, len, strerror(errno));
		return -errno;
	}
	return 0;
}

/* Attach the device to an IOAS or HWPT; the HWPT it ended up on in *out */
static int vfio_attach(struct edu *edu, __u32 pt_id, __u32 *out)
{
	struct vfio_device_attach_iommufd_pt cmd = {
		.argsz = sizeof(cmd),
		.pt_id = pt_id,
	};

	if (ioctl(edu->cdev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &cmd)) {
		note("VFIO_DEVICE_ATTACH_IOMMUFD_PT %u: %s", pt_id,
		     strerror(errno));
		return -errno;
	}
	if (out)
		*out = cmd.pt_id;
	return 0;
}

static int hwpt_alloc(struct edu *edu, __u32 pt_id, __u32 flags,
		      __u32 data_type, void *data, __u32 data_len, __u32 *out)
{
	struct iommu_hwpt_alloc cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.dev_id = edu->dev_id,
		.pt_id = pt_id,
		.data_type = data_type,
		.data_len = data_len,
		.data_uptr = (uintptr_t)data,
	};

	if (ioctl(edu->iommufd, IOMMU_HWPT_ALLOC, &cmd))
		return -errno;
	*out = cmd.out_hwpt_id;
	return 0;
}

static int viommu_alloc(struct edu *edu, __u32 hwpt_id, __u32 type, __u32 *out)
{
	struct iommu_viommu_alloc cmd = {
		.size = sizeof(cmd),
		.type = type,
		.dev_id = edu->dev_id,
		.hwpt_id = hwpt_id,
	};

	if (ioctl(edu->iommufd, IOMMU_VIOMMU_ALLOC, &cmd))
		return -errno;
	*out = cmd.out_viommu_id;
	return 0;
}

static int vdevice_alloc(struct edu *edu, __u32 viommu_id, __u64 virt_id,
			 __u32 *out)
{
	struct iommu_vdevice_alloc cmd = {
		.size = sizeof(cmd),
		.viommu_id = viommu_id,
		.dev_id = edu->dev_id,
		.virt_id = virt_id,
	};

	if (ioctl(edu->iommufd, IOMMU_VDEVICE_ALLOC, &cmd))
		return -errno;
	*out = cmd.out_vdevice_id;
	return 0;
}

static int iommufd_destroy(int iommufd, __u32 id)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };

	return ioctl(iommufd, IOMMU_DESTROY, &cmd) ? -errno : 0;
}

/*
 * Invalidate through the vIOMMU: @n 16-byte SMMUv3 commands. The number the
 * kernel handled in *done.
 */
static int viommu_invalidate(struct edu *edu, __u32 viommu_id,
			     struct e2e_viommu_arm_smmuv3_invalidate *cmds,
			     __u32 n, __u32 *done)
{
	struct iommu_hwpt_invalidate cmd = {
		.size = sizeof(cmd),
		.hwpt_id = viommu_id,
		.data_uptr = (uintptr_t)cmds,
		.data_type = E2E_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
		.entry_len = sizeof(*cmds),
		.entry_num = n,
	};
	int ret;

	ret = ioctl(edu->iommufd, IOMMU_HWPT_INVALIDATE, &cmd) ? -errno : 0;
	*done = cmd.entry_num;
	return ret;
}

static int edu_find_nth(unsigned int nth, char *bdf, size_t len);

/*
 * probe: the host capability probe (probe/cmdqv-probe.c), run first, as an
 * admin would, with both edus given to vfio-pci: what it reports for QEMU's
 * SMMUv3 without and with CANWBS, and one line and its exit status for each
 * host where there is nothing to ask.
 */
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
};

FIXTURE_VARIANT(probe) {
	bool canwbs;
};

FIXTURE_VARIANT_ADD(probe, qemu) {
	.canwbs = false,
};

FIXTURE_VARIANT_ADD(probe, canwbs) {
	.canwbs = true,
};

FIXTURE_SETUP(probe)
{
	char bdf[32];
	unsigned int i;

	for (i = 0; i != 2; i++) {
		ASSERT_EQ(0, edu_find_nth(i, bdf, sizeof(bdf)));
		ASSERT_EQ(0, edu_bind_vfio_pci(bdf));
	}
}

FIXTURE_TEARDOWN(probe)
{
}

/* Both edus, each behind QEMU's SMMUv3; a vSMMU only with CANWBS; no CMDQV */
TEST_F(probe, report)
{
	int want = variant->canwbs ? 0 : 1;

	ASSERT_EQ(want, probe_run(self->out, sizeof(self->out), 0, "--json",
				  NULL, NULL));
	TH_LOG("%s", self->out);
	ASSERT_EQ(1, count_of(self->out, "\"device\": \"0000:00:01.0\""));
	ASSERT_EQ(1, count_of(self->out, "\"device\": \"0000:00:02.0\""));
	ASSERT_EQ(2, count_of(self->out, "\"nesting\": true"));
	ASSERT_EQ(2, count_of(self->out, "\"cmdqv\": null"));
	ASSERT_EQ(variant->canwbs ? 2 : 0,
		  count_of(self->out, "\"accel_vsmmu\": true"));
	ASSERT_EQ(variant->canwbs ? 0 : 2,
		  count_of(self->out, "the root complex is not CANWBS"));

	/* The same, for people: one line per device */
	ASSERT_EQ(want, probe_run(self->out, sizeof(self->out), 0, NULL, NULL,
				  NULL));
	ASSERT_EQ(2, count_of(self->out, "\n"));
	ASSERT_EQ(2, count_of(self->out, "; no CMDQV"));
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

/*
 * edu_s2: the device on a plain IOAS. DMAs go through the kernel's own page
 * table for the IOAS; a DMA outside the mapped IOVAs must go nowhere.
 */
FIXTURE(edu_s2) {
	struct edu edu;
	struct gmem mem;
	__u32 ioas_id;
	__u32 hwpt_id;
};

FIXTURE_SETUP(edu_s2)
{
	ASSERT_EQ(0, edu_open(&self->edu));
	ASSERT_EQ(0, gmem_alloc(&self->mem, GMEM_IOVA, GMEM_SIZE));
	ASSERT_EQ(0, ioas_alloc(self->edu.iommufd, &self->ioas_id));
	ASSERT_EQ(0, ioas_map(self->edu.iommufd, self->ioas_id, self->mem.va,
			      self->mem.size, self->mem.iova));
	ASSERT_EQ(0, vfio_attach(&self->edu, self->ioas_id, &self->hwpt_id));
	/* The kernel made a HWPT for the IOAS: a new ID, not the IOAS's */
	ASSERT_NE(self->ioas_id, self->hwpt_id);
	ASSERT_EQ(0, edu_enable(&self->edu));
}

FIXTURE_TEARDOWN(edu_s2)
{
	edu_close(&self->edu);
	gmem_free(&self->mem);
}

/*
 * Copy @len bytes within the guest memory through edu's buffer: RAM to edu
 * at @src, edu to RAM at @dst (offsets in the guest memory).
 */
static int edu_copy(struct edu *edu, struct gmem *mem, size_t src, size_t dst,
		    unsigned int len)
{
	int ret;

	ret = edu_dma(edu, mem->iova + src, 0, len, false);
	if (ret)
		return ret;
	ret = edu_dma(edu, mem->iova + dst, 0, len, true);
	if (ret)
		return ret;
	memcpy(mem->expect + dst, mem->expect + src, len);
	return 0;
}

static void report_diff(const struct gmem *mem, long off)
{
	if (off < 0)
		return;
	note("guest memory differs at offset 0x%lx (IOVA 0x%llx): 0x%02x, expected 0x%02x",
	     off, (unsigned long long)(mem->iova + off), mem->va[off],
	     mem->expect[off]);
}

#define ASSERT_GMEM(mem) do {						\
		const struct gmem *__mem = (mem);			\
		long __off = gmem_first_diff(__mem);			\
									\
		report_diff(__mem, __off);				\
		ASSERT_EQ(-1, __off);					\
	} while (0)

/* Both directions, a full edu buffer, across page boundaries both ways */
TEST_F(edu_s2, round_trip)
{
	__u8 data[EDU_BUF_SIZE];

	fill_pattern(data, sizeof(data), 0xda7a);
	gmem_set(&self->mem, 0x1800, data, sizeof(data));
	ASSERT_EQ(0, edu_copy(&self->edu, &self->mem, 0x1800, 0x201234,
			      EDU_BUF_SIZE));
	ASSERT_GMEM(&self->mem);
	ASSERT_EQ(0, memcmp(self->mem.va + 0x201234, data, sizeof(data)));
}

/* Short transfers at both ends of the mapped IOVA range */
TEST_F(edu_s2, range_edges)
{
	size_t last = self->mem.size - 64;

	ASSERT_EQ(0, edu_copy(&self->edu, &self->mem, 0, last, 64));
	ASSERT_EQ(0, edu_copy(&self->edu, &self->mem, last - 4096, 0, 1));
	ASSERT_GMEM(&self->mem);
}

/*
 * A DMA to IOVAs the IOAS does not map (just past the guest memory, and
 * just before it) lands nowhere in the guest memory, and the device still
 * works afterwards.
 */
TEST_F(edu_s2, unmapped_iova)
{
	__u8 data[256];

	fill_pattern(data, sizeof(data), 0xbad);
	gmem_set(&self->mem, 0x3000, data, sizeof(data));
	ASSERT_EQ(0, edu_dma(&self->edu, self->mem.iova + 0x3000, 0,
			     sizeof(data), false));
	ASSERT_EQ(0, edu_dma(&self->edu, self->mem.iova + self->mem.size, 0,
			     sizeof(data), true));
	ASSERT_EQ(0, edu_dma(&self->edu, self->mem.iova - SZ_4K, 0,
			     sizeof(data), true));
	ASSERT_GMEM(&self->mem);
	ASSERT_EQ(0, edu_copy(&self->edu, &self->mem, 0x3000, 0x5000,
			      sizeof(data)));
	ASSERT_GMEM(&self->mem);
}

/*
 * IOAS_UNMAP takes effect for the device at once: a page it reached a
 * moment ago (its translation cached by the SMMU) is out of its reach.
 */
TEST_F(edu_s2, unmap_revokes)
{
	__u8 first[128], second[128];
	__u8 *page;

	page = mmap(NULL, SZ_4K, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, page);
	memset(page, 0xee, SZ_4K);
	ASSERT_EQ(0, ioas_map(self->edu.iommufd, self->ioas_id, page, SZ_4K,
			      LONE_IOVA));

	fill_pattern(first, sizeof(first), 1);
	fill_pattern(second, sizeof(second), 2);
	gmem_set(&self->mem, 0x7000, first, sizeof(first));
	gmem_set(&self->mem, 0x8000, second, sizeof(second));
	ASSERT_EQ(0, edu_dma(&self->edu, self->mem.iova + 0x7000, 0,
			     sizeof(first), false));
	ASSERT_EQ(0, edu_dma(&self->edu, LONE_IOVA + 0x80, 0, sizeof(first),
			     true));
	ASSERT_EQ(0, memcmp(page + 0x80, first, sizeof(first)));

	ASSERT_EQ(0, ioas_unmap(self->edu.iommufd, self->ioas_id, LONE_IOVA,
				SZ_4K));
	ASSERT_EQ(0, edu_dma(&self->edu, self->mem.iova + 0x8000, 0,
			     sizeof(second), false));
	ASSERT_EQ(0, edu_dma(&self->edu, LONE_IOVA + 0x80, 0, sizeof(second),
			     true));
	ASSERT_EQ(0, memcmp(page + 0x80, first, sizeof(first)));
	ASSERT_GMEM(&self->mem);
	munmap(page, SZ_4K);
}

/*
 * iort: the IORT the kernel runs with. Read through sysfs, which shows the
 * table the ACPI core installed (after any initrd upgrade), the one the IORT
 * code reads the CANWBS flag from.
 */
FIXTURE(iort) {
	__u8 *table;
	size_t len;
};

FIXTURE_VARIANT(iort) {
	bool canwbs;
};

/* QEMU's own table: CANWBS clear, no upgrade in the initrd */
FIXTURE_VARIANT_ADD(iort, qemu) {
	.canwbs = false,
};

/* The CANWBS boot: harness/iort-canwbs.sh's table, from the initrd */
FIXTURE_VARIANT_ADD(iort, canwbs) {
	.canwbs = true,
};

static int read_file(const char *path, __u8 **buf, size_t *len)
{
	size_t cap = 0, n = 0;
	ssize_t r;
	int fd;

	*buf = NULL;
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	do {
		if (n == cap) {
			__u8 *p = realloc(*buf, cap += 4096);

			if (!p) {
				close(fd);
				return -ENOMEM;
			}
			*buf = p;
		}
		r = read(fd, *buf + n, cap - n);
		if (r > 0)
			n += r;
	} while (r > 0);
	close(fd);
	*len = n;
	return r < 0 ? -errno : 0;
}

static __u32 get_le32(const __u8 *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (__u32)p[3] << 24;
}

FIXTURE_SETUP(iort)
{
	__u8 sum = 0;
	size_t i;

	ASSERT_EQ(0, read_file(IORT_PATH, &self->table, &self->len))
		TH_LOG("cannot read %s: no ACPI boot?", IORT_PATH);
	ASSERT_LE(48, self->len);
	ASSERT_EQ(0, memcmp(self->table, "IORT", 4));
	ASSERT_EQ(self->len, get_le32(self->table + ACPI_HDR_LEN));
	for (i = 0; i < self->len; i++)
		sum += self->table[i];
	ASSERT_EQ(0, sum);
}

FIXTURE_TEARDOWN(iort)
{
	free(self->table);
}

/*
 * Every PCI root complex node has CANWBS as the variant says, and the table
 * is QEMU's or, in the CANWBS boot, exactly the one from the initrd.
 */
TEST_F(iort, memory_flags)
{
	__u32 count = get_le32(self->table + IORT_NODE_COUNT);
	size_t off = get_le32(self->table + IORT_NODE_OFFSET);
	__u32 oem_rev = get_le32(self->table + ACPI_HDR_OEM_REV);
	unsigned int rc = 0, canwbs = 0, i;
	struct stat st;
	__u8 *upgrade;
	size_t len;

	for (i = 0; i < count; i++) {
		__u16 node_len;

		ASSERT_LE(off + 16, self->len);
		node_len = self->table[off + 1] | self->table[off + 2] << 8;
		ASSERT_LE(16, node_len);
		ASSERT_LE(off + node_len, self->len);
		if (self->table[off] == IORT_NODE_TYPE_RC) {
			ASSERT_LE(IORT_RC_MEMORY_FLAGS + 1, node_len);
			rc++;
			if (self->table[off + IORT_RC_MEMORY_FLAGS] &
			    IORT_MF_CANWBS)
				canwbs++;
		}
		off += node_len;
	}
	note("IORT: %zu bytes, OEM revision %u, %u root complex node(s), %u with CANWBS",
	     self->len, oem_rev, rc, canwbs);
	ASSERT_LE(1, rc);

	if (!variant->canwbs) {
		ASSERT_EQ(0, canwbs);
		ASSERT_NE(0, stat(IORT_UPGRADE_PATH, &st))
			TH_LOG("%s is in the initrd of the QEMU-table boot",
			       IORT_UPGRADE_PATH);
		return;
	}
	ASSERT_EQ(rc, canwbs);
	/* QEMU's tables carry OEM revision 1; an upgrade must be above it */
	ASSERT_LT(1, oem_rev);
	ASSERT_EQ(0, read_file(IORT_UPGRADE_PATH, &upgrade, &len))
		TH_LOG("no %s in the initrd", IORT_UPGRADE_PATH);
	ASSERT_EQ(self->len, len);
	ASSERT_EQ(0, memcmp(self->table, upgrade, len))
		TH_LOG("the kernel runs with an IORT other than the initrd's");
	free(upgrade);
}

/* The SMMUv3 nesting cases (see the top of the file) */

/* IOMMU_GET_HW_INFO reports the SMMU's registers, as mainline does */
FIXTURE(smmu_hw_info) {
	struct edu edu;
};

FIXTURE_SETUP(smmu_hw_info)
{
	ASSERT_EQ(0, edu_open(&self->edu));
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
	bool canwbs;
};

FIXTURE_VARIANT_ADD(smmu_viommu, qemu) {
	.canwbs = false,
};

FIXTURE_VARIANT_ADD(smmu_viommu, canwbs) {
	.canwbs = true,
};

FIXTURE_SETUP(smmu_viommu)
{
	ASSERT_EQ(0, edu_open(&self->edu));
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
 * A vSMMU on the fixture's nesting parent: allocated where the boot allows
 * one (CANWBS); where it does not, the refusal is checked and there is none.
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
 * the queue memory is not left pinned.
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

	/* Without CANWBS (boot 1) there is no vSMMU to ask */
	if (!smmu_viommu_vsmmu(_metadata, self, variant, &viommu_id))
		return;
	cmd.viommu_id = viommu_id;
	ASSERT_EQ(-1, ioctl(self->edu.iommufd, IOMMU_HW_QUEUE_ALLOC, &cmd));
	ASSERT_EQ(EOPNOTSUPP, errno);
	ASSERT_EQ(0, iommufd_destroy(self->edu.iommufd, viommu_id));
	ASSERT_EQ(0, ioas_unmap(self->edu.iommufd, self->ioas_id,
				self->mem.iova, self->mem.size));
}

/*
 * smmu_nested: the guest's stage 1 nested on the IOAS. Guest memory layout
 * (offsets; the guest physical address is GMEM_IOVA + offset):
 */
#define G_CD		0x0000		/* CD table: one CD */
#define G_L1		0x1000		/* stage-1 tables, first set */
#define G_L2		0x2000
#define G_L3		0x3000
#define G_L1_ALT	0x4000		/* second set, for a CD change */
#define G_L2_ALT	0x5000
#define G_L3_ALT	0x6000
#define G_SRC		0x100000	/* data pages */
#define G_PAGE_A	0x101000
#define G_PAGE_B	0x102000
#define G_PAGE_C	0x103000
#define G_BYPASS	0x200000

/* Stage-1 IOVAs: one L1, L2 and L3 entry path, none of them an IPA here */
#define S1_SRC		0x0a345000UL
#define S1_DST		0x0a346000UL
#define S1_HOLE		0x0a347000UL	/* no stage-1 mapping */

#define ASID		0x17
#define ASID_ALT	0x29

FIXTURE(smmu_nested) {
	struct edu edu;
	struct gmem mem;
	__u32 ioas_id;
	__u32 s2_id;
	__u32 viommu_id;
	__u32 vdev_id;
};

static __u64 gpa(const struct gmem *mem, size_t off)
{
	return mem->iova + off;
}

static void put_u64(struct gmem *mem, size_t off, __u64 val)
{
	__u64 le = htole64(val);

	gmem_set(mem, off, &le, sizeof(le));
}

/* Map one 4 KiB stage-1 page @iova -> guest physical @pa in table set @l1 */
static void s1_map(struct gmem *mem, size_t l1, size_t l2, size_t l3,
		   __u64 iova, __u64 pa)
{
	put_u64(mem, l1 + ((iova >> 30) & 0x1ff) * 8,
		(gpa(mem, l2) & PTE_ADDR_MASK) | PTE_TABLE);
	put_u64(mem, l2 + ((iova >> 21) & 0x1ff) * 8,
		(gpa(mem, l3) & PTE_ADDR_MASK) | PTE_TABLE);
	put_u64(mem, l3 + ((iova >> 12) & 0x1ff) * 8,
		(pa & PTE_ADDR_MASK) | PTE_PAGE | PTE_ATTRIDX(0) |
		PTE_AP_UNPRIV | PTE_SH_ISH | PTE_AF | PTE_NG);
}

static void s1_write_cd(struct gmem *mem, __u16 asid, size_t l1)
{
	__u64 cd[CD_SIZE / 8] = {};
	unsigned int i;

	cd[0] = CD0_T0SZ(S1_T0SZ) | CD0_TG0_4K | CD0_IRGN0_WBWA |
		CD0_ORGN0_WBWA | CD0_SH0_ISH | CD0_EPD1 | CD0_V |
		CD0_IPS_40BIT | CD0_AA64 | CD0_R | CD0_A | CD0_ASET |
		CD0_ASID(asid);
	cd[1] = gpa(mem, l1) & CD1_TTB0_MASK;
	cd[3] = S1_MAIR;	/* MAIR; AMAIR (cd[4]) 0 */
	for (i = 0; i < CD_SIZE / 8; i++)
		put_u64(mem, G_CD + i * 8, cd[i]);
}

FIXTURE_SETUP(smmu_nested)
{
	__u8 src[SZ_4K];
	size_t off;

	ASSERT_EQ(0, edu_open(&self->edu));
	ASSERT_EQ(0, gmem_alloc(&self->mem, GMEM_IOVA, GMEM_SIZE));
	/* The CD and stage-1 tables start empty: invalid entries everywhere */
	memset(src, 0, sizeof(src));
	for (off = G_CD; off <= G_L3_ALT; off += SZ_4K)
		gmem_set(&self->mem, off, src, sizeof(src));
	fill_pattern(src, sizeof(src), 0x5c);
	gmem_set(&self->mem, G_SRC, src, sizeof(src));
	s1_map(&self->mem, G_L1, G_L2, G_L3, S1_SRC, gpa(&self->mem, G_SRC));
	s1_map(&self->mem, G_L1, G_L2, G_L3, S1_DST, gpa(&self->mem, G_PAGE_A));
	s1_write_cd(&self->mem, ASID, G_L1);

	ASSERT_EQ(0, ioas_alloc(self->edu.iommufd, &self->ioas_id));
	ASSERT_EQ(0, ioas_map(self->edu.iommufd, self->ioas_id, self->mem.va,
			      self->mem.size, self->mem.iova));
	ASSERT_EQ(0, hwpt_alloc(&self->edu, self->ioas_id,
				IOMMU_HWPT_ALLOC_NEST_PARENT,
				IOMMU_HWPT_DATA_NONE, NULL, 0, &self->s2_id));
	ASSERT_EQ(0, vfio_attach(&self->edu, self->s2_id, NULL));
	ASSERT_EQ(0, viommu_alloc(&self->edu, self->s2_id,
				  E2E_VIOMMU_TYPE_ARM_SMMUV3, &self->viommu_id));
	ASSERT_EQ(0, vdevice_alloc(&self->edu, self->viommu_id, VSID,
				   &self->vdev_id));
	ASSERT_EQ(0, edu_enable(&self->edu));
}

FIXTURE_TEARDOWN(smmu_nested)
{
	edu_close(&self->edu);
	gmem_free(&self->mem);
}

/* Allocate a nested HWPT for @ste on the vIOMMU and attach the device */
static int nested_attach(struct edu *edu, __u32 viommu_id, __u64 ste0,
			 __u64 ste1, __u32 *hwpt_id)
{
	struct e2e_hwpt_arm_smmuv3 vste = {
		.ste = { htole64(ste0), htole64(ste1) },
	};
	int ret;

	ret = hwpt_alloc(edu, viommu_id, 0, E2E_HWPT_DATA_ARM_SMMUV3, &vste,
			 sizeof(vste), hwpt_id);
	if (ret) {
		note("IOMMU_HWPT_ALLOC (vSTE 0x%016llx 0x%016llx): %s",
		     (unsigned long long)ste0, (unsigned long long)ste1,
		     strerror(-ret));
		return ret;
	}
	return vfio_attach(edu, *hwpt_id, NULL);
}

static __u64 vste_s1(const struct gmem *mem)
{
	return STE0_V | STE0_CFG_S1_TRANS << STE0_CFG_SHIFT |
	       STE0_S1FMT_LINEAR | (gpa(mem, G_CD) & STE0_S1CTXPTR_MASK);
}

#define VSTE1_S1 (STE1_S1CIR_WBRA | STE1_S1COR_WBRA | STE1_S1CSH_ISH)

/* Stage-1 DMA of the source page's first @len bytes to @iova (page @dst) */
static int nested_copy(struct edu *edu, struct gmem *mem, __u64 iova,
		       size_t dst, unsigned int len)
{
	int ret;

	ret = edu_dma(edu, S1_SRC, 0, len, false);
	if (ret)
		return ret;
	ret = edu_dma(edu, iova, 0, len, true);
	if (ret)
		return ret;
	if (dst != (size_t)-1)
		memcpy(mem->expect + dst, mem->expect + G_SRC, len);
	return 0;
}

static struct e2e_viommu_arm_smmuv3_invalidate inv_cmd(__u64 w0, __u64 w1)
{
	struct e2e_viommu_arm_smmuv3_invalidate cmd = {
		.cmd = { htole64(w0), htole64(w1) },
	};

	return cmd;
}

/* The DMA to a stage-1 IOVA lands in the page the two stages select */
TEST_F(smmu_nested, s1_translate)
{
	__u32 hwpt_id;

	ASSERT_EQ(0, nested_attach(&self->edu, self->viommu_id,
				   vste_s1(&self->mem), VSTE1_S1, &hwpt_id));
	ASSERT_EQ(0, nested_copy(&self->edu, &self->mem, S1_DST + 0x100,
				 G_PAGE_A + 0x100, 512));
	ASSERT_GMEM(&self->mem);
}

/*
 * The guest moves a stage-1 page and invalidates the IOVA (TLBI_NH_VA) or
 * the whole ASID (TLBI_NH_ASID): the next DMA lands in the new page.
 */
static void remap_and_check(struct __test_metadata *_metadata,
			    FIXTURE_DATA(smmu_nested) *self, bool by_va)
{
	struct e2e_viommu_arm_smmuv3_invalidate cmd;
	__u32 hwpt_id, done;

	ASSERT_EQ(0, nested_attach(&self->edu, self->viommu_id,
				   vste_s1(&self->mem), VSTE1_S1, &hwpt_id));
	ASSERT_EQ(0, nested_copy(&self->edu, &self->mem, S1_DST, G_PAGE_A,
				 256));
	ASSERT_GMEM(&self->mem);

	s1_map(&self->mem, G_L1, G_L2, G_L3, S1_DST,
	       gpa(&self->mem, G_PAGE_B));
	if (by_va)
		cmd = inv_cmd(CMD_TLBI_NH_VA | CMD0_ASID(ASID),
			      (S1_DST & CMD1_VA_MASK) | CMD1_LEAF);
	else
		cmd = inv_cmd(CMD_TLBI_NH_ASID | CMD0_ASID(ASID), 0);
	ASSERT_EQ(0, viommu_invalidate(&self->edu, self->viommu_id, &cmd, 1,
				       &done));
	ASSERT_EQ(1, done);

	/* New data, so a DMA to the old page would show */
	fill_pattern(self->mem.va + G_SRC, 256, 0x77);
	memcpy(self->mem.expect + G_SRC, self->mem.va + G_SRC, 256);
	ASSERT_EQ(0, nested_copy(&self->edu, &self->mem, S1_DST, G_PAGE_B,
				 256));
	ASSERT_GMEM(&self->mem);
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
	__u32 hwpt_id, done;

	ASSERT_EQ(0, nested_attach(&self->edu, self->viommu_id,
				   vste_s1(&self->mem), VSTE1_S1, &hwpt_id));
	ASSERT_EQ(0, nested_copy(&self->edu, &self->mem, S1_DST, G_PAGE_A,
				 128));

	s1_map(&self->mem, G_L1_ALT, G_L2_ALT, G_L3_ALT, S1_SRC,
	       gpa(&self->mem, G_SRC));
	s1_map(&self->mem, G_L1_ALT, G_L2_ALT, G_L3_ALT, S1_DST,
	       gpa(&self->mem, G_PAGE_C));
	s1_write_cd(&self->mem, ASID_ALT, G_L1_ALT);
	cmds[0] = inv_cmd(CMD_CFGI_CD | CMD0_SID(VSID), CMD1_LEAF);
	cmds[1] = inv_cmd(CMD_TLBI_NH_ASID | CMD0_ASID(ASID), 0);
	ASSERT_EQ(0, viommu_invalidate(&self->edu, self->viommu_id, cmds, 2,
				       &done));
	ASSERT_EQ(2, done);

	fill_pattern(self->mem.va + G_SRC, 128, 0x99);
	memcpy(self->mem.expect + G_SRC, self->mem.va + G_SRC, 128);
	ASSERT_EQ(0, nested_copy(&self->edu, &self->mem, S1_DST, G_PAGE_C,
				 128));
	ASSERT_GMEM(&self->mem);
}

/* A stage-1 IOVA with no mapping: the DMA lands nowhere */
TEST_F(smmu_nested, s1_unmapped)
{
	__u32 hwpt_id;

	ASSERT_EQ(0, nested_attach(&self->edu, self->viommu_id,
				   vste_s1(&self->mem), VSTE1_S1, &hwpt_id));
	ASSERT_EQ(0, nested_copy(&self->edu, &self->mem, S1_HOLE, -1, 256));
	/* An IPA used as a stage-1 IOVA: stage 1 is not skipped */
	ASSERT_EQ(0, nested_copy(&self->edu, &self->mem,
				 gpa(&self->mem, G_PAGE_A), -1, 256));
	ASSERT_GMEM(&self->mem);
	/* and the device still translates */
	ASSERT_EQ(0, nested_copy(&self->edu, &self->mem, S1_DST, G_PAGE_A,
				 256));
	ASSERT_GMEM(&self->mem);
}

/* A vSTE with Config abort: nothing gets through */
TEST_F(smmu_nested, abort_ste)
{
	__u32 hwpt_id;

	ASSERT_EQ(0, nested_attach(&self->edu, self->viommu_id,
				   STE0_V | STE0_CFG_ABORT << STE0_CFG_SHIFT, 0,
				   &hwpt_id));
	ASSERT_EQ(0, edu_dma(&self->edu, gpa(&self->mem, G_BYPASS), 0, 256,
			     true));
	ASSERT_EQ(0, edu_dma(&self->edu, S1_DST, 0, 256, true));
	ASSERT_GMEM(&self->mem);
}

/* A vSTE with Config bypass: only the stage 2 (the IOAS) translates */
TEST_F(smmu_nested, bypass_ste)
{
	__u32 hwpt_id;

	ASSERT_EQ(0, nested_attach(&self->edu, self->viommu_id,
				   STE0_V | STE0_CFG_BYPASS << STE0_CFG_SHIFT, 0,
				   &hwpt_id));
	ASSERT_EQ(0, edu_dma(&self->edu, gpa(&self->mem, G_SRC), 0, 512,
			     false));
	ASSERT_EQ(0, edu_dma(&self->edu, gpa(&self->mem, G_BYPASS), 0, 512,
			     true));
	memcpy(self->mem.expect + G_BYPASS, self->mem.expect + G_SRC, 512);
	ASSERT_GMEM(&self->mem);
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
	ASSERT_EQ(-EIO, viommu_invalidate(&self->edu, self->viommu_id, cmds, 2,
					  &done));
	ASSERT_EQ(1, done);
}

/*
 * ---------------------------------------------------------------------------
 * Events, MSIs, bad input and a second device with a guest stage 1 (CANWBS
 * boot): fixtures smmu_vevent, smmu_msi, smmu_bad_input, smmu_two_edu.
 *
 * Each starts from smmu_nested's setup (guest memory with stage-1 tables, the
 * IOAS as nesting parent, a vIOMMU, a vDEVICE with vSID VSID) and, except
 * where a test says otherwise, attaches the device to a nested HWPT whose
 * vSTE points at the guest's CD.
 * ---------------------------------------------------------------------------
 */

/* Mainline's uAPI: the vEVENTQ type and event record of SMMUv3 */
#define E2E_VEVENTQ_TYPE_ARM_SMMUV3	1

struct e2e_vevent_arm_smmuv3 {
	__u64 evt[4];		/* little endian */
};

/* SMMUv3 event records */
#define EVT_ID_TRANSLATION_FAULT	0x10
#define EVT0_ID(w)		((w) & 0xff)
#define EVT0_SSV		(1ULL << 11)
#define EVT0_SID(w)		((w) >> 32)
#define EVT1_RNW		(1ULL << 35)
#define EVT1_S2			(1ULL << 39)

/* More of edu: interrupt status and acknowledge, and the DMA's IRQ bit */
#define EDU_IRQ_STATUS		0x24
#define EDU_IRQ_ACK		0x64
#define EDU_IRQ_DMA		0x100
#define EDU_DMA_IRQ		0x4

/* The SMMU driver's software MSI window (IOMMU_RESV_SW_MSI) */
#define MSI_IOVA_BASE		0x8000000UL
#define MSI_IOVA_SIZE		SZ_1M

/* A stage-1 table of the guest's for the MSI window (the rest is G_*) */
#define G_L3_MSI		0x7000

/* A stage-1 IOVA mapped to an IPA the IOAS does not map */
#define S1_S2_HOLE		0x0a348000UL
#define IPA_HOLE		(GMEM_IOVA + GMEM_SIZE + 2 * SZ_1M)

#define CMD_TLBI_NH_ALL		0x10
#define CMD_CFGI_CD_ALL		0x06
#define CMD_ATC_INV		0x40

/* How long an event or an interrupt may take, and the quiet after it */
#define EVT_WAIT_MS		5000
#define GRACE_MS		1000

/* The host's event dumps are rate limited: 10 per 5 s (DEFAULT_RATELIMIT_*) */
#define HOST_EVT_RATELIMIT_US	6000000LL

/* The Stream ID of @edu: its requester ID, as QEMU's IORT maps it */
static int edu_sid(const struct edu *edu, __u32 *sid)
{
	unsigned int seg, bus, dev, fn;

	if (sscanf(edu->bdf, "%x:%x:%x.%x", &seg, &bus, &dev, &fn) != 4)
		return -EINVAL;
	*sid = bus << 8 | dev << 3 | fn;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The PCI address of the @nth edu device, counting from 0 by address */
static int edu_find_nth(unsigned int nth, char *bdf, size_t len)
{
	const char *root = "/sys/bus/pci/devices";
	char found[8][32];
	unsigned int n = 0;
	struct dirent *de;
	DIR *dir;

	dir = opendir(root);
	if (!dir)
		return -errno;
	while ((de = readdir(dir)) && n < 8) {
		unsigned long vendor, device;
		char path[PATH_MAX];

		if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(found[0]))
			continue;
		snprintf(path, sizeof(path), "%s/%s", root, de->d_name);
		if (sysfs_read_hex(path, "vendor", &vendor) ||
		    sysfs_read_hex(path, "device", &device) ||
		    vendor != EDU_VENDOR || device != EDU_DEVICE)
			continue;
		snprintf(found[n++], sizeof(found[0]), "%s", de->d_name);
	}
	closedir(dir);
	if (nth >= n || strlen(found[nth]) >= len) {
		note("no edu device number %u (%u found)", nth, n);
		return -ENODEV;
	}
	qsort(found, n, sizeof(found[0]), cmp_str);
	snprintf(bdf, len, "%s", found[nth]);
	return 0;
}

/*
 * edu_open() of the @nth edu device, bound to @iommufd (a dup of it, so that
 * edu_close() of each device closes its own)
 */
static int edu_open_nth(struct edu *edu, unsigned int nth, int iommufd)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	int ret;

	memset(edu, 0, sizeof(*edu));
	edu->cdev = -1;
	edu->iommufd = -1;
	ret = edu_find_nth(nth, edu->bdf, sizeof(edu->bdf));
	if (ret)
		return ret;
	ret = edu_bind_vfio_pci(edu->bdf);
	if (ret)
		return ret;
	edu->cdev = edu_open_cdev(edu->bdf);
	if (edu->cdev < 0)
		return edu->cdev;
	edu->iommufd = dup(iommufd);
	if (edu->iommufd < 0)
		return -errno;
	bind.iommufd = edu->iommufd;
	if (ioctl(edu->cdev, VFIO_DEVICE_BIND_IOMMUFD, &bind)) {
		note("VFIO_DEVICE_BIND_IOMMUFD (%s): %s", edu->bdf,
		     strerror(errno));
		return -errno;
	}
	edu->dev_id = bind.out_devid;
	return 0;
}

static __u32 edu_read32(struct edu *edu, unsigned int reg)
{
	return *(volatile __u32 *)(edu->bar + reg);
}

static void edu_write32(struct edu *edu, unsigned int reg, __u32 val)
{
	*(volatile __u32 *)(edu->bar + reg) = val;
}

/* edu_dma() with more command bits: EDU_DMA_IRQ, an interrupt when done */
static int edu_dma_cmd(struct edu *edu, __u64 iova, unsigned int off,
		       unsigned int len, bool to_ram, __u64 cmd)
{
	struct timespec start;

	if (off + len > EDU_BUF_SIZE)
		return -EINVAL;
	__sync_synchronize();
	edu_write64(edu, EDU_DMA_SRC, to_ram ? EDU_BUF + off : iova);
	edu_write64(edu, EDU_DMA_DST, to_ram ? iova : EDU_BUF + off);
	edu_write64(edu, EDU_DMA_CNT, len);
	edu_write64(edu, EDU_DMA_CMD,
		    EDU_DMA_RUN | (to_ram ? EDU_DMA_TO_RAM : 0) | cmd);
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (edu_read64(edu, EDU_DMA_CMD) & EDU_DMA_RUN) {
		if (elapsed_ms(&start) > EDU_DMA_TIMEOUT_MS)
			return -ETIMEDOUT;
		usleep(1000);
	}
	__sync_synchronize();
	return 0;
}

static int veventq_alloc(struct edu *edu, __u32 viommu_id, __u32 type,
			 __u32 depth, __u32 flags, __u32 *id, int *fd)
{
	struct iommu_veventq_alloc cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.viommu_id = viommu_id,
		.type = type,
		.veventq_depth = depth,
	};

	if (ioctl(edu->iommufd, IOMMU_VEVENTQ_ALLOC, &cmd))
		return -errno;
	*id = cmd.out_veventq_id;
	*fd = cmd.out_veventq_fd;
	return 0;
}

/* 1 once @fd is readable within @ms, 0 if not, -errno */
static int wait_readable(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int ret;

	ret = poll(&pfd, 1, ms);
	if (ret < 0)
		return -errno;
	return ret && (pfd.revents & POLLIN);
}

/* One entry of a vEVENTQ: a header and, unless it says events were lost, data */
struct vevent {
	struct iommufd_vevent_header hdr;
	__u64 evt[4];		/* CPU order */
};

/*
 * Read what an SMMUv3 vEVENTQ holds, in one read(), into @ev (room for @max).
 * The number of entries, or -errno.
 */
static int vevents_read(int fd, struct vevent *ev, int max)
{
	struct e2e_vevent_arm_smmuv3 data;
	__u8 buf[4096];
	size_t off = 0;
	ssize_t len;
	int n = 0, i;

	len = read(fd, buf, sizeof(buf));
	if (len < 0)
		return -errno;
	while (off < (size_t)len) {
		if (n == max || off + sizeof(ev->hdr) > (size_t)len)
			return -EMSGSIZE;
		memcpy(&ev[n].hdr, buf + off, sizeof(ev->hdr));
		off += sizeof(ev->hdr);
		memset(ev[n].evt, 0, sizeof(ev[n].evt));
		if (!(ev[n].hdr.flags & IOMMU_VEVENTQ_FLAG_LOST_EVENTS)) {
			if (off + sizeof(data) > (size_t)len)
				return -EMSGSIZE;
			memcpy(&data, buf + off, sizeof(data));
			off += sizeof(data);
			for (i = 0; i < 4; i++)
				ev[n].evt[i] = le64toh(data.evt[i]);
		}
		note("vEVENT: flags 0x%x sequence %u: %016llx %016llx %016llx %016llx",
		     ev[n].hdr.flags, ev[n].hdr.sequence,
		     (unsigned long long)ev[n].evt[0],
		     (unsigned long long)ev[n].evt[1],
		     (unsigned long long)ev[n].evt[2],
		     (unsigned long long)ev[n].evt[3]);
		n++;
	}
	return n;
}

/* Wait for an entry, then read all there are: their number, or -errno */
static int vevents_wait(int fd, struct vevent *ev, int max)
{
	int ret;

	ret = wait_readable(fd, EVT_WAIT_MS);
	if (ret <= 0)
		return ret;
	return vevents_read(fd, ev, max);
}

/* The kernel log from now on: /dev/kmsg, opened past its last record */
static int kmsg_open_end(void)
{
	int fd;

	fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (lseek(fd, 0, SEEK_END) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

/*
 * The next record of /dev/kmsg: its text (first line) and time stamp in us.
 * 1, 0 at the end, -errno.
 */
static int kmsg_next(int fd, char *msg, size_t len, long long *ts)
{
	char rec[8192], *text, *nl;
	ssize_t n;

	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n >= 0)
			break;
		if (errno == EAGAIN)
			return 0;
		if (errno != EPIPE)	/* EPIPE: overwritten, go on */
			return -errno;
	}
	rec[n] = '\0';
	text = strchr(rec, ';');
	if (!text || sscanf(rec, "%*u,%*u,%lld", ts) != 1)
		return -EIO;
	text++;
	nl = strchr(text, '\n');
	if (nl)
		*nl = '\0';
	snprintf(msg, len, "%s", text);
	return 1;
}

/* An event the host logged: "event 0x%02x received:" and its four words */
struct host_evt {
	unsigned int id;
	__u64 evt[4];
};

/*
 * The SMMU events the host logged since @fd was opened (or last read) whose
 * input address is @addr; the last of them in *@found.
 */
static int host_evts(int fd, __u64 addr, struct host_evt *found)
{
	struct host_evt cur = {};
	int words = -1, count = 0, tries = 0, ret;
	char msg[256], *p;
	long long ts;

	for (;;) {
		ret = kmsg_next(fd, msg, sizeof(msg), &ts);
		/* A dump is five records: wait for the rest of one begun */
		if (!ret && words >= 0 && tries++ < 100) {
			usleep(10000);
			continue;
		}
		if (ret <= 0)
			break;
		if (!strstr(msg, "arm-smmu-v3"))
			continue;
		p = strstr(msg, "event 0x");
		if (p && strstr(p, "received")) {
			cur.id = strtoul(p + strlen("event "), NULL, 16);
			words = 0;
			continue;
		}
		/* The tab before each word; /dev/kmsg shows it escaped */
		p = strstr(msg, "\\x090x");
		if (p)
			p += 4;
		else if ((p = strstr(msg, "\t0x")))
			p += 1;
		if (!p || words < 0)
			continue;
		cur.evt[words++] = strtoull(p, NULL, 16);
		if (words < 4)
			continue;
		words = -1;
		note("host log: event 0x%02x: %016llx %016llx %016llx %016llx",
		     cur.id, (unsigned long long)cur.evt[0],
		     (unsigned long long)cur.evt[1],
		     (unsigned long long)cur.evt[2],
		     (unsigned long long)cur.evt[3]);
		if (cur.evt[2] == addr) {
			count++;
			if (found)
				*found = cur;
		}
	}
	return ret < 0 ? ret : count;
}

/* Wait up to EVT_WAIT_MS for the host to log @want events at @addr */
static int host_evts_wait(int fd, __u64 addr, int want, struct host_evt *found)
{
	struct timespec start;
	int count = 0, ret;

	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		ret = host_evts(fd, addr, found);
		if (ret < 0)
			return ret;
		count += ret;
		if (count >= want)
			break;
		usleep(50000);
	} while (elapsed_ms(&start) < EVT_WAIT_MS);
	return count;
}

/*
 * The host logs SMMU events rate limited; to see (or to show the absence of)
 * one in its log, let the limit's interval since the last logged event pass.
 * The time now is that of a line this writes to the log itself.
 */
static int host_evt_ratelimit_wait(void)
{
	long long ts, last = -1, now = -1;
	char mark[64], msg[256];
	int fd, ret;

	fd = open("/dev/kmsg", O_RDWR | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	snprintf(mark, sizeof(mark), "smmu_nested: mark %d.%ld\n", getpid(),
		 random());
	if (write(fd, mark, strlen(mark)) != (ssize_t)strlen(mark)) {
		close(fd);
		return -EIO;
	}
	mark[strlen(mark) - 1] = '\0';
	while ((ret = kmsg_next(fd, msg, sizeof(msg), &ts)) > 0) {
		if (strstr(msg, "arm-smmu-v3") && strstr(msg, "event 0x"))
			last = ts;
		if (!strcmp(msg, mark)) {
			now = ts;
			break;
		}
	}
	close(fd);
	if (now < 0)
		return ret < 0 ? ret : -ENOENT;
	if (last >= 0 && now - last < HOST_EVT_RATELIMIT_US)
		usleep(HOST_EVT_RATELIMIT_US - (now - last));
	return 0;
}

/* Check one vEVENT: a fault of the guest's device at @addr, by its vSID */
#define ASSERT_VEVENT(ev, seq, id, addr) do {				\
		const struct vevent *__ev = (ev);			\
									\
		ASSERT_EQ(0, __ev->hdr.flags);				\
		ASSERT_EQ(seq, __ev->hdr.sequence);			\
		ASSERT_EQ(id, EVT0_ID(__ev->evt[0]));			\
		ASSERT_EQ(VSID, EVT0_SID(__ev->evt[0]));		\
		ASSERT_EQ(0, __ev->evt[0] & EVT0_SSV);			\
		ASSERT_EQ(0, __ev->evt[1] & EVT1_S2);			\
		ASSERT_EQ(addr, __ev->evt[2]);				\
	} while (0)

/*
 * smmu_vevent: the guest's faults reach its vEVENTQ, by vSID and faulting
 * address, once each; the host's (stage 2) stay in the host's log, and so
 * do the guest's while it has no queue.
 */
FIXTURE(smmu_vevent) {
	FIXTURE_DATA(smmu_nested) n;
	__u32 psid;
	__u32 hwpt_id;
	__u32 veventq_id;
	int veventq_fd;
	int kmsg;
};

FIXTURE_SETUP(smmu_vevent)
{
	self->veventq_fd = -1;
	self->kmsg = -1;
	smmu_nested_setup(_metadata, &self->n, NULL);
	ASSERT_EQ(0, edu_sid(&self->n.edu, &self->psid));
	/* Forwarded events must show the vSID, not this */
	ASSERT_NE(VSID, self->psid);
	ASSERT_EQ(0, nested_attach(&self->n.edu, self->n.viommu_id,
				   vste_s1(&self->n.mem), VSTE1_S1,
				   &self->hwpt_id));
}

FIXTURE_TEARDOWN(smmu_vevent)
{
	if (self->kmsg >= 0)
		close(self->kmsg);
	if (self->veventq_fd >= 0)
		close(self->veventq_fd);
	smmu_nested_teardown(_metadata, &self->n, NULL);
}

static int vevent_queue(FIXTURE_DATA(smmu_vevent) *self, __u32 depth)
{
	return veventq_alloc(&self->n.edu, self->n.viommu_id,
			     E2E_VEVENTQ_TYPE_ARM_SMMUV3, depth, 0,
			     &self->veventq_id, &self->veventq_fd);
}

/*
 * edu writes 4 bytes to a stage-1 IOVA the guest leaves unmapped: one
 * F_TRANSLATION event in the queue, the write's, then one for a read; none
 * in the host's log.
 */
TEST_F(smmu_vevent, s1_fault)
{
	struct vevent ev[4];

	ASSERT_EQ(0, vevent_queue(self, 64));
	ASSERT_EQ(0, wait_readable(self->veventq_fd, 0));
	ASSERT_EQ(0, vevents_read(self->veventq_fd, ev, 4));
	/* A host log line for it would not be rate limited away */
	ASSERT_EQ(0, host_evt_ratelimit_wait());
	self->kmsg = kmsg_open_end();
	ASSERT_LE(0, self->kmsg);

	ASSERT_EQ(0, edu_dma(&self->n.edu, S1_HOLE, 0, 4, true));
	ASSERT_EQ(1, vevents_wait(self->veventq_fd, ev, 4));
	ASSERT_VEVENT(&ev[0], 0, EVT_ID_TRANSLATION_FAULT, S1_HOLE);
	ASSERT_EQ(0, ev[0].evt[1] & EVT1_RNW);
	ASSERT_EQ(0, wait_readable(self->veventq_fd, GRACE_MS));

	ASSERT_EQ(0, edu_dma(&self->n.edu, S1_HOLE + 0x80, 0, 4, false));
	ASSERT_EQ(1, vevents_wait(self->veventq_fd, ev, 4));
	ASSERT_VEVENT(&ev[0], 1, EVT_ID_TRANSLATION_FAULT, S1_HOLE + 0x80);
	ASSERT_NE(0, ev[0].evt[1] & EVT1_RNW);
	ASSERT_EQ(0, wait_readable(self->veventq_fd, GRACE_MS));

	ASSERT_EQ(0, host_evts(self->kmsg, S1_HOLE, NULL));
	ASSERT_EQ(0, host_evts(self->kmsg, S1_HOLE + 0x80, NULL));
	ASSERT_GMEM(&self->n.mem);
}

/* DMAs the two stages translate raise no event */
TEST_F(smmu_vevent, mapped_no_event)
{
	ASSERT_EQ(0, vevent_queue(self, 64));
	ASSERT_EQ(0, nested_copy(&self->n.edu, &self->n.mem, S1_DST + 0x40,
				 G_PAGE_A + 0x40, 64));
	ASSERT_GMEM(&self->n.mem);
	ASSERT_EQ(0, wait_readable(self->veventq_fd, GRACE_MS));
}

/*
 * The guest maps the IOVA to an IPA the IOAS does not map: the stage 2
 * faults, the host's business. No vEVENT; the host logs it, by physical SID.
 */
TEST_F(smmu_vevent, s2_fault)
{
	struct host_evt he;

	s1_map(&self->n.mem, G_L1, G_L2, G_L3, S1_S2_HOLE, IPA_HOLE);
	ASSERT_EQ(0, vevent_queue(self, 64));
	ASSERT_EQ(0, host_evt_ratelimit_wait());
	self->kmsg = kmsg_open_end();
	ASSERT_LE(0, self->kmsg);

	ASSERT_EQ(0, edu_dma(&self->n.edu, S1_S2_HOLE, 0, 4, true));
	ASSERT_EQ(1, host_evts_wait(self->kmsg, S1_S2_HOLE, 1, &he));
	ASSERT_EQ(EVT_ID_TRANSLATION_FAULT, he.id);
	ASSERT_EQ(self->psid, EVT0_SID(he.evt[0]));
	ASSERT_NE(0, he.evt[1] & EVT1_S2);
	ASSERT_EQ(0, wait_readable(self->veventq_fd, GRACE_MS));
	ASSERT_GMEM(&self->n.mem);
}

/*
 * A queue of depth 2 and a 16-byte DMA that faults on every 4 bytes: the
 * first two events, then a header that says events were lost, with the last
 * lost one's sequence number. Numbering goes on after the loss.
 */
TEST_F(smmu_vevent, overflow)
{
	struct vevent ev[8];

	ASSERT_EQ(0, vevent_queue(self, 2));
	ASSERT_EQ(0, edu_dma(&self->n.edu, S1_HOLE, 0, 16, true));
	ASSERT_EQ(1, wait_readable(self->veventq_fd, EVT_WAIT_MS));
	/* All four reported before the first is read */
	usleep(GRACE_MS * 1000);
	ASSERT_EQ(3, vevents_read(self->veventq_fd, ev, 8));
	ASSERT_VEVENT(&ev[0], 0, EVT_ID_TRANSLATION_FAULT, S1_HOLE);
	ASSERT_VEVENT(&ev[1], 1, EVT_ID_TRANSLATION_FAULT, S1_HOLE + 4);
	ASSERT_EQ(IOMMU_VEVENTQ_FLAG_LOST_EVENTS, ev[2].hdr.flags);
	ASSERT_EQ(3, ev[2].hdr.sequence);
	ASSERT_EQ(0, wait_readable(self->veventq_fd, GRACE_MS));

	ASSERT_EQ(0, edu_dma(&self->n.edu, S1_HOLE + 0x100, 0, 4, true));
	ASSERT_EQ(1, vevents_wait(self->veventq_fd, ev, 8));
	ASSERT_VEVENT(&ev[0], 4, EVT_ID_TRANSLATION_FAULT, S1_HOLE + 0x100);
	ASSERT_GMEM(&self->n.mem);
}

/* Without a vEVENTQ, the guest's fault is logged by the host */
TEST_F(smmu_vevent, no_queue_host_log)
{
	struct host_evt he;

	ASSERT_EQ(0, host_evt_ratelimit_wait());
	self->kmsg = kmsg_open_end();
	ASSERT_LE(0, self->kmsg);
	ASSERT_EQ(0, edu_dma(&self->n.edu, S1_HOLE, 0, 4, true));
	ASSERT_EQ(1, host_evts_wait(self->kmsg, S1_HOLE, 1, &he));
	ASSERT_EQ(EVT_ID_TRANSLATION_FAULT, he.id);
	ASSERT_EQ(self->psid, EVT0_SID(he.evt[0]));
	ASSERT_EQ(0, he.evt[1] & EVT1_S2);
	ASSERT_GMEM(&self->n.mem);
}

/* VEVENTQ_ALLOC's errnos on a vSMMU, and one queue per type */
TEST_F(smmu_vevent, alloc_errnos)
{
	struct edu *edu = &self->n.edu;
	__u32 viommu_id = self->n.viommu_id;
	__u32 id;
	int fd;

	ASSERT_EQ(0, vevent_queue(self, 2));
	ASSERT_EQ(-EEXIST, veventq_alloc(edu, viommu_id,
					 E2E_VEVENTQ_TYPE_ARM_SMMUV3, 2, 0,
					 &id, &fd));
	ASSERT_EQ(-EOPNOTSUPP, veventq_alloc(edu, viommu_id, 0, 2, 0, &id,
					     &fd));
	ASSERT_EQ(-EOPNOTSUPP, veventq_alloc(edu, viommu_id,
					     E2E_VEVENTQ_TYPE_ARM_SMMUV3, 2,
					     1, &id, &fd));
	ASSERT_EQ(-EINVAL, veventq_alloc(edu, viommu_id,
					 E2E_VEVENTQ_TYPE_ARM_SMMUV3, 0, 0,
					 &id, &fd));
	ASSERT_EQ(-EINVAL, veventq_alloc(edu, viommu_id,
					 E2E_VEVENTQ_TYPE_ARM_SMMUV3,
					 (1U << 19) + 1, 0, &id, &fd));
	ASSERT_EQ(-ENOENT, veventq_alloc(edu, viommu_id + 1000,
					 E2E_VEVENTQ_TYPE_ARM_SMMUV3, 2, 0,
					 &id, &fd));

	/* The fd holds the queue; once both are gone, a new one may come */
	ASSERT_EQ(-EBUSY, iommufd_destroy(edu->iommufd, self->veventq_id));
	close(self->veventq_fd);
	self->veventq_fd = -1;
	ASSERT_EQ(0, iommufd_destroy(edu->iommufd, self->veventq_id));
	ASSERT_EQ(0, vevent_queue(self, 1U << 19));
}

/*
 * smmu_msi: an MSI of a device behind a nested domain. The kernel maps the
 * doorbell in the stage 2 at the MSI window's IOVA; the guest's stage 1 has
 * to map the window to itself (variant "window"). Without that (variant
 * "no_window") the MSI write faults in the stage 1: no interrupt, and the
 * guest sees the fault.
 */
FIXTURE(smmu_msi) {
	FIXTURE_DATA(smmu_nested) n;
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
		note("VFIO_DEVICE_SET_IRQS (MSI): %s", strerror(errno));
		return -errno;
	}
	return 0;
}

FIXTURE_SETUP(smmu_msi)
{
	__u8 zero[SZ_4K] = {};
	__u64 iova;

	self->veventq_fd = -1;
	self->efd = -1;
	smmu_nested_setup(_metadata, &self->n, NULL);
	if (variant->map_window) {
		gmem_set(&self->n.mem, G_L3_MSI, zero, sizeof(zero));
		for (iova = MSI_IOVA_BASE; iova < MSI_IOVA_BASE + MSI_IOVA_SIZE;
		     iova += SZ_4K)
			s1_map(&self->n.mem, G_L1, G_L2, G_L3_MSI, iova, iova);
	}
	ASSERT_EQ(0, veventq_alloc(&self->n.edu, self->n.viommu_id,
				   E2E_VEVENTQ_TYPE_ARM_SMMUV3, 64, 0,
				   &self->veventq_id, &self->veventq_fd));
	/* Nested first: MSI setup maps the doorbell for the domain it finds */
	ASSERT_EQ(0, nested_attach(&self->n.edu, self->n.viommu_id,
				   vste_s1(&self->n.mem), VSTE1_S1,
				   &self->hwpt_id));
	self->efd = eventfd(0, EFD_NONBLOCK);
	ASSERT_LE(0, self->efd);
	ASSERT_EQ(0, vfio_msi_eventfd(&self->n.edu, self->efd));
	/* No reset on open for edu: an earlier test may have left one raised */
	edu_write32(&self->n.edu, EDU_IRQ_ACK,
		    edu_read32(&self->n.edu, EDU_IRQ_STATUS));
}

FIXTURE_TEARDOWN(smmu_msi)
{
	if (self->efd >= 0)
		close(self->efd);
	if (self->veventq_fd >= 0)
		close(self->veventq_fd);
	smmu_nested_teardown(_metadata, &self->n, NULL);
}

/* A DMA that raises edu's interrupt when done: the eventfd fires, or not */
TEST_F(smmu_msi, dma_irq)
{
	struct edu *edu = &self->n.edu;
	struct vevent ev[8];
	__u64 count;
	int ret, i;

	ASSERT_EQ(0, edu_read32(edu, EDU_IRQ_STATUS));
	ASSERT_EQ(0, edu_dma_cmd(edu, S1_SRC, 0, 64, false, EDU_DMA_IRQ));
	ASSERT_EQ(0, edu_dma_cmd(edu, S1_DST, 0, 64, true, 0));
	memcpy(self->n.mem.expect + G_PAGE_A, self->n.mem.expect + G_SRC, 64);
	ASSERT_GMEM(&self->n.mem);
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
	ASSERT_EQ(0, edu_dma_cmd(edu, S1_SRC, 0, 4, false, EDU_DMA_IRQ));
	ret = wait_readable(self->efd, variant->map_window ? EVT_WAIT_MS :
								 GRACE_MS);
	ASSERT_EQ(variant->map_window ? 1 : 0, ret);
	edu_write32(edu, EDU_IRQ_ACK, EDU_IRQ_DMA);
	ASSERT_EQ(0, edu_read32(edu, EDU_IRQ_STATUS));
}

/*
 * smmu_bad_input: what the real SMMU's driver refuses (the uAPI contract's
 * "Errno for bad input"), and that a refusal leaves the device translating
 * as before, and that a partly refused invalidation did what came before.
 */
FIXTURE(smmu_bad_input) {
	FIXTURE_DATA(smmu_nested) n;
	__u32 hwpt_id;
};

FIXTURE_SETUP(smmu_bad_input)
{
	smmu_nested_setup(_metadata, &self->n, NULL);
	ASSERT_EQ(0, nested_attach(&self->n.edu, self->n.viommu_id,
				   vste_s1(&self->n.mem), VSTE1_S1,
				   &self->hwpt_id));
	/* The device translates through the guest's stage 1 */
	ASSERT_EQ(0, nested_copy(&self->n.edu, &self->n.mem, S1_DST, G_PAGE_A,
				 64));
	ASSERT_GMEM(&self->n.mem);
}

FIXTURE_TEARDOWN(smmu_bad_input)
{
	smmu_nested_teardown(_metadata, &self->n, NULL);
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
	__u64 ste0 = vste_s1(&self->n.mem);
	struct e2e_hwpt_arm_smmuv3 vste;
	__u32 id;
	size_t i;

	for (i = 0; i < sizeof(bad_vstes) / sizeof(bad_vstes[0]); i++) {
		vste.ste[0] = htole64((ste0 & ~bad_vstes[i].clear0) |
				      bad_vstes[i].set0);
		vste.ste[1] = htole64(VSTE1_S1 | bad_vstes[i].set1);
		EXPECT_EQ(-EIO, hwpt_alloc(&self->n.edu, self->n.viommu_id, 0,
					   E2E_HWPT_DATA_ARM_SMMUV3, &vste,
					   sizeof(vste), &id))
			TH_LOG("vSTE %016llx %016llx accepted or refused otherwise",
			       (unsigned long long)le64toh(vste.ste[0]),
			       (unsigned long long)le64toh(vste.ste[1]));
	}
	/* The device still translates through the vSTE it has */
	ASSERT_EQ(0, nested_copy(&self->n.edu, &self->n.mem, S1_DST + 0x200,
				 G_PAGE_A + 0x200, 64));
	ASSERT_GMEM(&self->n.mem);
}

/*
 * A translating vSTE of a vIOMMU on which the device has no vDEVICE: it can
 * be allocated but not attached (ENOENT), and the device keeps translating
 * as before. Abort and bypass vSTEs need no vDEVICE.
 */
TEST_F(smmu_bad_input, no_vdevice)
{
	__u32 viommu2, s1_id, bypass_id, abort_id;

	ASSERT_EQ(0, viommu_alloc(&self->n.edu, self->n.s2_id,
				  E2E_VIOMMU_TYPE_ARM_SMMUV3, &viommu2));
	ASSERT_EQ(-ENOENT, nested_attach(&self->n.edu, viommu2,
					 vste_s1(&self->n.mem), VSTE1_S1,
					 &s1_id));
	ASSERT_EQ(0, nested_copy(&self->n.edu, &self->n.mem, S1_DST + 0x300,
				 G_PAGE_A + 0x300, 64));
	ASSERT_GMEM(&self->n.mem);

	ASSERT_EQ(0, nested_attach(&self->n.edu, viommu2,
				   STE0_V | STE0_CFG_BYPASS << STE0_CFG_SHIFT,
				   0, &bypass_id));
	ASSERT_EQ(0, edu_dma(&self->n.edu, gpa(&self->n.mem, G_SRC), 0, 64,
			     false));
	ASSERT_EQ(0, edu_dma(&self->n.edu, gpa(&self->n.mem, G_BYPASS), 0, 64,
			     true));
	memcpy(self->n.mem.expect + G_BYPASS, self->n.mem.expect + G_SRC, 64);
	ASSERT_GMEM(&self->n.mem);
	ASSERT_EQ(0, nested_attach(&self->n.edu, viommu2,
				   STE0_V | STE0_CFG_ABORT << STE0_CFG_SHIFT,
				   0, &abort_id));
	ASSERT_EQ(0, edu_dma(&self->n.edu, gpa(&self->n.mem, G_BYPASS), 0, 64,
			     true));
	ASSERT_EQ(0, edu_dma(&self->n.edu, S1_DST, 0, 64, true));
	ASSERT_GMEM(&self->n.mem);
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

	ASSERT_EQ(-EINVAL, viommu_invalidate_raw(&self->n.edu,
						 self->n.viommu_id, wide,
						 E2E_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
						 0, 1, &done));
	ASSERT_EQ(0, done);
	ASSERT_EQ(-EINVAL, viommu_invalidate_raw(&self->n.edu,
						 self->n.viommu_id, wide,
						 E2E_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
						 sizeof(wide[0].cmd), 0, &done));
	ASSERT_EQ(0, done);
	ASSERT_EQ(-EINVAL, viommu_invalidate_raw(&self->n.edu,
						 self->n.viommu_id, wide,
						 IOMMU_HWPT_INVALIDATE_DATA_VTD_S1,
						 sizeof(wide[0].cmd), 1, &done));
	ASSERT_EQ(0, done);

	s1_map(&self->n.mem, G_L1, G_L2, G_L3, S1_DST,
	       gpa(&self->n.mem, G_PAGE_B));
	wide[1].tail = 1ULL << 63;
	ASSERT_EQ(-E2BIG, viommu_invalidate_raw(&self->n.edu,
						self->n.viommu_id, wide,
						E2E_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
						sizeof(wide[0]), 2, &done));
	ASSERT_EQ(0, done);
	wide[1].tail = 0;
	ASSERT_EQ(0, viommu_invalidate_raw(&self->n.edu, self->n.viommu_id,
					   wide,
					   E2E_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
					   sizeof(wide[0]), 2, &done));
	ASSERT_EQ(2, done);
	fill_pattern(self->n.mem.va + G_SRC, 64, 0x1e);
	memcpy(self->n.mem.expect + G_SRC, self->n.mem.va + G_SRC, 64);
	ASSERT_EQ(0, nested_copy(&self->n.edu, &self->n.mem, S1_DST, G_PAGE_B,
				 64));
	ASSERT_GMEM(&self->n.mem);
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

	ASSERT_EQ(0, edu_sid(&self->n.edu, &psid));
	for (i = 0; i <= sizeof(bad) / sizeof(bad[0]); i++) {
		cmds[0] = inv_cmd(CMD_TLBI_NH_ASID | CMD0_ASID(ASID_ALT), 0);
		cmds[1] = inv_cmd(CMD_TLBI_NH_ALL, 0);
		/* Last, the device's physical SID: no vSID of it */
		if (i < sizeof(bad) / sizeof(bad[0]))
			cmds[2] = bad[i];
		else
			cmds[2] = inv_cmd(CMD_CFGI_CD | CMD0_SID(psid),
					  CMD1_LEAF);
		EXPECT_EQ(-EIO, viommu_invalidate(&self->n.edu,
						  self->n.viommu_id, cmds, 3,
						  &done))
			TH_LOG("command %016llx %016llx not refused with EIO",
			       (unsigned long long)le64toh(cmds[2].cmd[0]),
			       (unsigned long long)le64toh(cmds[2].cmd[1]));
		EXPECT_EQ(2, done);
		EXPECT_EQ(-EIO, viommu_invalidate(&self->n.edu,
						  self->n.viommu_id, &cmds[2],
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

	s1_map(&self->n.mem, G_L1, G_L2, G_L3, S1_DST,
	       gpa(&self->n.mem, G_PAGE_B));
	cmds[0] = inv_cmd(CMD_TLBI_NH_VA | CMD0_ASID(ASID),
			  (S1_DST & CMD1_VA_MASK) | CMD1_LEAF);
	cmds[1] = inv_cmd(CMD_CFGI_ALL, 31);
	ASSERT_EQ(-EIO, viommu_invalidate(&self->n.edu, self->n.viommu_id,
					  cmds, 2, &done));
	ASSERT_EQ(1, done);

	fill_pattern(self->n.mem.va + G_SRC, 64, 0x9a);
	memcpy(self->n.mem.expect + G_SRC, self->n.mem.va + G_SRC, 64);
	ASSERT_EQ(0, nested_copy(&self->n.edu, &self->n.mem, S1_DST, G_PAGE_B,
				 64));
	ASSERT_GMEM(&self->n.mem);
}

/*
 * vSIDs are 32-bit (commands and events carry 32 bits): a wider virt_id is
 * refused (EINVAL, our choice), U32_MAX is taken.
 */
TEST_F(smmu_bad_input, vdevice_virt_id)
{
	__u32 id = 0;

	/* Off the vSID first, then without a vDEVICE */
	ASSERT_EQ(0, vfio_attach(&self->n.edu, self->n.s2_id, NULL));
	ASSERT_EQ(0, iommufd_destroy(self->n.edu.iommufd, self->n.vdev_id));
	ASSERT_EQ(-EINVAL, vdevice_alloc(&self->n.edu, self->n.viommu_id,
					 1ULL << 32, &id));
	ASSERT_EQ(-EINVAL, vdevice_alloc(&self->n.edu, self->n.viommu_id,
					 (1ULL << 32) | VSID, &id));
	ASSERT_EQ(-EINVAL, vdevice_alloc(&self->n.edu, self->n.viommu_id,
					 ~0ULL, &id));
	ASSERT_EQ(0, vdevice_alloc(&self->n.edu, self->n.viommu_id,
				   0xffffffffULL, &id));
	ASSERT_EQ(0, iommufd_destroy(self->n.edu.iommufd, id));
	ASSERT_EQ(0, vdevice_alloc(&self->n.edu, self->n.viommu_id, VSID,
				   &self->n.vdev_id));
	ASSERT_EQ(0, vfio_attach(&self->n.edu, self->hwpt_id, NULL));
	ASSERT_EQ(0, nested_copy(&self->n.edu, &self->n.mem, S1_DST + 0x400,
				 G_PAGE_A + 0x400, 64));
	ASSERT_GMEM(&self->n.mem);
}

/*
 * smmu_two_edu: a second edu (device B, on a plain IOAS of its own, the
 * same iommufd) next to device A with its guest stage 1. Whatever A's guest
 * does wrong, B's DMAs go on, each device reaching its own memory only, and
 * B's faults are not A's guest's events.
 */
FIXTURE(smmu_two_edu) {
	FIXTURE_DATA(smmu_nested) n;
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
	__u32 a_sid;

	self->veventq_fd = -1;
	self->b.cdev = -1;
	self->b.iommufd = -1;
	smmu_nested_setup(_metadata, &self->n, NULL);
	ASSERT_EQ(0, nested_attach(&self->n.edu, self->n.viommu_id,
				   vste_s1(&self->n.mem), VSTE1_S1,
				   &self->hwpt_id));
	ASSERT_EQ(0, veventq_alloc(&self->n.edu, self->n.viommu_id,
				   E2E_VEVENTQ_TYPE_ARM_SMMUV3, 64, 0,
				   &self->veventq_id, &self->veventq_fd));

	ASSERT_EQ(0, edu_open_nth(&self->b, 1, self->n.edu.iommufd))
		TH_LOG("no second edu device (harness/boot.sh has two)");
	ASSERT_EQ(0, edu_sid(&self->n.edu, &a_sid));
	ASSERT_EQ(0, edu_sid(&self->b, &self->b_sid));
	note("device A %s (SID 0x%x), device B %s (SID 0x%x)",
	     self->n.edu.bdf, a_sid, self->b.bdf, self->b_sid);
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
	smmu_nested_teardown(_metadata, &self->n, NULL);
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
		ASSERT_GMEM(&self->n.mem);				\
	} while (0)

TEST_F(smmu_two_edu, bad_input_on_a)
{
	struct e2e_viommu_arm_smmuv3_invalidate cmds[2];
	struct e2e_hwpt_arm_smmuv3 vste = {
		.ste = { htole64(vste_s1(&self->n.mem) | 1ULL << 52),
			 htole64(VSTE1_S1) },
	};
	struct vevent ev[4];
	__u32 viommu2, id, done;

	ASSERT_B_WORKS(1);

	/* A bad vSTE, and a translating vSTE without vDEVICE */
	ASSERT_EQ(-EIO, hwpt_alloc(&self->n.edu, self->n.viommu_id, 0,
				   E2E_HWPT_DATA_ARM_SMMUV3, &vste,
				   sizeof(vste), &id));
	ASSERT_EQ(0, viommu_alloc(&self->n.edu, self->n.s2_id,
				  E2E_VIOMMU_TYPE_ARM_SMMUV3, &viommu2));
	ASSERT_EQ(-ENOENT, nested_attach(&self->n.edu, viommu2,
					 vste_s1(&self->n.mem), VSTE1_S1,
					 &id));
	ASSERT_B_WORKS(2);

	/* Refused commands; B's physical SID is nothing to A's guest */
	cmds[0] = inv_cmd(CMD_TLBI_NH_ALL, 0);
	cmds[1] = inv_cmd(CMD_CFGI_ALL, 31);
	ASSERT_EQ(-EIO, viommu_invalidate(&self->n.edu, self->n.viommu_id,
					  cmds, 2, &done));
	ASSERT_EQ(1, done);
	cmds[1] = inv_cmd(CMD_CFGI_CD | CMD0_SID(self->b_sid), CMD1_LEAF);
	ASSERT_EQ(-EIO, viommu_invalidate(&self->n.edu, self->n.viommu_id,
					  cmds, 2, &done));
	ASSERT_EQ(1, done);
	ASSERT_B_WORKS(3);

	/* A faults: A's guest hears of it, by A's vSID */
	ASSERT_EQ(0, edu_dma(&self->n.edu, S1_HOLE, 0, 4, true));
	ASSERT_EQ(1, vevents_wait(self->veventq_fd, ev, 4));
	ASSERT_VEVENT(&ev[0], 0, EVT_ID_TRANSLATION_FAULT, S1_HOLE);
	ASSERT_B_WORKS(4);

	/* B faults (its IOAS maps nothing there): not A's guest's event */
	ASSERT_EQ(0, edu_dma(&self->b, GMEM_IOVA + GMEM_SIZE, 0, 4, true));
	ASSERT_EQ(0, wait_readable(self->veventq_fd, GRACE_MS));
	ASSERT_B_WORKS(5);

	/* A's guest aborts A; A translates again afterwards */
	ASSERT_EQ(0, nested_attach(&self->n.edu, self->n.viommu_id,
				   STE0_V | STE0_CFG_ABORT << STE0_CFG_SHIFT,
				   0, &id));
	ASSERT_EQ(0, edu_dma(&self->n.edu, S1_DST, 0, 64, true));
	ASSERT_B_WORKS(6);
	ASSERT_EQ(0, vfio_attach(&self->n.edu, self->hwpt_id, NULL));
	ASSERT_EQ(0, nested_copy(&self->n.edu, &self->n.mem, S1_DST, G_PAGE_A,
				 64));
	ASSERT_GMEM(&self->n.mem);
	ASSERT_B_WORKS(7);
}

/* ---- end of the events, MSI, bad input and two-device fixtures ---- */

/*
 * ---- smmu_inv_bench: IOMMU_HWPT_INVALIDATE throughput on a vSMMU ----
 *
 * Not a test: figures for make bench-smmu (harness/bench-smmu.sh), which
 * runs this fixture alone, in the CANWBS boot, on our kernel and on
 * mainline's. harness/run.sh's plans select fixtures by name and leave it
 * out of make check.
 *
 * The setup is smmu_nested's: a guest stage 1 whose CD has ASID, nested on
 * the IOAS through a vSMMU and the edu device's vDEVICE, and attached. Each
 * call passes an array of TLBI_NH_VA commands for that ASID, a different
 * leaf page each, every one of which must be carried out. After a warm-up,
 * INV_BENCH_RUNS runs of INV_BENCH_RUN_MS each: the figures are the median
 * run's calls/s (and commands/s), with the slowest and fastest run's.
 */
#define INV_BENCH_RUNS		5
#define INV_BENCH_RUN_MS	2000
#define INV_BENCH_WARMUP_MS	500
#define INV_BENCH_MAX		256

FIXTURE(smmu_inv_bench) {
	FIXTURE_DATA(smmu_nested) n;
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
	unsigned int i;

	ASSERT_LE(variant->n, INV_BENCH_MAX);
	/* The device on a guest stage 1, as for the smmu_nested tests */
	smmu_nested_setup(_metadata, &self->n, NULL);
	ASSERT_EQ(0, nested_attach(&self->n.edu, self->n.viommu_id,
				   vste_s1(&self->n.mem), VSTE1_S1,
				   &self->hwpt_id));

	/* Leaf pages from S1_SRC up: the first two are mapped */
	for (i = 0; i < variant->n; i++)
		self->cmds[i] = inv_cmd(CMD_TLBI_NH_VA | CMD0_ASID(ASID),
					((S1_SRC + i * SZ_4K) & CMD1_VA_MASK) |
					CMD1_LEAF);
}

FIXTURE_TEARDOWN(smmu_inv_bench)
{
	smmu_nested_teardown(_metadata, &self->n, NULL);
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
	double start = now_s(), t;
	unsigned long calls = 0;
	unsigned int i;
	__u32 done;
	int ret;

	do {
		for (i = 0; i < 10; i++) {
			ret = viommu_invalidate(&self->n.edu, self->n.viommu_id,
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

/* ---- end of smmu_inv_bench ---- */

TEST_HARNESS_MAIN
