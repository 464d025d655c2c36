// SPDX-License-Identifier: GPL-2.0-only
/*
 * e2e: the end-to-end programs' VMM side (see e2e.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "e2e.h"

#define EDU_VENDOR		0x1234
#define EDU_DEVICE		0x11e8
#define EDU_ID_VALUE		0x010000ed
#define EDU_DMA_TIMEOUT_MS	10000
#define EDU_MAX			8

#define PCI_CMD_OFFSET		0x04
#define PCI_CMD_MEMORY		0x2
#define PCI_CMD_MASTER		0x4

void note(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

long elapsed_ms(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1000 +
	       (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* A whole file into a buffer the caller frees; 0 or -errno (nothing to free) */
int read_file(const char *path, __u8 **buf, size_t *len)
{
	size_t cap = 0, n = 0;
	int fd, ret = 0;
	ssize_t r;

	*buf = NULL;
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	do {
		if (n == cap) {
			__u8 *p = realloc(*buf, cap += 4096);

			if (!p) {
				ret = -ENOMEM;
				break;
			}
			*buf = p;
		}
		r = read(fd, *buf + n, cap - n);
		if (r > 0)
			n += r;
		else if (r < 0)
			ret = -errno;
	} while (r > 0);
	close(fd);
	if (ret) {
		free(*buf);
		*buf = NULL;
		return ret;
	}
	*len = n;
	return 0;
}

__u32 get_le32(const __u8 *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (__u32)p[3] << 24;
}

/* A byte pattern that differs with the address, so misplaced data shows */
void fill_pattern(__u8 *p, size_t len, __u32 seed)
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

/*
 * The PCI root complex nodes of an IORT, and how many of them have CANWBS.
 * -EINVAL if a node runs past the table.
 */
int iort_count_rc(const __u8 *table, size_t len, unsigned int *rc,
		  unsigned int *canwbs)
{
	size_t off;
	__u32 count, i;

	*rc = 0;
	*canwbs = 0;
	if (len < IORT_NODE_OFFSET + 4 || memcmp(table, "IORT", 4))
		return -EINVAL;
	count = get_le32(table + IORT_NODE_COUNT);
	off = get_le32(table + IORT_NODE_OFFSET);
	for (i = 0; i < count; i++) {
		__u16 node_len;

		if (off + 16 > len)
			return -EINVAL;
		node_len = table[off + 1] | table[off + 2] << 8;
		if (node_len < 16 || off + node_len > len)
			return -EINVAL;
		if (table[off] == IORT_NODE_TYPE_RC) {
			if (node_len <= IORT_RC_MEMORY_FLAGS)
				return -EINVAL;
			(*rc)++;
			if (table[off + IORT_RC_MEMORY_FLAGS] & IORT_MF_CANWBS)
				(*canwbs)++;
		}
		off += node_len;
	}
	return 0;
}

/*
 * Whether the PCI root complexes promise coherent, write-back cacheable DMA
 * (IORT CANWBS, on every root complex node): then the kernel lets a VM own
 * a stage 1 although the SMMU cannot force write-back. QEMU's own IORT has
 * no CANWBS; the harness's CANWBS boot upgrades it (harness/iort-canwbs.sh).
 */
bool e2e_iort_canwbs(const char **why)
{
	static char buf[128];
	unsigned int rc, canwbs;
	__u8 *table;
	size_t len;
	int ret;

	*why = buf;
	ret = read_file(IORT_PATH, &table, &len);
	if (ret) {
		snprintf(buf, sizeof(buf), "no IORT (%s): not an ACPI boot",
			 strerror(-ret));
		return false;
	}
	ret = iort_count_rc(table, len, &rc, &canwbs);
	free(table);
	if (ret)
		snprintf(buf, sizeof(buf), "the IORT is malformed");
	else if (!rc)
		snprintf(buf, sizeof(buf), "the IORT has no PCI root complex");
	else if (canwbs < rc)
		snprintf(buf, sizeof(buf),
			 "IORT: CANWBS on %u of %u PCI root complex(es)",
			 canwbs, rc);
	else
		snprintf(buf, sizeof(buf),
			 "IORT: CANWBS on every PCI root complex (%u)", rc);
	return !ret && rc && canwbs == rc;
}

