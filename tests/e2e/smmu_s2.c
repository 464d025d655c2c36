// SPDX-License-Identifier: GPL-2.0-only
/*
 * smmu_s2: the edu device on a plain IOAS, and the IORT the kernel runs with.
 *
 *   edu_s2  DMAs through the kernel's own page table for the IOAS (one
 *           stage); a DMA outside the mapped IOVAs must go nowhere. Any
 *           machine with an SMMU in front of edu.
 *   iort    The table in /sys/firmware/acpi/tables/IORT: variant "qemu"
 *           is QEMU's own (CANWBS clear on every root complex, no upgrade
 *           in the initrd), variant "canwbs" the one harness/iort-canwbs.sh
 *           made and put in the initrd (byte for byte, CANWBS set). Each
 *           variant skips on the other's table, and both without ACPI.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "e2e.h"

/* One page mapped on its own, to be unmapped under a test */
#define LONE_IOVA		(GMEM_IOVA + GMEM_SIZE + SZ_1M)

#define IORT_UPGRADE_PATH	"/kernel/firmware/acpi/IORT.aml"
#define ACPI_TABLES		"/sys/firmware/acpi/tables"

FIXTURE(edu_s2) {
	struct edu edu;
	struct gmem mem;
	__u32 ioas_id;
	__u32 hwpt_id;
};

FIXTURE_SETUP(edu_s2)
{
	ASSERT_EQ(0, edu_open(&self->edu, 0, -1));
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
			     sizeof(data), EDU_DMA_FROM_RAM));
	ASSERT_EQ(0, edu_dma(&self->edu, self->mem.iova + self->mem.size, 0,
			     sizeof(data), EDU_DMA_TO_RAM));
	ASSERT_EQ(0, edu_dma(&self->edu, self->mem.iova - SZ_4K, 0,
			     sizeof(data), EDU_DMA_TO_RAM));
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
			     sizeof(first), EDU_DMA_FROM_RAM));
	ASSERT_EQ(0, edu_dma(&self->edu, LONE_IOVA + 0x80, 0, sizeof(first),
			     EDU_DMA_TO_RAM));
	ASSERT_EQ(0, memcmp(page + 0x80, first, sizeof(first)));

	ASSERT_EQ(0, ioas_unmap(self->edu.iommufd, self->ioas_id, LONE_IOVA,
				SZ_4K));
	ASSERT_EQ(0, edu_dma(&self->edu, self->mem.iova + 0x8000, 0,
			     sizeof(second), EDU_DMA_FROM_RAM));
	ASSERT_EQ(0, edu_dma(&self->edu, LONE_IOVA + 0x80, 0, sizeof(second),
			     EDU_DMA_TO_RAM));
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

FIXTURE_SETUP(iort)
{
	const char *why;
	struct stat st;
	__u8 sum = 0;
	size_t i;

	if (stat(ACPI_TABLES, &st))
		SKIP(return, "no %s: not an ACPI boot", ACPI_TABLES);
	/*
	 * The other variant's table: skip. A table that is neither (CANWBS
	 * on some root complexes only, or malformed) is "qemu"'s to fail.
	 */
	if (e2e_iort_canwbs(&why) != variant->canwbs)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, read_file(IORT_PATH, &self->table, &self->len))
		TH_LOG("cannot read %s", IORT_PATH);
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
	__u32 oem_rev = get_le32(self->table + ACPI_HDR_OEM_REV);
	unsigned int rc, canwbs;
	struct stat st;
	__u8 *upgrade;
	size_t len;

	ASSERT_EQ(0, iort_count_rc(self->table, self->len, &rc, &canwbs));
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

TEST_HARNESS_MAIN
