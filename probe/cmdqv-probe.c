// SPDX-License-Identifier: GPL-2.0-only
/*
 * cmdqv-probe: can this host give its VMs an accelerated vSMMU, with Tegra241
 * CMDQV queues of their own?
 *
 * For each SMMUv3 (sysfs "smmu3.*" IOMMUs) and each device behind it that is
 * bound to vfio-pci, the probe binds the device's VFIO cdev to an iommufd and
 * asks the kernel: IOMMU_GET_HW_INFO (SMMUv3 ID registers, then the CMDQV
 * type), then tries what a VMM does: a nesting parent, a vSMMU, a CMDQV
 * vIOMMU, each destroyed at once. Where something is refused it says the one
 * reason why. Human-readable by default, JSON with --json.
 *
 * Exit status:
 *   0  at least one device can have an accelerated vSMMU
 *   1  iommufd works, but no device can (the reasons are printed)
 *   2  bad usage
 *   3  permission denied (/dev/iommu or a VFIO cdev): run as root
 *   4  no iommufd (/dev/iommu missing: CONFIG_IOMMUFD, modprobe iommufd)
 *   5  no SMMUv3 on this host, or no device behind one bound to vfio-pci
 *
 * --root DIR looks for sys/ and dev/ under DIR instead of /, for tests.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

enum {
	EXIT_ACCEL = 0,
	EXIT_NO_ACCEL = 1,
	EXIT_USAGE = 2,
	EXIT_PERM = 3,
	EXIT_NO_IOMMUFD = 4,
	EXIT_NO_SMMU = 5,
};

/* The mainline uAPI numbers, in case the headers built against predate them */
#define PROBE_HW_INFO_ARM_SMMUV3	2
#define PROBE_HW_INFO_TEGRA241_CMDQV	3
#define PROBE_VIOMMU_ARM_SMMUV3		1
#define PROBE_VIOMMU_TEGRA241_CMDQV	2

struct smmuv3_info {		/* struct iommu_hw_info_arm_smmuv3 */
	__u32 flags, reserved, idr[6], iidr, aidr;
};

struct cmdqv_info {		/* struct iommu_hw_info_tegra241_cmdqv */
	__u32 flags;
	__u8 version, log2vcmdqs, log2vsids, reserved;
};

struct device_report {
	char bdf[64];
	char smmu[64];
	bool hw_info, nesting, cohacc, s2fwb, cmdqv;
	struct cmdqv_info cmdqv_info;
	bool accel, cmdqv_vintf;
	const char *reason;	/* why there is no accelerated vSMMU */
	const char *cmdqv_reason;
};

static const char *root = "";
static bool json;
static int nr_reports;
static struct device_report reports[64];

static void path_of(char *buf, size_t len, const char *fmt, const char *a,
		    const char *b)
{
	char rel[PATH_MAX];

	snprintf(rel, sizeof(rel), fmt, a, b);
	snprintf(buf, len, "%s%s", root, rel);
}

/* The driver a sysfs device is bound to, or "" */
static void driver_of(const char *devdir, char *drv, size_t len)
{
	char link[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "%s/driver", devdir);
	n = readlink(link, target, sizeof(target) - 1);
	drv[0] = 0;
	if (n > 0) {
		target[n] = 0;
		snprintf(drv, len, "%s", strrchr(target, '/') + 1);
	}
}

/* The VFIO cdev node of a device bound to vfio-pci: /dev/vfio/devices/vfioN */
static int cdev_of(const char *devdir, char *node, size_t len)
{
	char dir[PATH_MAX];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/vfio-dev", devdir);
	d = opendir(dir);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "vfio", 4))
			continue;
		snprintf(node, len, "%s/dev/vfio/devices/%s", root, de->d_name);
		closedir(d);
		return 0;
	}
	closedir(d);
	return -1;
}

static int hw_info(int iommufd, __u32 dev_id, __u32 type, void *data,
		   __u32 len)
{
	struct iommu_hw_info cmd = {
		.size = sizeof(cmd),
		.flags = type ? IOMMU_HW_INFO_FLAG_INPUT_TYPE : 0,
		.dev_id = dev_id,
		.data_len = len,
		.data_uptr = (uintptr_t)data,
		.in_data_type = type,
	};

	return ioctl(iommufd, IOMMU_GET_HW_INFO, &cmd) ? -errno : 0;
}

static int viommu_try(int iommufd, __u32 dev_id, __u32 hwpt_id, __u32 type)
{
	__u64 data[2] = {};
	struct iommu_viommu_alloc cmd = {
		.size = sizeof(cmd),
		.type = type,
		.dev_id = dev_id,
		.hwpt_id = hwpt_id,
	};
	struct iommu_destroy destroy = { .size = sizeof(destroy) };

	if (type == PROBE_VIOMMU_TEGRA241_CMDQV) {
		cmd.data_len = sizeof(data);
		cmd.data_uptr = (uintptr_t)data;
	}
	if (ioctl(iommufd, IOMMU_VIOMMU_ALLOC, &cmd))
		return -errno;
	destroy.id = cmd.out_viommu_id;
	ioctl(iommufd, IOMMU_DESTROY, &destroy);
	return 0;
}