/*
 * Whether the SMMU of @dev_id has a Tegra241 CMDQV, present and in use by
 * the kernel: IOMMU_GET_HW_INFO answers for that type (a VMM's own check).
 */
bool e2e_has_cmdqv(int iommufd, __u32 dev_id, const char **why)
{
	static char buf[128];
	__u8 data[64];
	struct iommu_hw_info cmd = {
		.size = sizeof(cmd),
		.flags = IOMMU_HW_INFO_FLAG_INPUT_TYPE,
		.dev_id = dev_id,
		.data_len = sizeof(data),
		.data_uptr = (uintptr_t)data,
		.in_data_type = E2E_HW_INFO_TYPE_TEGRA241_CMDQV,
	};

	*why = buf;
	if (ioctl(iommufd, IOMMU_GET_HW_INFO, &cmd)) {
		snprintf(buf, sizeof(buf),
			 "no Tegra241 CMDQV (GET_HW_INFO of its type: %s)",
			 strerror(errno));
		return false;
	}
	/* Another type in reply is no CMDQV; the refusal tests then say so */
	if (cmd.out_data_type != E2E_HW_INFO_TYPE_TEGRA241_CMDQV) {
		snprintf(buf, sizeof(buf),
			 "GET_HW_INFO of the Tegra241 CMDQV type answered type %u",
			 cmd.out_data_type);
		return false;
	}
	snprintf(buf, sizeof(buf),
		 "a Tegra241 CMDQV is present (GET_HW_INFO of its type answers)");
	return true;
}

/*
 * Whether the kernel must let a VM have a vSMMU over @dev_id: the SMMU
 * nests (stage 1 and 2), and DMA stays coherent whatever the guest's
 * stage 1 says, because the root complex promises it (CANWBS) or the SMMU
 * forces write-back in stage 2 (S2FWB). Mainline's rule, from what the
 * hardware reports (IORT, ID registers); errata that take nesting away on
 * some Arm SMMUs are not known here.
 */
bool e2e_vsmmu_allowed(int iommufd, __u32 dev_id, const char **why)
{
	static char buf[192];
	struct e2e_hw_info_arm_smmuv3 info;
	const char *iort;
	bool canwbs;
	int ret;

	*why = buf;
	ret = smmu_hw_info(iommufd, dev_id, &info);
	if (ret) {
		snprintf(buf, sizeof(buf), "no vSMMU: no SMMUv3 info (%s)",
			 strerror(-ret));
		return false;
	}
	if ((info.idr[0] & (IDR0_S1P | IDR0_S2P)) != (IDR0_S1P | IDR0_S2P)) {
		snprintf(buf, sizeof(buf),
			 "no vSMMU: the SMMU does not nest (IDR0 0x%08x)",
			 info.idr[0]);
		return false;
	}
	canwbs = e2e_iort_canwbs(&iort);
	if (canwbs || (info.idr[3] & IDR3_FWB)) {
		snprintf(buf, sizeof(buf), "vSMMU allowed: %s",
			 canwbs ? iort : "the SMMU has S2FWB");
		return true;
	}
	snprintf(buf, sizeof(buf), "no vSMMU: no S2FWB on the SMMU, and %s",
		 iort);
	return false;
}

