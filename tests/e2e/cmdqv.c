// SPDX-License-Identifier: GPL-2.0-only
/*
 * cmdqv: the VMM of a VM with a Tegra241 CMDQV. Its vIOMMU is of the CMDQV
 * type, so it owns a VINTF of the host's CMDQV: the VMM maps the VINTF's
 * logical page 0 (the queues' CONS, PROD, CONFIG, STATUS, GERROR, GERRORN)
 * from the iommufd, places the guest's command queues in guest memory as HW
 * queues, and then plays the guest: it enables a queue through the page,
 * writes commands into guest memory and moves PROD. The hardware executes
 * them with no exit to the host, and must keep them to what a guest may do:
 * TLB invalidations on the VM's own VMID, ATC invalidations on the Stream
 * IDs of the VM's own devices (its vDEVICEs' slots), nothing else.
 *
 * The guest is that of struct vsmmu (vsmmu_setup(): stage 1 in the guest
 * memory, a nesting parent over it), with its plain vSMMU traded for a
 * CMDQV one (cmdqv_vm_setup()). On the harness's QEMU the CMDQV is emulated
 * (MACHINE=cmdqv) and executes a queue synchronously on the PROD write;
 * its trace (console log's .cmdqv file) shows each command with its VINTF,
 * VMID and Stream ID. Needs a CMDQV and a machine that allows a vSMMU
 * (the CANWBS boot): elsewhere every case skips.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "e2e.h"

/*
 * The Tegra241 CMDQV uAPI that e2e.h leaves out, mainline's numbers and
 * layout (include/uapi/linux/iommufd.h), as e2e.h does for the rest
 */
#define CMDQV_VEVENTQ_TYPE	2	/* IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV */

struct cmdqv_hw_info {		/* struct iommu_hw_info_tegra241_cmdqv */
	__u32 flags;
	__u8 version;
	__u8 log2vcmdqs;
	__u8 log2vsids;
	__u8 __reserved;
};

struct cmdqv_vevent {		/* struct iommu_vevent_tegra241_cmdqv */
	__u64 lvcmdq_err_map[2];	/* little endian */
};

/*
 * The harness's QEMU CMDQV (hw/arm/tegra241-cmdqv-emu.c defaults): version
 * 1, 4 VINTFs of which VINTF0 is the host's, 8 VCMDQs (2 per VINTF), 16
 * Stream ID slots per VINTF.
 */
#define CMDQV_VERSION		1
#define LOG2VCMDQS		1
#define LOG2VSIDS		4
#define NUM_LVCMDQS		(1 << LOG2VCMDQS)
#define VM_VINTFS		3

/* A VINTF's logical page 0: logical queue q's registers at 0x80 * q */
#define VINTF_PAGE_SIZE		0x10000
#define LVCMDQ(q)		(0x80 * (q))
#define VCMDQ_CONS		0x00
#define  CONS_RD		0x000fffff	/* index and wrap */
#define  CONS_ERR(v)		(((v) >> 24) & 0x7f)
#define VCMDQ_PROD		0x04
#define VCMDQ_CONFIG		0x08
#define  CONFIG_EN		0x1
#define VCMDQ_STATUS		0x0c
#define  STATUS_ENABLED		0x1
#define VCMDQ_GERROR		0x10
#define VCMDQ_GERRORN		0x14
#define  GERROR_CMDQ_ERR	0x1
#define VCMDQ_REGS		0x18

/* CONS.ERR: SMMUv3's CERROR_ILL, what the CMDQV makes of a refused command */
#define CERROR_ILL		1

/* Commands beyond those in e2e.h */
#define CMD_SYNC		0x46
#define CMD0_VMID(x)		((__u64)(x) << 32)
#define CMD1_ATC_SIZE_ALL	52	/* ATC_INV: all of the address space */

/*
 * The guest's queues: one 4 KiB page each in the guest memory, clear of the
 * stage-1 layout of e2e.h, so physically contiguous and aligned to its
 * length as the CMDQV wants: 256 commands of 16 bytes.
 */
#define G_VCMDQS		0x10000
#define G_VCMDQS_ALT		0x20000	/* for a second vIOMMU of the VM */
#define VCMDQ_LEN		SZ_4K
#define VCMDQ_ENTS		(VCMDQ_LEN / 16)
#define VCMDQ_PROD_MASK		(2 * VCMDQ_ENTS - 1)	/* index and wrap */

/* The model runs a queue on the PROD write; a real CMDQV takes a moment */
#define VCMDQ_WAIT_MS		1000

/* The guest's side of one logical queue */
struct vcmdq {
	__u32 id;		/* its HW queue, 0 if none */
	__u32 prod;		/* the next PROD: index and wrap */
};

/* A VM whose vIOMMU is a CMDQV one: its VINTF's page 0 mapped */
struct cmdqv_vm {
	struct vsmmu vm;
	size_t qmem;		/* its queues' memory: offset in guest memory */
	__u64 mmap_offset;
	__u64 mmap_length;
	volatile __u32 *page;	/* NULL when not mapped */
	struct vcmdq q[NUM_LVCMDQS];
};

/* The registers of a logical queue, in one look */
struct vcmdq_regs {
	__u32 cons;
	__u32 prod;
	__u32 config;
	__u32 status;
	__u32 gerror;
	__u32 gerrorn;
};

/* One entry of a CMDQV vEVENTQ */
struct cmdqv_event {
	struct iommufd_vevent_header hdr;
	__u64 map[2];		/* LVCMDQ_ERR_MAP, CPU order */
};

/* Queue memory written, then the doorbell: the device must see the former */
static inline void io_wmb(void)
{
#ifdef __aarch64__
	__asm__ __volatile__("dsb st" ::: "memory");
#else
	__sync_synchronize();
#endif
}

static int cmdqv_get_hw_info(int iommufd, __u32 dev_id,
			     struct cmdqv_hw_info *info, __u32 *type,
			     __u32 *len)
{
	struct iommu_hw_info cmd = {
		.size = sizeof(cmd),
		.flags = IOMMU_HW_INFO_FLAG_INPUT_TYPE,
		.dev_id = dev_id,
		.data_len = sizeof(*info),
		.data_uptr = (uintptr_t)info,
		.in_data_type = E2E_HW_INFO_TYPE_TEGRA241_CMDQV,
	};

	memset(info, 0x5a, sizeof(*info));
	if (ioctl(iommufd, IOMMU_GET_HW_INFO, &cmd))
		return -errno;
	*type = cmd.out_data_type;
	*len = cmd.data_len;
	return 0;
}

/* The refusals are the tests' business: no note here */
static int cmdqv_viommu_alloc(struct edu *edu, __u32 s2_id,
			      struct e2e_viommu_tegra241_cmdqv *data, __u32 *id)
{
	struct iommu_viommu_alloc cmd = {
		.size = sizeof(cmd),
		.type = E2E_VIOMMU_TYPE_TEGRA241_CMDQV,
		.dev_id = edu->dev_id,
		.hwpt_id = s2_id,
		.data_len = sizeof(*data),
		.data_uptr = (uintptr_t)data,
	};

	if (ioctl(edu->iommufd, IOMMU_VIOMMU_ALLOC, &cmd))
		return -errno;
	*id = cmd.out_viommu_id;
	return 0;
}