/* What a VMM would do, tried and undone: nesting parent, vSMMU, CMDQV */
static void try_accel(struct device_report *r, int iommufd, __u32 dev_id)
{
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	struct iommu_hwpt_alloc hwpt = {
		.size = sizeof(hwpt),
		.flags = IOMMU_HWPT_ALLOC_NEST_PARENT,
		.dev_id = dev_id,
	};
	struct iommu_destroy destroy = { .size = sizeof(destroy) };
	int ret;

	if (ioctl(iommufd, IOMMU_IOAS_ALLOC, &ioas)) {
		r->reason = "cannot allocate an IOAS";
		return;
	}
	hwpt.pt_id = ioas.out_ioas_id;
	if (ioctl(iommufd, IOMMU_HWPT_ALLOC, &hwpt)) {
		r->reason = r->nesting ? "the kernel refuses a nesting parent" :
			    "the SMMU cannot nest (no stage 1 + stage 2)";
		goto out_ioas;
	}

	ret = viommu_try(iommufd, dev_id, hwpt.out_hwpt_id,
			 PROBE_VIOMMU_ARM_SMMUV3);
	if (ret == -EOPNOTSUPP)
		r->reason = !r->nesting ? "the SMMU cannot nest" :
			    !r->s2fwb ? "the root complex is not CANWBS (IORT) and the SMMU has no S2FWB" :
			    "the kernel refuses a vSMMU on this SMMU";
	else if (ret)
		r->reason = strerror(-ret);
	else
		r->accel = true;

	if (r->accel && r->cmdqv) {
		ret = viommu_try(iommufd, dev_id, hwpt.out_hwpt_id,
				 PROBE_VIOMMU_TEGRA241_CMDQV);
		if (!ret)
			r->cmdqv_vintf = true;
		else if (ret == -ENOSPC)
			r->cmdqv_reason = "every VINTF is in use";
		else
			r->cmdqv_reason = strerror(-ret);
	} else if (!r->cmdqv) {
		r->cmdqv_reason = "no CMDQV on this SMMU";
	} else {
		r->cmdqv_reason = "needs an accelerated vSMMU";
	}

	destroy.id = hwpt.out_hwpt_id;
	ioctl(iommufd, IOMMU_DESTROY, &destroy);
out_ioas:
	destroy.id = ioas.out_ioas_id;
	ioctl(iommufd, IOMMU_DESTROY, &destroy);
}

/* Bind the device's cdev to a fresh iommufd and ask; 0 or an exit status */
static int probe_device(struct device_report *r, const char *node)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct smmuv3_info smmu = {};
	char path[PATH_MAX];
	int iommufd, devfd, ret = 0;

	snprintf(path, sizeof(path), "%s/dev/iommu", root);
	iommufd = open(path, O_RDWR);
	if (iommufd < 0)
		return errno == EACCES || errno == EPERM ? EXIT_PERM :
		       EXIT_NO_IOMMUFD;
	devfd = open(node, O_RDWR);
	if (devfd < 0) {
		ret = errno == EACCES || errno == EPERM ? EXIT_PERM : 0;
		r->reason = "cannot open its VFIO cdev";
		goto out;
	}
	bind.iommufd = iommufd;
	if (ioctl(devfd, VFIO_DEVICE_BIND_IOMMUFD, &bind)) {
		r->reason = errno == EBUSY ? "in use (a VM has it?)" :
			    "cannot bind it to iommufd";
		goto out_dev;
	}

	if (!hw_info(iommufd, bind.out_devid, 0, &smmu, sizeof(smmu))) {
		r->hw_info = true;
		/* IDR0: S2P bit 0, S1P bit 1, COHACC bit 4; IDR3: FWB bit 8 */
		r->nesting = (smmu.idr[0] & 0x3) == 0x3;
		r->cohacc = smmu.idr[0] & (1 << 4);
		r->s2fwb = smmu.idr[3] & (1 << 8);
	}
	r->cmdqv = !hw_info(iommufd, bind.out_devid,
			    PROBE_HW_INFO_TEGRA241_CMDQV, &r->cmdqv_info,
			    sizeof(r->cmdqv_info));
	try_accel(r, iommufd, bind.out_devid);
out_dev:
	close(devfd);
out:
	close(iommufd);
	return ret;
}

static int probe_smmu(const char *smmu)
{
	char dir[PATH_MAX], devdir[PATH_MAX], drv[64], node[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int ret;

	path_of(dir, sizeof(dir), "/sys/class/iommu/%s/devices%s", smmu, "");
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d)) && nr_reports < 64) {
		struct device_report *r = &reports[nr_reports];

		if (de->d_name[0] == '.')
			continue;
		snprintf(devdir, sizeof(devdir), "%s/%s", dir, de->d_name);
		driver_of(devdir, drv, sizeof(drv));
		if (strcmp(drv, "vfio-pci") || cdev_of(devdir, node, sizeof(node)))
			continue;
		memset(r, 0, sizeof(*r));
		snprintf(r->bdf, sizeof(r->bdf), "%s", de->d_name);
		snprintf(r->smmu, sizeof(r->smmu), "%s", smmu);
		nr_reports++;
		ret = probe_device(r, node);
		if (ret) {
			closedir(d);
			return ret;
		}
	}
	closedir(d);
	return 0;
}