/* 0 or -errno, with a note naming what failed */
static int sysfs_write(const char *path, const char *val)
{
	ssize_t n;
	int fd, err;

	fd = open(path, O_WRONLY);
	if (fd < 0) {
		err = errno;
		note("open %s: %s", path, strerror(err));
		return -err;
	}
	n = write(fd, val, strlen(val));
	if (n != (ssize_t)strlen(val)) {
		err = n < 0 ? errno : EIO;
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

static int cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

/*
 * The PCI address of the @nth edu device, counting from 0 in address order,
 * whatever order sysfs lists them in (the harness's QEMU has two)
 */
int edu_find(unsigned int nth, char *bdf, size_t len)
{
	const char *root = "/sys/bus/pci/devices";
	char found[EDU_MAX][32];
	unsigned int n = 0;
	struct dirent *de;
	DIR *dir;
	int err;

	dir = opendir(root);
	if (!dir) {
		err = errno;
		note("opendir %s: %s", root, strerror(err));
		return -err;
	}
	while ((de = readdir(dir)) && n < EDU_MAX) {
		unsigned long vendor, device;
		char path[PATH_MAX];

		if (de->d_name[0] == '.' ||
		    strlen(de->d_name) >= sizeof(found[0]))
			continue;
		snprintf(path, sizeof(path), "%s/%s", root, de->d_name);
		if (sysfs_read_hex(path, "vendor", &vendor) ||
		    sysfs_read_hex(path, "device", &device) ||
		    vendor != EDU_VENDOR || device != EDU_DEVICE)
			continue;
		snprintf(found[n++], sizeof(found[0]), "%s", de->d_name);
	}
	closedir(dir);
	if (nth >= n) {
		note("no edu device (PCI %04x:%04x) number %u: %u found",
		     EDU_VENDOR, EDU_DEVICE, nth, n);
		return -ENODEV;
	}
	qsort(found, n, sizeof(found[0]), cmp_str);
	if (strlen(found[nth]) >= len)
		return -ENAMETOOLONG;
	snprintf(bdf, len, "%s", found[nth]);
	return 0;
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

int edu_bind_vfio_pci(const char *bdf)
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
	int fd = -ENOENT;
	DIR *dir;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	dir = opendir(path);
	if (!dir) {
		fd = -errno;
		note("opendir %s: %s (no VFIO cdev?)", path, strerror(-fd));
		return fd;
	}
	while ((de = readdir(dir))) {
		if (strncmp(de->d_name, "vfio", 4))
			continue;
		snprintf(path, sizeof(path), "/dev/vfio/devices/%s", de->d_name);
		fd = open(path, O_RDWR);
		if (fd < 0) {
			fd = -errno;
			note("open %s: %s", path, strerror(-fd));
		}
		break;
	}
	closedir(dir);
	return fd;
}

/*
 * Find the @nth edu, give it to vfio-pci, open its cdev and bind it to
 * @iommufd, a dup of it so that edu_close() of each device closes its own;
 * to an iommufd of its own if @iommufd is -1.
 */
int edu_open(struct edu *edu, unsigned int nth, int iommufd)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	int ret;

	memset(edu, 0, sizeof(*edu));
	edu->cdev = -1;
	edu->iommufd = -1;
	ret = edu_find(nth, edu->bdf, sizeof(edu->bdf));
	if (ret)
		return ret;
	ret = edu_bind_vfio_pci(edu->bdf);
	if (ret)
		return ret;
	edu->cdev = edu_open_cdev(edu->bdf);
	if (edu->cdev < 0)
		return edu->cdev;
	if (iommufd < 0)
		edu->iommufd = open("/dev/iommu", O_RDWR);
	else
		edu->iommufd = dup(iommufd);
	if (edu->iommufd < 0) {
		ret = -errno;
		note("open /dev/iommu: %s", strerror(-ret));
		return ret;
	}
	bind.iommufd = edu->iommufd;
	if (ioctl(edu->cdev, VFIO_DEVICE_BIND_IOMMUFD, &bind)) {
		ret = -errno;
		note("VFIO_DEVICE_BIND_IOMMUFD (%s): %s", edu->bdf,
		     strerror(-ret));
		return ret;
	}
	edu->dev_id = bind.out_devid;
	return 0;
}

/*
 * After the device is attached: memory decoding and bus mastering on, BAR0
 * mapped, and the device answers with its ID.
 */
int edu_enable(struct edu *edu)
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
	int ret;

	if (ioctl(edu->cdev, VFIO_DEVICE_GET_REGION_INFO, &cfg)) {
		ret = -errno;
		note("VFIO_DEVICE_GET_REGION_INFO (config): %s", strerror(-ret));
		return ret;
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
		ret = -errno;
		note("VFIO_DEVICE_GET_REGION_INFO (BAR0): %s", strerror(-ret));
		return ret;
	}
	if (!(bar.flags & VFIO_REGION_INFO_FLAG_MMAP) || bar.size < SZ_4K) {
		note("BAR0: flags 0x%x size 0x%llx: cannot mmap", bar.flags,
		     (unsigned long long)bar.size);
		return -EINVAL;
	}
	va = mmap(NULL, bar.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		  edu->cdev, bar.offset);
	if (va == MAP_FAILED) {
		ret = -errno;
		note("mmap BAR0: %s", strerror(-ret));
		return ret;
	}
	edu->bar = va;
	edu->bar_size = bar.size;
	id = edu_read32(edu, EDU_ID);
	if (id != EDU_ID_VALUE) {
		note("edu ID register reads 0x%08x, not 0x%08x", id,
		     EDU_ID_VALUE);
		return -EIO;
	}
	return 0;
}