static int vintf_mmap(int iommufd, __u64 offset, size_t len, int prot,
		      int flags, volatile __u32 **page)
{
	void *va = mmap(NULL, len, prot, flags, iommufd, offset);

	if (va == MAP_FAILED)
		return -errno;
	*page = va;
	return 0;
}

static int hw_queue_alloc(struct edu *edu, __u32 viommu_id, __u32 index,
			  __u64 iova, __u64 len, __u32 *id)
{
	struct iommu_hw_queue_alloc cmd = {
		.size = sizeof(cmd),
		.viommu_id = viommu_id,
		.type = E2E_HW_QUEUE_TYPE_TEGRA241_CMDQV,
		.index = index,
		.nesting_parent_iova = iova,
		.length = len,
	};

	if (ioctl(edu->iommufd, IOMMU_HW_QUEUE_ALLOC, &cmd))
		return -errno;
	*id = cmd.out_hw_queue_id;
	return 0;
}

/*
 * Give the VM a CMDQV vIOMMU on its nesting parent, with the vDEVICE (vSID
 * VSID) on it, and map its VINTF's page
 */
static int cmdqv_vintf_take(struct cmdqv_vm *cv)
{
	struct e2e_viommu_tegra241_cmdqv data;
	struct vsmmu *vm = &cv->vm;
	struct edu *edu = &vm->edu;
	int ret;

	ret = cmdqv_viommu_alloc(edu, vm->s2_id, &data, &vm->viommu_id);
	if (ret) {
		note("IOMMU_VIOMMU_ALLOC (CMDQV): %s", strerror(-ret));
		return ret;
	}
	cv->mmap_offset = data.out_vintf_mmap_offset;
	cv->mmap_length = data.out_vintf_mmap_length;
	cv->qmem = G_VCMDQS;
	ret = vdevice_alloc(edu, vm->viommu_id, VSID, &vm->vdev_id);
	if (ret) {
		note("IOMMU_VDEVICE_ALLOC (vSID 0x%x): %s", VSID,
		     strerror(-ret));
		return ret;
	}
	ret = vintf_mmap(edu->iommufd, cv->mmap_offset, cv->mmap_length,
			 PROT_READ | PROT_WRITE, MAP_SHARED, &cv->page);
	if (ret)
		note("mmap of the VINTF page (offset 0x%llx, 0x%llx bytes): %s",
		     (unsigned long long)cv->mmap_offset,
		     (unsigned long long)cv->mmap_length, strerror(-ret));
	return ret;
}

/*
 * Trade the plain vSMMU of vsmmu_setup() for a CMDQV vIOMMU. The device is
 * on the nesting parent: nothing else holds the vSMMU.
 */
static int cmdqv_trade(struct cmdqv_vm *cv)
{
	struct vsmmu *vm = &cv->vm;
	int ret;

	/* A device has one vDEVICE: the vSMMU's goes first */
	ret = iommufd_destroy(vm->edu.iommufd, vm->vdev_id);
	if (!ret)
		ret = iommufd_destroy(vm->edu.iommufd, vm->viommu_id);
	if (ret) {
		note("IOMMU_DESTROY of the plain vSMMU: %s", strerror(-ret));
		return ret;
	}
	return cmdqv_vintf_take(cv);
}

/* The VM of struct cmdqv_vm, for @cv->vm.edu already open */
static int cmdqv_vm_setup(struct cmdqv_vm *cv)
{
	int ret;

	ret = vsmmu_setup(&cv->vm);
	if (ret)
		return ret;
	return cmdqv_trade(cv);
}

static void cmdqv_vm_unmap(struct cmdqv_vm *cv)
{
	if (cv->page)
		munmap((void *)cv->page, cv->mmap_length);
	cv->page = NULL;
}

/*
 * Unmapped first: the mapping holds the vIOMMU, and the iommufd's objects
 * go only once nothing maps them.
 */
static void cmdqv_vm_teardown(struct cmdqv_vm *cv)
{
	cmdqv_vm_unmap(cv);
	vsmmu_teardown(&cv->vm);
}

/* The guest physical address of queue @lidx's memory */
static __u64 vcmdq_gpa(const struct cmdqv_vm *cv, unsigned int lidx)
{
	return gpa(&cv->vm.mem, cv->qmem + lidx * VCMDQ_LEN);
}

static __u32 vcmdq_read(const struct cmdqv_vm *cv, unsigned int lidx,
			unsigned int reg)
{
	return cv->page[(LVCMDQ(lidx) + reg) / 4];
}

static void vcmdq_write(struct cmdqv_vm *cv, unsigned int lidx,
			unsigned int reg, __u32 val)
{
	cv->page[(LVCMDQ(lidx) + reg) / 4] = val;
}

static void vcmdq_regs(const struct cmdqv_vm *cv, unsigned int lidx,
		       struct vcmdq_regs *r)
{
	r->cons = vcmdq_read(cv, lidx, VCMDQ_CONS);
	r->prod = vcmdq_read(cv, lidx, VCMDQ_PROD);
	r->config = vcmdq_read(cv, lidx, VCMDQ_CONFIG);
	r->status = vcmdq_read(cv, lidx, VCMDQ_STATUS);
	r->gerror = vcmdq_read(cv, lidx, VCMDQ_GERROR);
	r->gerrorn = vcmdq_read(cv, lidx, VCMDQ_GERRORN);
	note("LVCMDQ%u: CONS 0x%08x PROD 0x%08x CONFIG 0x%x STATUS 0x%x GERROR 0x%x GERRORN 0x%x",
	     lidx, r->cons, r->prod, r->config, r->status, r->gerror,
	     r->gerrorn);
}

/* The guest's queue @lidx as a HW queue, in its page of guest memory */
static int vcmdq_alloc(struct cmdqv_vm *cv, unsigned int lidx)
{
	struct vcmdq *q = &cv->q[lidx];
	int ret;

	ret = hw_queue_alloc(&cv->vm.edu, cv->vm.viommu_id, lidx,
			     vcmdq_gpa(cv, lidx), VCMDQ_LEN, &q->id);
	if (ret)
		note("IOMMU_HW_QUEUE_ALLOC (index %u): %s", lidx,
		     strerror(-ret));
	q->prod = 0;
	return ret;
}

/* Poll until (@reg & @mask) == @want: 0, or -ETIMEDOUT */
static int vcmdq_poll(const struct cmdqv_vm *cv, unsigned int lidx,
		      unsigned int reg, __u32 mask, __u32 want)
{
	struct timespec start;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while ((vcmdq_read(cv, lidx, reg) & mask) != want) {
		if (elapsed_ms(&start) > VCMDQ_WAIT_MS)
			return -ETIMEDOUT;
		usleep(100);
	}
	return 0;
}

/* What the guest's driver does: CONFIG.EN, then wait for STATUS to follow */
static int vcmdq_enable(struct cmdqv_vm *cv, unsigned int lidx)
{
	vcmdq_write(cv, lidx, VCMDQ_CONFIG, CONFIG_EN);
	return vcmdq_poll(cv, lidx, VCMDQ_STATUS, STATUS_ENABLED,
			  STATUS_ENABLED);
}

