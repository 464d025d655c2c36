/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * e2e: what every end-to-end program needs to play the VMM on the test
 * machine. The program takes QEMU's edu device (PCI 1234:11e8, behind the
 * emulated SMMUv3) away from the host, hands it to iommufd through its VFIO
 * cdev, maps a buffer of "guest memory" and makes the device DMA into it,
 * checking that every byte lands where the IOVA says and nowhere else.
 *
 * Here: edu through VFIO cdev, guest memory and IOAS, iommufd objects, a
 * guest stage 1 (CD and page tables) built in the guest memory, a vSMMU
 * over it (nesting parent, vIOMMU, vDEVICE, nested HWPT), and the facts of
 * the machine a case depends on (e2e_iort_canwbs(), e2e_has_cmdqv(),
 * e2e_vsmmu_allowed()): a case that needs what its boot does not offer
 * skips with the fact's reason, so every boot runs the same programs.
 *
 * Helpers return 0 or -errno and leave a "# " note on stderr saying what
 * failed; the test's ASSERT then says where.
 *
 * The uAPI of the SMMUv3 and Tegra241 CMDQV types is copied below (e2e_
 * and E2E_ names) with mainline's layout and numbers, so the programs also
 * run against a mainline kernel, whatever uAPI headers they were built with.
 *
 * The edu device: BAR0 registers 0x80 DMA source, 0x88 destination, 0x90
 * count, 0x98 command (bit 0 start/busy, bit 1 edu to RAM, bit 2 interrupt
 * when done); its buffer is 4 KiB at 0x40000 in its own address space; bus
 * addresses are masked to 28 bits, so every IOVA here is below 256 MiB. A
 * transfer takes 100 ms of QEMU's virtual clock; edu_dma() polls.
 */
#ifndef E2E_H
#define E2E_H

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <linux/iommufd.h>
#include <linux/types.h>

#define EDU_ID			0x00
#define EDU_IRQ_STATUS		0x24
#define EDU_IRQ_ACK		0x64
#define EDU_IRQ_DMA		0x100
#define EDU_DMA_SRC		0x80
#define EDU_DMA_DST		0x88
#define EDU_DMA_CNT		0x90
#define EDU_DMA_CMD		0x98
#define EDU_DMA_RUN		0x1
/* edu_dma()'s @cmd: a direction, and EDU_DMA_IRQ for an interrupt when done */
#define EDU_DMA_FROM_RAM	0x0
#define EDU_DMA_TO_RAM		0x2
#define EDU_DMA_IRQ		0x4
#define EDU_BUF			0x40000
#define EDU_BUF_SIZE		0x1000

#define SZ_4K			0x1000UL
#define SZ_1M			0x100000UL
#ifndef ARRAY_SIZE	/* kselftest.h has it too */
#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))
#endif

/*
 * The guest memory: 4 MiB at IOVA (IPA) 64 MiB, below edu's 28-bit limit
 * and clear of the SMMU's software MSI window (0x8000000-0x80fffff).
 */
#define GMEM_IOVA		0x4000000UL
#define GMEM_SIZE		(4 * SZ_1M)

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
#define E2E_VEVENTQ_TYPE_ARM_SMMUV3		1

/* Tegra241 CMDQV uAPI, the same header */
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

struct e2e_vevent_arm_smmuv3 {
	__u64 evt[4];		/* little endian */
};

/* SMMUv3 architecture: ID registers, STE, CD, commands, events */
#define IDR0_S2P		(1U << 0)
#define IDR0_S1P		(1U << 1)
#define IDR3_FWB		(1U << 8)

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

#define CMD_CFGI_ALL		0x04	/* not allowed through a vIOMMU */
#define CMD_CFGI_CD		0x05
#define CMD_CFGI_CD_ALL		0x06
#define CMD_TLBI_NH_ALL		0x10
#define CMD_TLBI_NH_ASID	0x11
#define CMD_TLBI_NH_VA		0x12
#define CMD_ATC_INV		0x40
#define CMD0_SID(x)		((__u64)(x) << 32)
#define CMD0_ASID(x)		((__u64)(x) << 48)
#define CMD1_LEAF		(1ULL << 0)
#define CMD1_VA_MASK		(~0xfffULL)