void edu_close(struct edu *edu)
{
	if (edu->bar)
		munmap((void *)edu->bar, edu->bar_size);
	/* Closing the cdev unbinds the device from the iommufd */
	if (edu->cdev >= 0)
		close(edu->cdev);
	if (edu->iommufd >= 0)
		close(edu->iommufd);
}

/* The Stream ID of @edu: its requester ID, as QEMU's IORT maps it */
int edu_sid(const struct edu *edu, __u32 *sid)
{
	unsigned int seg, bus, dev, fn;

	if (sscanf(edu->bdf, "%x:%x:%x.%x", &seg, &bus, &dev, &fn) != 4)
		return -EINVAL;
	*sid = bus << 8 | dev << 3 | fn;
	return 0;
}

static void edu_write64(struct edu *edu, unsigned int reg, __u64 val)
{
	*(volatile __u64 *)(edu->bar + reg) = val;
}

static __u64 edu_read64(struct edu *edu, unsigned int reg)
{
	return *(volatile __u64 *)(edu->bar + reg);
}

/*
 * One edu DMA of @len bytes between bus address @iova and edu's buffer at
 * offset @off, the direction in @cmd (EDU_DMA_TO_RAM or EDU_DMA_FROM_RAM),
 * with EDU_DMA_IRQ for an interrupt when done. Waits for the device to
 * finish: 0, or -ETIMEDOUT.
 */
int edu_dma(struct edu *edu, __u64 iova, unsigned int off, unsigned int len,
	    unsigned int cmd)
{
	bool to_ram = cmd & EDU_DMA_TO_RAM;
	struct timespec start;

	if (off + len > EDU_BUF_SIZE || (cmd & ~(EDU_DMA_TO_RAM | EDU_DMA_IRQ)))
		return -EINVAL;
	__sync_synchronize();
	edu_write64(edu, EDU_DMA_SRC, to_ram ? EDU_BUF + off : iova);
	edu_write64(edu, EDU_DMA_DST, to_ram ? iova : EDU_BUF + off);
	edu_write64(edu, EDU_DMA_CNT, len);
	edu_write64(edu, EDU_DMA_CMD, EDU_DMA_RUN | cmd);
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

/*
 * Copy @len bytes within the guest memory through edu's buffer: RAM to edu
 * at @src, edu to RAM at @dst (offsets in the guest memory, which the
 * device reaches at the same IOVAs: no stage 1).
 */
int edu_copy(struct edu *edu, struct gmem *mem, size_t src, size_t dst,
	     unsigned int len)
{
	int ret;

	ret = edu_dma(edu, mem->iova + src, 0, len, EDU_DMA_FROM_RAM);
	if (ret)
		return ret;
	ret = edu_dma(edu, mem->iova + dst, 0, len, EDU_DMA_TO_RAM);
	if (ret)
		return ret;
	memcpy(mem->expect + dst, mem->expect + src, len);
	return 0;
}

/* Attach the device to an IOAS or HWPT; the HWPT it ended up on in *out */
int vfio_attach(struct edu *edu, __u32 pt_id, __u32 *out)
{
	struct vfio_device_attach_iommufd_pt cmd = {
		.argsz = sizeof(cmd),
		.pt_id = pt_id,
	};
	int ret;

	if (ioctl(edu->cdev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &cmd)) {
		ret = -errno;
		note("VFIO_DEVICE_ATTACH_IOMMUFD_PT %u: %s", pt_id,
		     strerror(-ret));
		return ret;
	}
	if (out)
		*out = cmd.pt_id;
	return 0;
}

int gmem_alloc(struct gmem *mem, __u64 iova, size_t size)
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

void gmem_free(struct gmem *mem)
{
	if (mem->va)
		munmap(mem->va, mem->size);
	free(mem->expect);
}

/* The first byte that is not what the test expects, -1 if none */
long gmem_first_diff(const struct gmem *mem)
{
	size_t i;

	for (i = 0; i < mem->size; i++)
		if (mem->va[i] != mem->expect[i])
			return i;
	return -1;
}

void gmem_report_diff(const struct gmem *mem, long off)
{
	if (off < 0)
		return;
	note("guest memory differs at offset 0x%lx (IOVA 0x%llx): 0x%02x, expected 0x%02x",
	     off, (unsigned long long)(mem->iova + off), mem->va[off],
	     mem->expect[off]);
}

/* The test itself writes @len bytes at @off: memory and expectation */
void gmem_set(struct gmem *mem, size_t off, const void *src, size_t len)
{
	memcpy(mem->va + off, src, len);
	memcpy(mem->expect + off, src, len);
}

static void gmem_put_u64(struct gmem *mem, size_t off, __u64 val)
{
	__u64 le = htole64(val);

	gmem_set(mem, off, &le, sizeof(le));
}

int ioas_alloc(int iommufd, __u32 *ioas_id)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
	int ret;

	if (ioctl(iommufd, IOMMU_IOAS_ALLOC, &cmd)) {
		ret = -errno;
		note("IOMMU_IOAS_ALLOC: %s", strerror(-ret));
		return ret;
	}
	*ioas_id = cmd.out_ioas_id;
	return 0;
}