/* Write command @idx of queue @lidx in the guest memory */
static void vcmdq_set(struct cmdqv_vm *cv, unsigned int lidx, __u32 idx,
		      __u64 w0, __u64 w1)
{
	__u64 cmd[2] = { htole64(w0), htole64(w1) };

	gmem_set(&cv->vm.mem,
		 cv->qmem + lidx * VCMDQ_LEN + (idx % VCMDQ_ENTS) * 16, cmd,
		 sizeof(cmd));
}

/* Queue a command (PROD not written yet); its index */
static __u32 vcmdq_push(struct cmdqv_vm *cv, unsigned int lidx, __u64 w0,
			__u64 w1)
{
	struct vcmdq *q = &cv->q[lidx];
	__u32 idx = q->prod;

	vcmdq_set(cv, lidx, idx, w0, w1);
	q->prod = (q->prod + 1) & VCMDQ_PROD_MASK;
	return idx;
}

static bool vcmdq_error(const struct cmdqv_vm *cv, unsigned int lidx)
{
	return (vcmdq_read(cv, lidx, VCMDQ_GERROR) ^
		vcmdq_read(cv, lidx, VCMDQ_GERRORN)) & GERROR_CMDQ_ERR;
}

/*
 * Wait for queue @lidx to consume up to its PROD: 0, -EIO once it stopped
 * on an error (GERROR out of step with GERRORN), -ETIMEDOUT.
 */
static int vcmdq_wait(struct cmdqv_vm *cv, unsigned int lidx)
{
	__u32 prod = cv->q[lidx].prod;
	struct timespec start;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		if ((vcmdq_read(cv, lidx, VCMDQ_CONS) & CONS_RD) == prod)
			return 0;
		if (vcmdq_error(cv, lidx))
			return -EIO;
		if (elapsed_ms(&start) > VCMDQ_WAIT_MS)
			return -ETIMEDOUT;
		usleep(100);
	}
}

/* Ring the doorbell: PROD after the commands, then wait for the queue */
static int vcmdq_kick(struct cmdqv_vm *cv, unsigned int lidx)
{
	io_wmb();
	vcmdq_write(cv, lidx, VCMDQ_PROD, cv->q[lidx].prod);
	return vcmdq_wait(cv, lidx);
}

/* The guest acknowledges its queue's error: GERRORN takes GERROR */
static void vcmdq_ack(struct cmdqv_vm *cv, unsigned int lidx)
{
	io_wmb();
	vcmdq_write(cv, lidx, VCMDQ_GERRORN,
		    vcmdq_read(cv, lidx, VCMDQ_GERROR));
}

/* Read what a CMDQV vEVENTQ holds, in one read(): the number, or -errno */
static int cmdqv_events_read(int fd, struct cmdqv_event *ev, int max)
{
	struct iommufd_vevent_header hdr[VEVENTS_MAX];
	struct cmdqv_vevent data[VEVENTS_MAX];
	int n, i;

	if (max > VEVENTS_MAX)
		return -EINVAL;
	n = vevents_read_raw(fd, sizeof(data[0]), hdr, (__u8 *)data, max);
	for (i = 0; i < n; i++) {
		ev[i].hdr = hdr[i];
		ev[i].map[0] = le64toh(data[i].lvcmdq_err_map[0]);
		ev[i].map[1] = le64toh(data[i].lvcmdq_err_map[1]);
		note("vEVENT: flags 0x%x sequence %u: LVCMDQ_ERR_MAP %016llx %016llx",
		     ev[i].hdr.flags, ev[i].hdr.sequence,
		     (unsigned long long)ev[i].map[0],
		     (unsigned long long)ev[i].map[1]);
	}
	return n;
}

static int cmdqv_events_wait(int fd, struct cmdqv_event *ev, int max)
{
	int ret;

	ret = wait_readable(fd, EVT_WAIT_MS);
	if (ret <= 0)
		return ret;
	return cmdqv_events_read(fd, ev, max);
}

/* New data at the source page, so a DMA to the wrong page would show */
static void new_source(struct gmem *mem, __u32 seed)
{
	fill_pattern(mem->va + G_SRC, 256, seed);
	memcpy(mem->expect + G_SRC, mem->va + G_SRC, 256);
}

/* The queue ran all it was given, without an error, and is still enabled */
#define ASSERT_VCMDQ_DONE(cv, lidx) do {				\
		struct vcmdq_regs __r;					\
									\
		vcmdq_regs(cv, lidx, &__r);				\
		ASSERT_EQ((cv)->q[lidx].prod, __r.cons & CONS_RD);	\
		ASSERT_EQ(0, CONS_ERR(__r.cons));			\
		ASSERT_EQ(__r.gerror, __r.gerrorn);			\
		ASSERT_EQ(STATUS_ENABLED, __r.status & STATUS_ENABLED);	\
	} while (0)

/* The queue stopped at command @at with CONS.ERR @err, its error unacked */
#define ASSERT_VCMDQ_STOPPED(cv, lidx, at, err) do {			\
		struct vcmdq_regs __r;					\
									\
		vcmdq_regs(cv, lidx, &__r);				\
		ASSERT_EQ(at, __r.cons & CONS_RD);			\
		ASSERT_EQ(err, CONS_ERR(__r.cons));			\
		ASSERT_NE(__r.gerror & GERROR_CMDQ_ERR,			\
			  __r.gerrorn & GERROR_CMDQ_ERR);		\
		ASSERT_EQ(STATUS_ENABLED, __r.status & STATUS_ENABLED);	\
	} while (0)

/* A new queue: nothing consumed, disabled, no error left from before */
#define ASSERT_VCMDQ_FRESH(cv, lidx) do {				\
		struct vcmdq_regs __r;					\
									\
		vcmdq_regs(cv, lidx, &__r);				\
		ASSERT_EQ(0, __r.cons);					\
		ASSERT_EQ(0, __r.prod);					\
		ASSERT_EQ(0, __r.config);				\
		ASSERT_EQ(0, __r.status);				\
		ASSERT_EQ(__r.gerror, __r.gerrorn);			\
	} while (0)

/* A logical queue with no HW queue: out of the guest's reach, all zero */
#define ASSERT_VCMDQ_ABSENT(cv, lidx) do {				\
		unsigned int __reg;					\
									\
		for (__reg = 0; __reg < VCMDQ_REGS; __reg += 4)		\
			ASSERT_EQ(0, vcmdq_read(cv, lidx, __reg))	\
				TH_LOG("LVCMDQ%u register 0x%x",	\
				       (unsigned int)(lidx), __reg);	\
	} while (0)

FIXTURE(cmdqv) {
	struct cmdqv_vm a;	/* the VM every case has */
	struct cmdqv_vm b;	/* a second one, for the cases that want it */
	__u32 veventq_id;
	int veventq_fd;
};

FIXTURE_SETUP(cmdqv)
{
	struct edu *edu = &self->a.vm.edu;
	const char *why;

	self->veventq_fd = -1;
	self->b.vm.edu.cdev = -1;
	self->b.vm.edu.iommufd = -1;
	ASSERT_EQ(0, edu_open(edu, 0, -1));
	if (!e2e_has_cmdqv(edu->iommufd, edu->dev_id, &why))
		SKIP(return, "%s", why);
	if (!e2e_vsmmu_allowed(edu->iommufd, edu->dev_id, &why))
		SKIP(return, "%s", why);
	ASSERT_EQ(0, cmdqv_vm_setup(&self->a));
}