static void print_human(void)
{
	int i;

	for (i = 0; i != nr_reports; i++) {
		struct device_report *r = &reports[i];

		printf("%s behind %s: ", r->bdf, r->smmu);
		if (r->accel)
			printf("accelerated vSMMU possible");
		else
			printf("no accelerated vSMMU: %s", r->reason);
		if (r->hw_info)
			printf("; SMMU nesting %s, S2FWB %s, coherent %s",
			       r->nesting ? "yes" : "no", r->s2fwb ? "yes" : "no",
			       r->cohacc ? "yes" : "no");
		if (r->cmdqv)
			printf("; CMDQV v%u: %u VCMDQs per VINTF, %u SID slots, %s",
			       r->cmdqv_info.version,
			       1u << r->cmdqv_info.log2vcmdqs,
			       1u << r->cmdqv_info.log2vsids,
			       r->cmdqv_vintf ? "a VINTF is free" :
			       r->cmdqv_reason);
		else
			printf("; no CMDQV");
		printf("\n");
	}
}

static void print_json(int status)
{
	int i;

	printf("{\"status\": %d, \"iommufd\": %s, \"devices\": [", status,
	       status == EXIT_NO_IOMMUFD ? "false" : "true");
	for (i = 0; i != nr_reports; i++) {
		struct device_report *r = &reports[i];

		printf("%s\n  {\"device\": \"%s\", \"smmu\": \"%s\", \"accel_vsmmu\": %s, \"reason\": %s%s%s, \"nesting\": %s, \"s2fwb\": %s, \"coherent\": %s, \"cmdqv\": ",
		       i ? "," : "", r->bdf, r->smmu, r->accel ? "true" : "false",
		       r->reason ? "\"" : "", r->reason ? r->reason : "null",
		       r->reason ? "\"" : "", r->nesting ? "true" : "false",
		       r->s2fwb ? "true" : "false",
		       r->cohacc ? "true" : "false");
		if (r->cmdqv)
			printf("{\"version\": %u, \"vcmdqs_per_vintf\": %u, \"sid_slots\": %u, \"vintf_free\": %s}}",
			       r->cmdqv_info.version,
			       1u << r->cmdqv_info.log2vcmdqs,
			       1u << r->cmdqv_info.log2vsids,
			       r->cmdqv_vintf ? "true" : "false");
		else
			printf("null}");
	}
	printf("]}\n");
}

/* One line for a host where there is nothing to ask, and its status */
static int fail(int status, const char *msg)
{
	if (json)
		printf("{\"status\": %d, \"iommufd\": %s, \"error\": \"%s\", \"devices\": []}\n",
		       status, status == EXIT_NO_IOMMUFD ? "false" : "true", msg);
	else
		fprintf(stderr, "cmdqv-probe: %s\n", msg);
	return status;
}

int main(int argc, char **argv)
{
	char path[PATH_MAX];
	int i, nr_smmus = 0, ret, fd;
	struct dirent *de;
	DIR *d;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--root") && i + 1 < argc) {
			root = argv[++i];
		} else {
			fprintf(stderr, "usage: cmdqv-probe [--json] [--root DIR]\n");
			return EXIT_USAGE;
		}
	}

	snprintf(path, sizeof(path), "%s/dev/iommu", root);
	fd = open(path, O_RDWR);
	if (fd < 0 && errno == ENOENT)
		return fail(EXIT_NO_IOMMUFD, "no iommufd: /dev/iommu is missing (kernel without CONFIG_IOMMUFD, or 'modprobe iommufd')");
	if (fd < 0)
		return fail(EXIT_PERM, "permission denied opening /dev/iommu: run as root");
	close(fd);

	snprintf(path, sizeof(path), "%s/sys/class/iommu", root);
	d = opendir(path);
	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, "smmu3.", 6))
			continue;
		nr_smmus++;
		ret = probe_smmu(de->d_name);
		if (ret) {
			closedir(d);
			return fail(ret, ret == EXIT_PERM ?
				    "permission denied opening a VFIO cdev: run as root" :
				    "no iommufd: /dev/iommu went away");
		}
	}
	if (d)
		closedir(d);
	if (!nr_smmus)
		return fail(EXIT_NO_SMMU, "no SMMUv3 on this host: nothing for an accelerated vSMMU");
	if (!nr_reports)
		return fail(EXIT_NO_SMMU, "no device behind an SMMUv3 is bound to vfio-pci: bind the device to assign, then probe again");

	ret = EXIT_NO_ACCEL;
	for (i = 0; i != nr_reports; i++)
		if (reports[i].accel)
			ret = EXIT_ACCEL;
	if (json)
		print_json(ret);
	else
		print_human();
	return ret;
}