int ioas_map(int iommufd, __u32 ioas_id, void *va, size_t len, __u64 iova)
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
	int ret;

	if (ioctl(iommufd, IOMMU_IOAS_MAP, &cmd)) {
		ret = -errno;
		note("IOMMU_IOAS_MAP 0x%llx+0x%zx: %s",
		     (unsigned long long)iova, len, strerror(-ret));
		return ret;
	}
	return 0;
}

int ioas_unmap(int iommufd, __u32 ioas_id, __u64 iova, size_t len)
{
	struct iommu_ioas_unmap cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
		.iova = iova,
		.length = len,
	};
	int ret;

	if (ioctl(iommufd, IOMMU_IOAS_UNMAP, &cmd)) {
		ret = -errno;
		note("IOMMU_IOAS_UNMAP 0x%llx+0x%zx: %s",
		     (unsigned long long)iova, len, strerror(-ret));
		return ret;
	}
	return 0;
}

/* The SMMUv3 ID registers of @dev_id's SMMU (IOMMU_GET_HW_INFO, default type) */
int smmu_hw_info(int iommufd, __u32 dev_id, struct e2e_hw_info_arm_smmuv3 *info)
{
	struct iommu_hw_info cmd = {
		.size = sizeof(cmd),
		.dev_id = dev_id,
		.data_len = sizeof(*info),
		.data_uptr = (uintptr_t)info,
	};
	int ret;

	memset(info, 0, sizeof(*info));
	if (ioctl(iommufd, IOMMU_GET_HW_INFO, &cmd)) {
		ret = -errno;
		note("IOMMU_GET_HW_INFO: %s", strerror(-ret));
		return ret;
	}
	if (cmd.out_data_type != E2E_HW_INFO_TYPE_ARM_SMMUV3) {
		note("IOMMU_GET_HW_INFO: type %u, not SMMUv3", cmd.out_data_type);
		return -EOPNOTSUPP;
	}
	return 0;
}

/* The refusals are the tests' business: no note here */
int hwpt_alloc(struct edu *edu, __u32 pt_id, __u32 flags, __u32 data_type,
	       void *data, __u32 data_len, __u32 *out)
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

int viommu_alloc(struct edu *edu, __u32 hwpt_id, __u32 type, __u32 *out)
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

int vdevice_alloc(struct edu *edu, __u32 viommu_id, __u64 virt_id,
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

int veventq_alloc(struct edu *edu, __u32 viommu_id, __u32 type, __u32 depth,
		  __u32 flags, __u32 *id, int *fd)
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

/*
 * Invalidate through the vIOMMU: @n 16-byte SMMUv3 commands. The number the
 * kernel handled in *done.
 */
int viommu_invalidate(struct edu *edu, __u32 viommu_id,
		      struct e2e_viommu_arm_smmuv3_invalidate *cmds, __u32 n,
		      __u32 *done)
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

int iommufd_destroy(int iommufd, __u32 id)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };

	return ioctl(iommufd, IOMMU_DESTROY, &cmd) ? -errno : 0;
}