FIXTURE_TEARDOWN(cmdqv)
{
	if (self->veventq_fd >= 0)
		close(self->veventq_fd);
	cmdqv_vm_teardown(&self->b);
	cmdqv_vm_teardown(&self->a);
}

/*
 * What a VMM needs for its guest's CMDQV_PARAM: the machine's version, its
 * queues and Stream ID slots per VINTF; nothing else set.
 */
TEST_F(cmdqv, hw_info)
{
	struct cmdqv_hw_info info;
	__u32 type = 0, len = 0;

	ASSERT_EQ(0, cmdqv_get_hw_info(self->a.vm.edu.iommufd,
				       self->a.vm.edu.dev_id, &info, &type,
				       &len));
	ASSERT_EQ(E2E_HW_INFO_TYPE_TEGRA241_CMDQV, type);
	ASSERT_EQ(sizeof(info), len);
	ASSERT_EQ(0, info.flags);
	ASSERT_EQ(CMDQV_VERSION, info.version);
	ASSERT_EQ(LOG2VCMDQS, info.log2vcmdqs);
	ASSERT_EQ(LOG2VSIDS, info.log2vsids);
	ASSERT_EQ(0, info.__reserved);
}

/*
 * The VINTF's page 0 maps exactly as handed out: its offset, its whole
 * length, shared, never executable (iommufd_fops_mmap()). Until the VM has
 * queues, every register in it reads 0 and a write enables nothing. Once
 * the vIOMMU is gone, so is its offset.
 */
TEST_F(cmdqv, viommu_mmap)
{
	struct cmdqv_vm *a = &self->a;
	int fd = a->vm.edu.iommufd;
	long pagesz = sysconf(_SC_PAGESIZE);
	volatile __u32 *p = NULL;
	unsigned int i;

	ASSERT_EQ(VINTF_PAGE_SIZE, a->mmap_length);
	ASSERT_EQ(0, a->mmap_offset % pagesz);
	note("VINTF page 0 at offset 0x%llx", (unsigned long long)a->mmap_offset);

	for (i = 0; i < VINTF_PAGE_SIZE / 4; i++)
		ASSERT_EQ(0, a->page[i]) TH_LOG("at 0x%x", i * 4);
	vcmdq_write(a, 0, VCMDQ_CONFIG, CONFIG_EN);
	ASSERT_VCMDQ_ABSENT(a, 0);

	/* Longer, or inside the range, is not what was handed out */
	ASSERT_EQ(-ENXIO, vintf_mmap(fd, a->mmap_offset, 2 * a->mmap_length,
				     PROT_READ | PROT_WRITE, MAP_SHARED, &p));
	ASSERT_EQ(-ENXIO, vintf_mmap(fd, a->mmap_offset + SZ_4K,
				     a->mmap_length, PROT_READ | PROT_WRITE,
				     MAP_SHARED, &p));
	ASSERT_EQ(-ENXIO, vintf_mmap(fd, a->mmap_offset + SZ_4K, SZ_4K,
				     PROT_READ | PROT_WRITE, MAP_SHARED, &p));
	ASSERT_EQ(-ENXIO, vintf_mmap(fd, a->mmap_offset, SZ_4K,
				     PROT_READ | PROT_WRITE, MAP_SHARED, &p));
	/* A private copy of device registers makes no sense */
	ASSERT_EQ(-EINVAL, vintf_mmap(fd, a->mmap_offset, a->mmap_length,
				      PROT_READ | PROT_WRITE, MAP_PRIVATE, &p));
	/* Nor does running them, now or later */
	ASSERT_EQ(-EPERM, vintf_mmap(fd, a->mmap_offset, a->mmap_length,
				     PROT_READ | PROT_EXEC, MAP_SHARED, &p));
	ASSERT_EQ(-1, mprotect((void *)a->page, a->mmap_length,
			       PROT_READ | PROT_EXEC));
	ASSERT_EQ(EACCES, errno);

	/* A second mapping is the same page */
	ASSERT_EQ(0, vintf_mmap(fd, a->mmap_offset, a->mmap_length,
				PROT_READ, MAP_SHARED, &p));
	ASSERT_EQ(0, vcmdq_alloc(a, 0));
	ASSERT_EQ(0, vcmdq_enable(a, 0));
	ASSERT_EQ(STATUS_ENABLED, p[(LVCMDQ(0) + VCMDQ_STATUS) / 4]);
	ASSERT_EQ(0, munmap((void *)p, a->mmap_length));

	/* Gone with the vIOMMU */
	cmdqv_vm_unmap(a);
	ASSERT_EQ(0, iommufd_destroy(fd, a->q[0].id));
	ASSERT_EQ(0, iommufd_destroy(fd, a->vm.vdev_id));
	ASSERT_EQ(0, iommufd_destroy(fd, a->vm.viommu_id));
	ASSERT_EQ(-ENXIO, vintf_mmap(fd, a->mmap_offset, a->mmap_length,
				     PROT_READ | PROT_WRITE, MAP_SHARED, &p));
}

/*
 * The VINTF page takes 32- and 64-bit accesses only: a byte or halfword
 * read of a live queue's register gives 0 and such a write changes
 * nothing (the test machine's CMDQV refuses them and logs a guest error),
 * and the queue goes on working. Unaligned accesses are not tried: the
 * page is mapped as device memory, where the CPU faults them itself.
 */
TEST_F(cmdqv, vintf_page_narrow_access)
{
	struct cmdqv_vm *a = &self->a;
	volatile __u8 *b = (volatile __u8 *)a->page + LVCMDQ(0);
	volatile __u16 *h = (volatile __u16 *)(a->page) + LVCMDQ(0) / 2;
	__u32 done;

	ASSERT_EQ(0, vcmdq_alloc(a, 0));
	ASSERT_EQ(0, vcmdq_enable(a, 0));
	vcmdq_push(a, 0, CMD_SYNC, 0);
	ASSERT_EQ(0, vcmdq_kick(a, 0));
	ASSERT_VCMDQ_DONE(a, 0);

	ASSERT_EQ(0, b[VCMDQ_STATUS]);
	ASSERT_EQ(0, h[VCMDQ_PROD / 2]);
	/* A PROD that would run a command, written a byte at a time */
	done = a->q[0].prod;
	vcmdq_push(a, 0, CMD_SYNC, 0);
	io_wmb();
	b[VCMDQ_PROD] = a->q[0].prod;
	h[VCMDQ_PROD / 2] = a->q[0].prod;
	b[VCMDQ_CONFIG] = 0;
	usleep(10000);
	ASSERT_EQ(done, vcmdq_read(a, 0, VCMDQ_PROD));
	ASSERT_EQ(done, vcmdq_read(a, 0, VCMDQ_CONS) & CONS_RD);
	ASSERT_EQ(CONFIG_EN, vcmdq_read(a, 0, VCMDQ_CONFIG));

	/* The same doorbell as a word runs it */
	ASSERT_EQ(0, vcmdq_kick(a, 0));
	ASSERT_VCMDQ_DONE(a, 0);
}

/*
 * The HW queues of a VINTF: indexes below 2^log2vcmdqs, each once, from 0
 * up and destroyed from the top down; a power-of-2 length from 32 bytes,
 * the memory aligned to it and mapped in the IOAS, and kept there.
 */