#define EVT_ID_TRANSLATION_FAULT	0x10
#define EVT0_ID(w)		((w) & 0xff)
#define EVT0_SSV		(1ULL << 11)
#define EVT0_SID(w)		((w) >> 32)
#define EVT1_RNW		(1ULL << 35)
#define EVT1_S2			(1ULL << 39)

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

/*
 * The guest's stage 1, as vsmmu_setup() builds it. Guest memory layout
 * (offsets; the guest physical address is GMEM_IOVA + offset):
 */
#define G_CD		0x0000		/* CD table: one CD */
#define G_L1		0x1000		/* stage-1 tables, first set */
#define G_L2		0x2000
#define G_L3		0x3000
#define G_L1_ALT	0x4000		/* second set, for a CD change */
#define G_L2_ALT	0x5000
#define G_L3_ALT	0x6000
#define G_L3_MSI	0x7000		/* a table for the MSI window */
#define G_SRC		0x100000	/* data pages */
#define G_PAGE_A	0x101000
#define G_PAGE_B	0x102000
#define G_PAGE_C	0x103000
#define G_BYPASS	0x200000

/*
 * Stage-1 IOVAs: one L1, L2 and L3 entry path, none of them an IPA here.
 * S1_SRC maps G_SRC and S1_DST G_PAGE_A.
 */
#define S1_SRC		0x0a345000UL
#define S1_DST		0x0a346000UL
#define S1_HOLE		0x0a347000UL	/* no stage-1 mapping */

#define ASID		0x17
#define ASID_ALT	0x29

/* A translating vSTE's second word: the CD table is cacheable, as the CD's */
#define VSTE1_S1	(STE1_S1CIR_WBRA | STE1_S1COR_WBRA | STE1_S1CSH_ISH)

/* IORT (ACPI) as the kernel installed it, after any initrd upgrade */
#define IORT_PATH		"/sys/firmware/acpi/tables/IORT"
#define ACPI_HDR_LEN		4
#define ACPI_HDR_OEM_REV	24
#define IORT_NODE_COUNT		36
#define IORT_NODE_OFFSET	40
#define IORT_NODE_TYPE_RC	2
#define IORT_RC_MEMORY_FLAGS	23
#define IORT_MF_CANWBS		0x04

/* How long an event or an interrupt may take, and the quiet after it */
#define EVT_WAIT_MS		5000
#define GRACE_MS		1000

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

/*
 * A VM with a vSMMU: edu on a nesting parent (the IOAS over the guest
 * memory), a vIOMMU, and edu's vDEVICE with vSID VSID. The guest memory
 * holds a CD (ASID) and stage-1 tables mapping S1_SRC and S1_DST; the
 * device is attached to the nesting parent until a test attaches it to a
 * nested HWPT (nested_attach()).
 */
struct vsmmu {
	struct edu edu;
	struct gmem mem;
	__u32 ioas_id;
	__u32 s2_id;
	__u32 viommu_id;
	__u32 vdev_id;
};

/* One entry of a vEVENTQ: a header and, unless it says events were lost, data */
struct vevent {
	struct iommufd_vevent_header hdr;
	__u64 evt[4];		/* CPU order */
};

void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
long elapsed_ms(const struct timespec *start);
int read_file(const char *path, __u8 **buf, size_t *len);
__u32 get_le32(const __u8 *p);
void fill_pattern(__u8 *p, size_t len, __u32 seed);

/* The machine: each says what it found in *why, a reason for SKIP() */
bool e2e_iort_canwbs(const char **why);
bool e2e_has_cmdqv(int iommufd, __u32 dev_id, const char **why);
bool e2e_vsmmu_allowed(int iommufd, __u32 dev_id, const char **why);
int iort_count_rc(const __u8 *table, size_t len, unsigned int *rc,
		  unsigned int *canwbs);

/* edu through VFIO cdev */
int edu_find(unsigned int nth, char *bdf, size_t len);
int edu_bind_vfio_pci(const char *bdf);
int edu_open(struct edu *edu, unsigned int nth, int iommufd);
int edu_enable(struct edu *edu);
void edu_close(struct edu *edu);
int edu_sid(const struct edu *edu, __u32 *sid);
int edu_dma(struct edu *edu, __u64 iova, unsigned int off, unsigned int len,
	    unsigned int cmd);