/* Map one 4 KiB stage-1 page @iova -> guest physical @pa in table set @l1 */
void s1_map(struct gmem *mem, size_t l1, size_t l2, size_t l3, __u64 iova,
	    __u64 pa)
{
	gmem_put_u64(mem, l1 + ((iova >> 30) & 0x1ff) * 8,
		     (gpa(mem, l2) & PTE_ADDR_MASK) | PTE_TABLE);
	gmem_put_u64(mem, l2 + ((iova >> 21) & 0x1ff) * 8,
		     (gpa(mem, l3) & PTE_ADDR_MASK) | PTE_TABLE);
	gmem_put_u64(mem, l3 + ((iova >> 12) & 0x1ff) * 8,
		     (pa & PTE_ADDR_MASK) | PTE_PAGE | PTE_ATTRIDX(0) |
		     PTE_AP_UNPRIV | PTE_SH_ISH | PTE_AF | PTE_NG);
}

/* The guest's one CD, at G_CD: ASID @asid, tables from @l1 */
void s1_write_cd(struct gmem *mem, __u16 asid, size_t l1)
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
		gmem_put_u64(mem, G_CD + i * 8, cd[i]);
}

/* A translating vSTE's first word: stage 1 through the guest's CD table */
__u64 vste_s1(const struct gmem *mem)
{
	return STE0_V | STE0_CFG_S1_TRANS << STE0_CFG_SHIFT |
	       STE0_S1FMT_LINEAR | (gpa(mem, G_CD) & STE0_S1CTXPTR_MASK);
}

/* The guest memory with its stage 1 (see struct vsmmu) */
static int vsmmu_guest(struct gmem *mem)
{
	__u8 page[SZ_4K];
	size_t off;
	int ret;

	ret = gmem_alloc(mem, GMEM_IOVA, GMEM_SIZE);
	if (ret) {
		note("guest memory: %s", strerror(-ret));
		return ret;
	}
	/* The CD and stage-1 tables start empty: invalid entries everywhere */
	memset(page, 0, sizeof(page));
	for (off = G_CD; off <= G_L3_ALT; off += SZ_4K)
		gmem_set(mem, off, page, sizeof(page));
	fill_pattern(page, sizeof(page), 0x5c);
	gmem_set(mem, G_SRC, page, sizeof(page));
	s1_map(mem, G_L1, G_L2, G_L3, S1_SRC, gpa(mem, G_SRC));
	s1_map(mem, G_L1, G_L2, G_L3, S1_DST, gpa(mem, G_PAGE_A));
	s1_write_cd(mem, ASID, G_L1);
	return 0;
}

/*
 * The VM of struct vsmmu, for @vm->edu already open; the caller checked
 * that the machine allows a vSMMU (e2e_vsmmu_allowed()), so every step
 * must work. vsmmu_teardown() closes the device too.
 */
int vsmmu_setup(struct vsmmu *vm)
{
	struct edu *edu = &vm->edu;
	int ret;

	ret = vsmmu_guest(&vm->mem);
	if (ret)
		return ret;
	ret = ioas_alloc(edu->iommufd, &vm->ioas_id);
	if (ret)
		return ret;
	ret = ioas_map(edu->iommufd, vm->ioas_id, vm->mem.va, vm->mem.size,
		       vm->mem.iova);
	if (ret)
		return ret;
	ret = hwpt_alloc(edu, vm->ioas_id, IOMMU_HWPT_ALLOC_NEST_PARENT,
			 IOMMU_HWPT_DATA_NONE, NULL, 0, &vm->s2_id);
	if (ret) {
		note("IOMMU_HWPT_ALLOC (nesting parent): %s", strerror(-ret));
		return ret;
	}
	ret = vfio_attach(edu, vm->s2_id, NULL);
	if (ret)
		return ret;
	ret = viommu_alloc(edu, vm->s2_id, E2E_VIOMMU_TYPE_ARM_SMMUV3,
			   &vm->viommu_id);
	if (ret) {
		note("IOMMU_VIOMMU_ALLOC (vSMMU): %s", strerror(-ret));
		return ret;
	}
	ret = vdevice_alloc(edu, vm->viommu_id, VSID, &vm->vdev_id);
	if (ret) {
		note("IOMMU_VDEVICE_ALLOC (vSID 0x%x): %s", VSID,
		     strerror(-ret));
		return ret;
	}
	return edu_enable(edu);
}