TEST_F(cmdqv, hw_queue_errors)
{
	struct cmdqv_vm *a = &self->a;
	struct edu *edu = &a->vm.edu;
	__u64 q0 = vcmdq_gpa(a, 0), q1 = vcmdq_gpa(a, 1);
	__u32 v = a->vm.viommu_id, id0 = 0, id1 = 0, id;

	ASSERT_EQ(-EIO, hw_queue_alloc(edu, v, 1, q1, VCMDQ_LEN, &id));
	ASSERT_EQ(-EINVAL, hw_queue_alloc(edu, v, NUM_LVCMDQS, q0, VCMDQ_LEN,
					  &id));
	ASSERT_EQ(-EINVAL, hw_queue_alloc(edu, v, 0, q0, 0, &id));
	ASSERT_EQ(-EINVAL, hw_queue_alloc(edu, v, 0, q0, 96, &id));
	ASSERT_EQ(-EINVAL, hw_queue_alloc(edu, v, 0, q0, 16, &id));
	ASSERT_EQ(-EINVAL, hw_queue_alloc(edu, v, 0, q0 + 0x400, 0x800, &id));
	ASSERT_EQ(-ENOENT, hw_queue_alloc(edu, v, 0, GMEM_IOVA + GMEM_SIZE,
					  VCMDQ_LEN, &id));
	/* None of the refusals left a queue behind */
	ASSERT_VCMDQ_ABSENT(a, 0);
	ASSERT_VCMDQ_ABSENT(a, 1);

	ASSERT_EQ(0, hw_queue_alloc(edu, v, 0, q0, VCMDQ_LEN, &id0));
	ASSERT_EQ(-EEXIST, hw_queue_alloc(edu, v, 0, q1, VCMDQ_LEN, &id));
	ASSERT_EQ(0, hw_queue_alloc(edu, v, 1, q1, VCMDQ_LEN, &id1));
	/* The hardware reads the memory: the VMM cannot unmap it */
	ASSERT_EQ(-EBUSY, ioas_unmap(edu->iommufd, a->vm.ioas_id,
				     a->vm.mem.iova, a->vm.mem.size));

	ASSERT_EQ(-EBUSY, iommufd_destroy(edu->iommufd, id0));
	ASSERT_EQ(-EBUSY, iommufd_destroy(edu->iommufd, v));
	ASSERT_EQ(0, iommufd_destroy(edu->iommufd, id1));
	ASSERT_VCMDQ_ABSENT(a, 1);
	ASSERT_EQ(0, iommufd_destroy(edu->iommufd, id0));
	ASSERT_VCMDQ_ABSENT(a, 0);
	/* and index 0 is free again */
	ASSERT_EQ(0, hw_queue_alloc(edu, v, 0, q0, VCMDQ_LEN, &id0));
	ASSERT_VCMDQ_FRESH(a, 0);
}

/*
 * The guest moves a stage-1 page and invalidates it through its own queue,
 * not through the VMM (IOMMU_HWPT_INVALIDATE). The command names no VMID
 * of use (@w0's VMID field is the guest's to leave at anything): the CMDQV
 * must give it the VM's, or the SMMU's cached translation, which QEMU keeps
 * until invalidated, would go on taking the DMA to the old page.
 */
static void remap_by_vcmdq(struct __test_metadata *_metadata,
			   struct cmdqv_vm *cv, __u64 w0, __u64 w1)
{
	struct gmem *mem = &cv->vm.mem;
	struct edu *edu = &cv->vm.edu;
	__u32 hwpt_id;

	ASSERT_EQ(0, vcmdq_alloc(cv, 0));
	ASSERT_EQ(0, vcmdq_enable(cv, 0));
	ASSERT_EQ(0, nested_attach(edu, cv->vm.viommu_id, vste_s1(mem),
				   VSTE1_S1, &hwpt_id));
	ASSERT_EQ(0, nested_copy(edu, mem, S1_DST, G_PAGE_A, 256));
	ASSERT_GMEM(mem);

	s1_map(mem, G_L1, G_L2, G_L3, S1_DST, gpa(mem, G_PAGE_B));
	/* Not invalidated yet: the old page, or the case proves nothing */
	new_source(mem, 0x66);
	ASSERT_EQ(0, nested_copy(edu, mem, S1_DST, G_PAGE_A, 256));
	ASSERT_GMEM(mem);

	vcmdq_push(cv, 0, w0, w1);
	vcmdq_push(cv, 0, CMD_SYNC, 0);
	ASSERT_EQ(0, vcmdq_kick(cv, 0));
	ASSERT_VCMDQ_DONE(cv, 0);

	new_source(mem, 0x77);
	ASSERT_EQ(0, nested_copy(edu, mem, S1_DST, G_PAGE_B, 256));
	ASSERT_GMEM(mem);
}

TEST_F(cmdqv, vcmdq_tlbi_nested_va)
{
	remap_by_vcmdq(_metadata, &self->a,
		       CMD_TLBI_NH_VA | CMD0_ASID(ASID) | CMD0_VMID(0),
		       (S1_DST & CMD1_VA_MASK) | CMD1_LEAF);
}

TEST_F(cmdqv, vcmdq_tlbi_nested_asid)
{
	remap_by_vcmdq(_metadata, &self->a,
		       CMD_TLBI_NH_ASID | CMD0_ASID(ASID) | CMD0_VMID(0xffff),
		       0);
}

/*
 * A command a VM may not issue stops its queue where it stands: CONS at it,
 * CONS.ERR illegal, GERROR out of step with GERRORN, and the VMM hears of
 * it through the vEVENTQ (the VINTF's LVCMDQ_ERR_MAP), to tell its guest.
 * The host does not clear it: the guest fixes the queue and acknowledges
 * the error through its page, and the queue runs on from CONS. An error
 * stops only its own queue.
 */