int edu_copy(struct edu *edu, struct gmem *mem, size_t src, size_t dst,
	     unsigned int len);
int vfio_attach(struct edu *edu, __u32 pt_id, __u32 *out);

static inline __u32 edu_read32(struct edu *edu, unsigned int reg)
{
	return *(volatile __u32 *)(edu->bar + reg);
}

static inline void edu_write32(struct edu *edu, unsigned int reg, __u32 val)
{
	*(volatile __u32 *)(edu->bar + reg) = val;
}

/* Guest memory and the IOAS */
int gmem_alloc(struct gmem *mem, __u64 iova, size_t size);
void gmem_free(struct gmem *mem);
void gmem_set(struct gmem *mem, size_t off, const void *src, size_t len);
long gmem_first_diff(const struct gmem *mem);
void gmem_report_diff(const struct gmem *mem, long off);
int ioas_alloc(int iommufd, __u32 *ioas_id);
int ioas_map(int iommufd, __u32 ioas_id, void *va, size_t len, __u64 iova);
int ioas_unmap(int iommufd, __u32 ioas_id, __u64 iova, size_t len);

static inline __u64 gpa(const struct gmem *mem, size_t off)
{
	return mem->iova + off;
}

/* The guest memory holds what the test expects of it, every byte */
#define ASSERT_GMEM(mem) do {						\
		const struct gmem *__mem = (mem);			\
		long __off = gmem_first_diff(__mem);			\
									\
		gmem_report_diff(__mem, __off);				\
		ASSERT_EQ(-1, __off);					\
	} while (0)

/* iommufd objects */
int smmu_hw_info(int iommufd, __u32 dev_id,
		 struct e2e_hw_info_arm_smmuv3 *info);
int hwpt_alloc(struct edu *edu, __u32 pt_id, __u32 flags, __u32 data_type,
	       void *data, __u32 data_len, __u32 *out);
int viommu_alloc(struct edu *edu, __u32 hwpt_id, __u32 type, __u32 *out);
int vdevice_alloc(struct edu *edu, __u32 viommu_id, __u64 virt_id,
		  __u32 *out);
int veventq_alloc(struct edu *edu, __u32 viommu_id, __u32 type, __u32 depth,
		  __u32 flags, __u32 *id, int *fd);
int viommu_invalidate(struct edu *edu, __u32 viommu_id,
		      struct e2e_viommu_arm_smmuv3_invalidate *cmds, __u32 n,
		      __u32 *done);
int iommufd_destroy(int iommufd, __u32 id);

static inline struct e2e_viommu_arm_smmuv3_invalidate inv_cmd(__u64 w0,
							      __u64 w1)
{
	struct e2e_viommu_arm_smmuv3_invalidate cmd = {
		.cmd = { htole64(w0), htole64(w1) },
	};

	return cmd;
}

/* The guest's stage 1 and the vSMMU */
void s1_map(struct gmem *mem, size_t l1, size_t l2, size_t l3, __u64 iova,
	    __u64 pa);
void s1_write_cd(struct gmem *mem, __u16 asid, size_t l1);
__u64 vste_s1(const struct gmem *mem);
int vsmmu_setup(struct vsmmu *vm);
void vsmmu_teardown(struct vsmmu *vm);
int nested_attach(struct edu *edu, __u32 viommu_id, __u64 ste0, __u64 ste1,
		  __u32 *hwpt_id);
int nested_copy(struct edu *edu, struct gmem *mem, __u64 iova, size_t dst,
		unsigned int len);

/* vEVENTQs */
int wait_readable(int fd, int ms);
/* The most entries one vevents_read() takes */
#define VEVENTS_MAX		16
int vevents_read_raw(int fd, size_t data_len,
		     struct iommufd_vevent_header *hdr, __u8 *data, int max);
int vevents_read(int fd, struct vevent *ev, int max);
int vevents_wait(int fd, struct vevent *ev, int max);

/* One vEVENT: a fault of the guest's device at @addr, by its vSID */
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

#endif /* E2E_H */