void vsmmu_teardown(struct vsmmu *vm)
{
	edu_close(&vm->edu);
	gmem_free(&vm->mem);
}

/* Allocate a nested HWPT for a vSTE on the vIOMMU and attach the device */
int nested_attach(struct edu *edu, __u32 viommu_id, __u64 ste0, __u64 ste1,
		  __u32 *hwpt_id)
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

/*
 * Stage-1 DMA of the source page's first @len bytes to @iova, which lands
 * in guest memory at @dst, or nowhere if @dst is -1
 */
int nested_copy(struct edu *edu, struct gmem *mem, __u64 iova, size_t dst,
		unsigned int len)
{
	int ret;

	ret = edu_dma(edu, S1_SRC, 0, len, EDU_DMA_FROM_RAM);
	if (ret)
		return ret;
	ret = edu_dma(edu, iova, 0, len, EDU_DMA_TO_RAM);
	if (ret)
		return ret;
	if (dst != (size_t)-1)
		memcpy(mem->expect + dst, mem->expect + G_SRC, len);
	return 0;
}

/* 1 once @fd is readable within @ms, 0 if not, -errno */
int wait_readable(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int ret;

	ret = poll(&pfd, 1, ms);
	if (ret < 0)
		return -errno;
	return ret && (pfd.revents & POLLIN);
}

/*
 * Read what a vEVENTQ holds, in one read(), whatever its type: up to @max
 * entries, each a header into @hdr and, unless it says events were lost,
 * @data_len bytes of the type's data into @data (zeroed for a lost one).
 * The number of entries, or -errno (-EMSGSIZE for a cut or extra entry).
 */
int vevents_read_raw(int fd, size_t data_len,
		     struct iommufd_vevent_header *hdr, __u8 *data, int max)
{
	__u8 buf[4096];
	size_t off = 0;
	ssize_t len;
	int n = 0;

	len = read(fd, buf, sizeof(buf));
	if (len < 0)
		return -errno;
	while (off < (size_t)len) {
		if (n == max || off + sizeof(*hdr) > (size_t)len)
			return -EMSGSIZE;
		memcpy(&hdr[n], buf + off, sizeof(*hdr));
		off += sizeof(*hdr);
		memset(data + n * data_len, 0, data_len);
		if (!(hdr[n].flags & IOMMU_VEVENTQ_FLAG_LOST_EVENTS)) {
			if (off + data_len > (size_t)len)
				return -EMSGSIZE;
			memcpy(data + n * data_len, buf + off, data_len);
			off += data_len;
		}
		n++;
	}
	return n;
}

/*
 * Read what an SMMUv3 vEVENTQ holds, in one read(), into @ev (room for @max,
 * at most VEVENTS_MAX). The number of entries, or -errno.
 */
int vevents_read(int fd, struct vevent *ev, int max)
{
	struct e2e_vevent_arm_smmuv3 data[VEVENTS_MAX];
	struct iommufd_vevent_header hdr[VEVENTS_MAX];
	int n, i, j;

	if (max > VEVENTS_MAX)
		return -EINVAL;
	n = vevents_read_raw(fd, sizeof(data[0]), hdr, (__u8 *)data, max);
	for (i = 0; i < n; i++) {
		ev[i].hdr = hdr[i];
		for (j = 0; j < 4; j++)
			ev[i].evt[j] = le64toh(data[i].evt[j]);
		note("vEVENT: flags 0x%x sequence %u: %016llx %016llx %016llx %016llx",
		     ev[i].hdr.flags, ev[i].hdr.sequence,
		     (unsigned long long)ev[i].evt[0],
		     (unsigned long long)ev[i].evt[1],
		     (unsigned long long)ev[i].evt[2],
		     (unsigned long long)ev[i].evt[3]);
	}
	return n;
}

/* Wait for an entry, then read all there are: their number, or -errno */
int vevents_wait(int fd, struct vevent *ev, int max)
{
	int ret;

	ret = wait_readable(fd, EVT_WAIT_MS);
	if (ret <= 0)
		return ret;
	return vevents_read(fd, ev, max);
}