static void illegal_command(struct __test_metadata *_metadata,
			    FIXTURE_DATA(cmdqv) *self, __u64 bad0, __u64 bad1,
			    unsigned int lidx)
{
	struct cmdqv_vm *a = &self->a;
	struct cmdqv_event ev[4];
	unsigned int i;
	__u32 bad;

	ASSERT_EQ(0, veventq_alloc(&a->vm.edu, a->vm.viommu_id,
				   CMDQV_VEVENTQ_TYPE, 16, 0, &self->veventq_id,
				   &self->veventq_fd));
	for (i = 0; i <= lidx; i++) {
		ASSERT_EQ(0, vcmdq_alloc(a, i));
		ASSERT_EQ(0, vcmdq_enable(a, i));
	}

	vcmdq_push(a, lidx, CMD_TLBI_NH_ASID | CMD0_ASID(ASID), 0);
	bad = vcmdq_push(a, lidx, bad0, bad1);
	vcmdq_push(a, lidx, CMD_SYNC, 0);
	ASSERT_EQ(-EIO, vcmdq_kick(a, lidx));
	ASSERT_VCMDQ_STOPPED(a, lidx, bad, CERROR_ILL);
	ASSERT_EQ(1, cmdqv_events_wait(self->veventq_fd, ev, 4));
	ASSERT_EQ(0, ev[0].hdr.flags);
	ASSERT_EQ(0, ev[0].hdr.sequence);
	ASSERT_EQ(1ULL << lidx, ev[0].map[0]);
	ASSERT_EQ(0, ev[0].map[1]);

	/* Halted until acknowledged: the doorbell alone does not restart it */
	ASSERT_EQ(-EIO, vcmdq_kick(a, lidx));
	ASSERT_VCMDQ_STOPPED(a, lidx, bad, CERROR_ILL);
	/* and the VM's other queue runs meanwhile */
	if (lidx) {
		vcmdq_push(a, 0, CMD_TLBI_NH_ASID | CMD0_ASID(ASID), 0);
		vcmdq_push(a, 0, CMD_SYNC, 0);
		ASSERT_EQ(0, vcmdq_kick(a, 0));
		ASSERT_VCMDQ_DONE(a, 0);
	}

	/* The guest driver's recovery: a CMD_SYNC in its place, then ack */
	vcmdq_set(a, lidx, bad, CMD_SYNC, 0);
	vcmdq_ack(a, lidx);
	ASSERT_EQ(0, vcmdq_wait(a, lidx));
	ASSERT_EQ(0, vcmdq_error(a, lidx));

	/* It runs on, and no new event */
	vcmdq_push(a, lidx, CMD_TLBI_NH_VA | CMD0_ASID(ASID),
		   (S1_DST & CMD1_VA_MASK) | CMD1_LEAF);
	vcmdq_push(a, lidx, CMD_SYNC, 0);
	ASSERT_EQ(0, vcmdq_kick(a, lidx));
	ASSERT_EQ(0, vcmdq_error(a, lidx));
	ASSERT_EQ(0, wait_readable(self->veventq_fd, GRACE_MS));
}

TEST_F(cmdqv, illegal_tlbi_nh_all)
{
	illegal_command(_metadata, self, CMD_TLBI_NH_ALL, 0, 0);
}

/* On the VM's second queue: the map's bit 1 */
TEST_F(cmdqv, illegal_cfgi_all)
{
	illegal_command(_metadata, self, CMD_CFGI_ALL, 31, 1);
}

/*
 * ATC_INV names a Stream ID: the vSID of a vDEVICE of the VM is swapped for
 * the device's own (the VINTF's SID_MATCH/SID_REPLACE slot); any other is
 * illegal, the device's physical SID included (the guest must not name the
 * host's), and so is the vSID once its vDEVICE is gone.
 */
TEST_F(cmdqv, atc_inv_sid)
{
	struct cmdqv_vm *a = &self->a;
	struct cmdqv_event ev[4];
	__u32 sid, bad;

	ASSERT_EQ(0, edu_sid(&a->vm.edu, &sid));
	ASSERT_NE(VSID, sid);
	ASSERT_EQ(0, veventq_alloc(&a->vm.edu, a->vm.viommu_id,
				   CMDQV_VEVENTQ_TYPE, 16, 0, &self->veventq_id,
				   &self->veventq_fd));
	ASSERT_EQ(0, vcmdq_alloc(a, 0));
	ASSERT_EQ(0, vcmdq_enable(a, 0));

	vcmdq_push(a, 0, CMD_ATC_INV | CMD0_SID(VSID), CMD1_ATC_SIZE_ALL);
	vcmdq_push(a, 0, CMD_SYNC, 0);
	ASSERT_EQ(0, vcmdq_kick(a, 0));
	ASSERT_VCMDQ_DONE(a, 0);

	bad = vcmdq_push(a, 0, CMD_ATC_INV | CMD0_SID(sid), CMD1_ATC_SIZE_ALL);
	vcmdq_push(a, 0, CMD_SYNC, 0);
	ASSERT_EQ(-EIO, vcmdq_kick(a, 0));
	ASSERT_VCMDQ_STOPPED(a, 0, bad, CERROR_ILL);
	ASSERT_EQ(1, cmdqv_events_wait(self->veventq_fd, ev, 4));
	ASSERT_EQ(1, ev[0].map[0]);
	vcmdq_set(a, 0, bad, CMD_SYNC, 0);
	vcmdq_ack(a, 0);
	ASSERT_EQ(0, vcmdq_wait(a, 0));

	/* The vDEVICE takes its slot with it */
	ASSERT_EQ(0, iommufd_destroy(a->vm.edu.iommufd, a->vm.vdev_id));
	bad = vcmdq_push(a, 0, CMD_ATC_INV | CMD0_SID(VSID), CMD1_ATC_SIZE_ALL);
	vcmdq_push(a, 0, CMD_SYNC, 0);
	ASSERT_EQ(-EIO, vcmdq_kick(a, 0));
	ASSERT_VCMDQ_STOPPED(a, 0, bad, CERROR_ILL);
	ASSERT_EQ(1, cmdqv_events_wait(self->veventq_fd, ev, 4));
	ASSERT_EQ(1, ev[0].hdr.sequence);
	ASSERT_EQ(1, ev[0].map[0]);
	vcmdq_set(a, 0, bad, CMD_SYNC, 0);
	vcmdq_ack(a, 0);
	ASSERT_EQ(0, vcmdq_wait(a, 0));
	ASSERT_EQ(0, vcmdq_error(a, 0));
}

/*
 * @c: a further CMDQV vIOMMU @viommu_id of the VM of @of (its device and
 * memory, queues in a page of their own), mapped. Only the mapping is @c's:
 * unmap it, never tear it down.
 */
static int cmdqv_sibling(struct cmdqv_vm *c, const struct cmdqv_vm *of,
			 __u32 viommu_id,
			 const struct e2e_viommu_tegra241_cmdqv *data)
{
	memset(c, 0, sizeof(*c));
	c->vm = of->vm;
	c->vm.viommu_id = viommu_id;
	c->qmem = G_VCMDQS_ALT;
	c->mmap_offset = data->out_vintf_mmap_offset;
	c->mmap_length = data->out_vintf_mmap_length;
	return vintf_mmap(c->vm.edu.iommufd, c->mmap_offset, c->mmap_length,
			  PROT_READ | PROT_WRITE, MAP_SHARED, &c->page);
}

/*
 * Each CMDQV vIOMMU owns a VINTF; VINTF0 stays the host's. Once the VMs
 * hold all the others, the next is refused (ENOSPC), a plain vSMMU still
 * is not; a VINTF given back is the next VM's, and works.
 */
TEST_F(cmdqv, vintfs_exhausted)
{
	struct cmdqv_vm *a = &self->a;
	struct edu *edu = &a->vm.edu;
	struct e2e_viommu_tegra241_cmdqv data, refused;
	__u32 ids[VM_VINTFS], none, plain;
	struct cmdqv_vm c;
	unsigned int n;

	/* a holds the first */
	for (n = 1; n < VM_VINTFS; n++)
		ASSERT_EQ(0, cmdqv_viommu_alloc(edu, a->vm.s2_id, &data,
						&ids[n]));
	memset(&refused, 0x5a, sizeof(refused));
	ASSERT_EQ(-ENOSPC, cmdqv_viommu_alloc(edu, a->vm.s2_id, &refused,
					      &none));
	/* A refusal hands out no page */
	ASSERT_EQ(0x5a5a5a5a5a5a5a5aULL, refused.out_vintf_mmap_offset);
	ASSERT_EQ(0x5a5a5a5a5a5a5a5aULL, refused.out_vintf_mmap_length);
	ASSERT_EQ(0, viommu_alloc(edu, a->vm.s2_id, E2E_VIOMMU_TYPE_ARM_SMMUV3,
				  &plain));

	ASSERT_EQ(0, iommufd_destroy(edu->iommufd, ids[1]));
	ASSERT_EQ(0, cmdqv_viommu_alloc(edu, a->vm.s2_id, &data, &ids[1]));
	ASSERT_EQ(-ENOSPC, cmdqv_viommu_alloc(edu, a->vm.s2_id, &refused,
					      &none));

	/* The recycled VINTF: its page, a queue, a command */
	ASSERT_EQ(0, cmdqv_sibling(&c, a, ids[1], &data));
	ASSERT_VCMDQ_ABSENT(&c, 0);
	ASSERT_EQ(0, vcmdq_alloc(&c, 0));
	ASSERT_VCMDQ_FRESH(&c, 0);
	ASSERT_EQ(0, vcmdq_enable(&c, 0));
	vcmdq_push(&c, 0, CMD_TLBI_NH_ASID | CMD0_ASID(ASID), 0);
	vcmdq_push(&c, 0, CMD_SYNC, 0);
	ASSERT_EQ(0, vcmdq_kick(&c, 0));
	ASSERT_VCMDQ_DONE(&c, 0);
	cmdqv_vm_unmap(&c);
}

/*
 * Make a VM's CMDQV state as dirty as a guest can: both queues enabled and
 * consumed past 0, the second stopped on an error it never acknowledged.
 */
static void dirty_queues(struct __test_metadata *_metadata,
			 struct cmdqv_vm *cv)
{
	unsigned int i;

	for (i = 0; i < NUM_LVCMDQS; i++) {
		ASSERT_EQ(0, vcmdq_alloc(cv, i));
		ASSERT_EQ(0, vcmdq_enable(cv, i));
		vcmdq_push(cv, i, CMD_TLBI_NH_ASID | CMD0_ASID(ASID), 0);
		vcmdq_push(cv, i, CMD_SYNC, 0);
		ASSERT_EQ(0, vcmdq_kick(cv, i));
	}
	vcmdq_push(cv, 1, CMD_CFGI_ALL, 31);
	ASSERT_EQ(-EIO, vcmdq_kick(cv, 1));
}

/* A VINTF as a new VM finds it: no queue, then fresh ones */
static void assert_vintf_clean(struct __test_metadata *_metadata,
			       struct cmdqv_vm *cv)
{
	unsigned int i;

	for (i = 0; i < NUM_LVCMDQS; i++)
		ASSERT_VCMDQ_ABSENT(cv, i);
	for (i = 0; i < NUM_LVCMDQS; i++) {
		ASSERT_EQ(0, vcmdq_alloc(cv, i));
		ASSERT_VCMDQ_FRESH(cv, i);
	}
	ASSERT_EQ(0, vcmdq_enable(cv, 1));
	vcmdq_push(cv, 1, CMD_SYNC, 0);
	ASSERT_EQ(0, vcmdq_kick(cv, 1));
	ASSERT_VCMDQ_DONE(cv, 1);
}

/*
 * Teardown in the wrong order: the vIOMMU is busy while anything holds it,
 * the mapping of its page included (its users reference), and a queue while
 * the one above it lives. A destroyed queue leaves the guest's page at once.
 * The VINTF the next VM gets (the lowest free, this one) is clean.
 */
TEST_F(cmdqv, teardown_destroy_order)
{
	struct cmdqv_vm *a = &self->a;
	int fd = a->vm.edu.iommufd;

	dirty_queues(_metadata, a);
	ASSERT_EQ(-EBUSY, iommufd_destroy(fd, a->vm.viommu_id));
	ASSERT_EQ(-EBUSY, iommufd_destroy(fd, a->q[0].id));
	ASSERT_EQ(0, iommufd_destroy(fd, a->q[1].id));
	ASSERT_VCMDQ_ABSENT(a, 1);
	ASSERT_EQ(0, iommufd_destroy(fd, a->q[0].id));
	ASSERT_VCMDQ_ABSENT(a, 0);
	ASSERT_EQ(0, iommufd_destroy(fd, a->vm.vdev_id));
	/* Nothing but the mapping holds it now */
	ASSERT_EQ(-EBUSY, iommufd_destroy(fd, a->vm.viommu_id));
	cmdqv_vm_unmap(a);
	ASSERT_EQ(0, iommufd_destroy(fd, a->vm.viommu_id));

	/* The next VM on this nesting parent */
	ASSERT_EQ(0, cmdqv_vintf_take(a));
	assert_vintf_clean(_metadata, a);
}

/*
 * The VMM dies with its queues running and the page mapped: its files are
 * closed, but the mapping still holds the iommufd, so its VINTF stays
 * taken, and the page still shows the queues, until the mapping goes too
 * (as it does when the process exits). Then everything is torn down, and
 * the next VM to get that VINTF finds it clean.
 */
TEST_F(cmdqv, teardown_close)
{
	struct cmdqv_vm *a = &self->a, *b = &self->b, c;
	struct e2e_viommu_tegra241_cmdqv data, spare_data;
	__u32 spare, id, none;

	dirty_queues(_metadata, a);
	edu_close(&a->vm.edu);
	a->vm.edu.bar = NULL;
	a->vm.edu.cdev = -1;
	a->vm.edu.iommufd = -1;
	ASSERT_EQ(STATUS_ENABLED, vcmdq_read(a, 0, VCMDQ_STATUS));
	ASSERT_EQ(1, vcmdq_error(a, 1));

	/* A new VM on the same device, in a new iommufd */
	ASSERT_EQ(0, edu_open(&b->vm.edu, 0, -1));
	ASSERT_EQ(0, cmdqv_vm_setup(b));
	/* The old VM's VINTF is still taken: one left, not two */
	ASSERT_EQ(0, cmdqv_viommu_alloc(&b->vm.edu, b->vm.s2_id, &spare_data,
					&spare));
	ASSERT_EQ(-ENOSPC, cmdqv_viommu_alloc(&b->vm.edu, b->vm.s2_id,
					      &spare_data, &none));
	ASSERT_EQ(0, iommufd_destroy(b->vm.edu.iommufd, spare));

	/*
	 * The last reference: the old iommufd and all in it go. Two VINTFs
	 * free now, the old VM's the lowest, which the first one takes.
	 */
	cmdqv_vm_unmap(a);
	ASSERT_EQ(0, cmdqv_viommu_alloc(&b->vm.edu, b->vm.s2_id, &data, &id));
	ASSERT_EQ(0, cmdqv_sibling(&c, b, id, &data));
	ASSERT_EQ(0, cmdqv_viommu_alloc(&b->vm.edu, b->vm.s2_id, &spare_data,
					&spare));
	ASSERT_EQ(-ENOSPC, cmdqv_viommu_alloc(&b->vm.edu, b->vm.s2_id,
					      &spare_data, &none));
	assert_vintf_clean(_metadata, &c);
	cmdqv_vm_unmap(&c);
}

/*
 * Two VMs, each with its own device, iommufd and CMDQV vIOMMU, and both
 * guests using the same ASID. Each maps only its own VINTF (mmap offsets
 * are per iommufd), sees only its own queues, and each guest's
 * invalidation reaches only its own VM's translations (its VINTF's VMID).
 */
TEST_F(cmdqv, two_vms)
{
	struct cmdqv_vm *a = &self->a, *b = &self->b;
	struct gmem *amem = &a->vm.mem, *bmem = &b->vm.mem;
	volatile __u32 *p;
	__u32 hwpt_a, hwpt_b;

	ASSERT_EQ(0, edu_open(&b->vm.edu, 1, -1))
		TH_LOG("no second edu device (harness/boot.sh has two)");
	ASSERT_EQ(0, vsmmu_setup(&b->vm));
	/* b has no range at a's offset yet: nothing to map there */
	ASSERT_EQ(-ENXIO, vintf_mmap(b->vm.edu.iommufd, a->mmap_offset,
				     a->mmap_length, PROT_READ | PROT_WRITE,
				     MAP_SHARED, &p));
	ASSERT_EQ(0, cmdqv_trade(b));
	note("VM a: VINTF page at offset 0x%llx; VM b: 0x%llx",
	     (unsigned long long)a->mmap_offset,
	     (unsigned long long)b->mmap_offset);

	/* a's queue is not in b's page */
	ASSERT_EQ(0, vcmdq_alloc(a, 0));
	ASSERT_EQ(0, vcmdq_enable(a, 0));
	ASSERT_VCMDQ_ABSENT(b, 0);
	ASSERT_EQ(0, vcmdq_alloc(b, 0));
	ASSERT_VCMDQ_FRESH(b, 0);
	ASSERT_EQ(0, vcmdq_enable(b, 0));

	ASSERT_EQ(0, nested_attach(&a->vm.edu, a->vm.viommu_id, vste_s1(amem),
				   VSTE1_S1, &hwpt_a));
	ASSERT_EQ(0, nested_attach(&b->vm.edu, b->vm.viommu_id, vste_s1(bmem),
				   VSTE1_S1, &hwpt_b));
	ASSERT_EQ(0, nested_copy(&a->vm.edu, amem, S1_DST, G_PAGE_A, 256));
	ASSERT_EQ(0, nested_copy(&b->vm.edu, bmem, S1_DST, G_PAGE_A, 256));
	s1_map(amem, G_L1, G_L2, G_L3, S1_DST, gpa(amem, G_PAGE_B));
	s1_map(bmem, G_L1, G_L2, G_L3, S1_DST, gpa(bmem, G_PAGE_B));

	/* a invalidates its ASID: a's DMA moves, b's does not */
	vcmdq_push(a, 0, CMD_TLBI_NH_ASID | CMD0_ASID(ASID), 0);
	vcmdq_push(a, 0, CMD_SYNC, 0);
	ASSERT_EQ(0, vcmdq_kick(a, 0));
	ASSERT_VCMDQ_DONE(a, 0);
	ASSERT_EQ(0, vcmdq_read(b, 0, VCMDQ_CONS));
	new_source(amem, 0x31);
	new_source(bmem, 0x32);
	ASSERT_EQ(0, nested_copy(&a->vm.edu, amem, S1_DST, G_PAGE_B, 256));
	ASSERT_EQ(0, nested_copy(&b->vm.edu, bmem, S1_DST, G_PAGE_A, 256));
	ASSERT_GMEM(amem);
	ASSERT_GMEM(bmem);

	/* b invalidates the same ASID through its own queue */
	vcmdq_push(b, 0, CMD_TLBI_NH_ASID | CMD0_ASID(ASID), 0);
	vcmdq_push(b, 0, CMD_SYNC, 0);
	ASSERT_EQ(0, vcmdq_kick(b, 0));
	ASSERT_VCMDQ_DONE(b, 0);
	new_source(bmem, 0x33);
	ASSERT_EQ(0, nested_copy(&b->vm.edu, bmem, S1_DST, G_PAGE_B, 256));
	ASSERT_GMEM(amem);
	ASSERT_GMEM(bmem);
}

/*
 * A VM's illegal command is its own business: its queue stops and its
 * vEVENTQ gets the error, while the other VM's queue runs on and the other
 * VM's vEVENTQ stays quiet, before and after the first VM recovers.
 */
TEST_F(cmdqv, two_vms_error_isolated)
{
	struct cmdqv_vm *a = &self->a, *b = &self->b;
	struct cmdqv_event ev[4];
	__u32 b_veventq_id, bad;
	int b_veventq_fd;

	ASSERT_EQ(0, edu_open(&b->vm.edu, 1, -1))
		TH_LOG("no second edu device (harness/boot.sh has two)");
	ASSERT_EQ(0, vsmmu_setup(&b->vm));
	ASSERT_EQ(0, cmdqv_trade(b));
	ASSERT_EQ(0, veventq_alloc(&a->vm.edu, a->vm.viommu_id,
				   CMDQV_VEVENTQ_TYPE, 16, 0, &self->veventq_id,
				   &self->veventq_fd));
	ASSERT_EQ(0, veventq_alloc(&b->vm.edu, b->vm.viommu_id,
				   CMDQV_VEVENTQ_TYPE, 16, 0, &b_veventq_id,
				   &b_veventq_fd));
	ASSERT_EQ(0, vcmdq_alloc(a, 0));
	ASSERT_EQ(0, vcmdq_enable(a, 0));
	ASSERT_EQ(0, vcmdq_alloc(b, 0));
	ASSERT_EQ(0, vcmdq_enable(b, 0));

	bad = vcmdq_push(a, 0, CMD_CFGI_ALL, 31);
	vcmdq_push(a, 0, CMD_SYNC, 0);
	ASSERT_EQ(-EIO, vcmdq_kick(a, 0));
	ASSERT_VCMDQ_STOPPED(a, 0, bad, CERROR_ILL);
	ASSERT_EQ(1, cmdqv_events_wait(self->veventq_fd, ev, 4));
	ASSERT_EQ(1ULL, ev[0].map[0]);

	/* b, same logical queue number, on another VINTF: untouched */
	vcmdq_push(b, 0, CMD_TLBI_NH_ASID | CMD0_ASID(ASID), 0);
	vcmdq_push(b, 0, CMD_SYNC, 0);
	ASSERT_EQ(0, vcmdq_kick(b, 0));
	ASSERT_VCMDQ_DONE(b, 0);
	ASSERT_EQ(0, wait_readable(b_veventq_fd, GRACE_MS));

	/* a recovers; b still has nothing to read */
	vcmdq_set(a, 0, bad, CMD_SYNC, 0);
	vcmdq_ack(a, 0);
	ASSERT_EQ(0, vcmdq_wait(a, 0));
	/* (CONS keeps the last error's code, as on the SMMU's own queue) */
	ASSERT_EQ(0, vcmdq_error(a, 0));
	ASSERT_EQ(a->q[0].prod, vcmdq_read(a, 0, VCMDQ_CONS) & CONS_RD);
	vcmdq_push(b, 0, CMD_SYNC, 0);
	ASSERT_EQ(0, vcmdq_kick(b, 0));
	ASSERT_VCMDQ_DONE(b, 0);
	ASSERT_EQ(0, wait_readable(b_veventq_fd, GRACE_MS));
	close(b_veventq_fd);
}

TEST_HARNESS_MAIN
