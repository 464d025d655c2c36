// SPDX-License-Identifier: GPL-2.0-only
/*
 * smmu_stress: a seeded stress of nesting on the real (emulated) SMMUv3, with
 * QEMU's edu devices doing the DMA: the second mode of make stress (the first,
 * tests/stress/iommufd_stress.c, is the selftest mock's).
 *
 *   smmu_stress [--seed N[,N...]] [--duration S] [--threads N]
 *               [--keep-going]
 *
 * (also STRESS_SEED, STRESS_DURATION, STRESS_THREADS; arguments win). Each
 * seed runs for the duration in a child process of its own, one after the
 * other.
 *
 * One thread per edu device (the test machine has two; --threads 1 uses the
 * first), each playing the VMM of a VM of its own: guest memory, its IOAS
 * (the stage 2) in chunks, a nesting parent, vIOMMUs, the device's vDEVICE,
 * nested HWPTs from vSTEs (stage 1, bypass, abort, invalid), vEVENTQs, a
 * guest stage 1 (a CD and two sets of page tables in the guest memory) and
 * invalidations through the vIOMMU. A thread owns its device and every
 * object of its VM, so it knows the exact state and can predict each
 * result: which errno every ioctl returns, where each DMA lands (or that it
 * lands nowhere), which vEVENTs it raises. The threads share the iommufd and
 * the physical SMMU (its command queue, stream table, event queue and VMIDs):
 * that is where they meet in the kernel. Both VMs use the same vSIDs, ASIDs,
 * IOVAs and IPAs, so a translation or an event that crossed VMs would show
 * as data in the wrong VM's memory or an event in the wrong queue.
 *
 * Each thread draws the kind of each operation from a PRNG seeded from the
 * seed and its index, and the operation's parameters from a second one: the
 * same seed gives each thread the same operations with the same parameters
 * (the model never branches on what it observes, only on what it predicted).
 *
 * What the model cannot know exactly it bounds: a guest stage-1 change
 * without an invalidation leaves the SMMU free to use the old translation or
 * the new one (QEMU's SMMU caches both configurations and translations), so a
 * DMA then may land in any page a cache may still hold or that the tables
 * name now, and the check accepts exactly those. Whatever the guest's caches
 * hold, the stage 2 is the host's: a DMA to an IPA the IOAS no longer maps
 * lands nowhere, and after the guest's invalidation the new translation is
 * the only one; anything else is a kernel bug.
 *
 * A failure prints the seed, the thread, the operation's number and the
 * thread's last operations with their parameters, and the VM's state; the
 * program then stops (--keep-going: the other thread goes on). After the
 * run every object is destroyed (each destroy must succeed), the devices are
 * closed, and a new iommufd must work and find no page of either VM's
 * memory still pinned; the boot's kmemleak scan judges leaks.
 *
 * Output: KTAP (kselftest.h), one result per seed, with ops/s and per-kind
 * counts and errnos, and the DMA and vEVENT figures, as "# " lines.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "kselftest.h"
#include "e2e.h"
#include "iommufd_test.h"
#include "stress.h"

/* ---------------------------------------------------------------- layout */

/*
 * A VM's guest memory: 1 MiB at IPA GMEM_IOVA, mapped in the IOAS in 64 KiB
 * chunks, one IOAS area being one chunk or a run of them. Chunk 0 holds the
 * CD, both sets of stage-1 tables (the e2e.h offsets G_CD ... G_L3_ALT), the
 * page every write's data comes from and the page reads are copied to; it is
 * never unmapped, so a table walk never faults in stage 2. The other chunks
 * hold the data pages, four each.
 */
#define GM_SIZE		SZ_1M
#define CHUNK		0x10000UL
#define NCHUNK		((int)(GM_SIZE / CHUNK))
#define T_SRC		0x8000UL
#define T_SINK		0x9000UL
#define NPAGE		((NCHUNK - 1) * 4)

/* Page numbers: the data pages, then these (a 64-bit mask holds them all) */
#define PG_HOLE		NPAGE		/* an IPA the IOAS never maps */
#define PG_SRC		(NPAGE + 1)
#define PG_SINK		(NPAGE + 2)
#define PG_NONE		-1		/* no stage-1 mapping */
#define IPA_HOLE	(GMEM_IOVA + 8 * SZ_1M)

/*
 * The guest's stage-1 IOVAs: slots of one L3 table's 2 MiB. Slot 0 maps the
 * source page and slot 1 the sink in both table sets, always; the others are
 * what the operations change. S1_OFFWIN has no L2 entry: always a fault.
 */
#define S1_WIN		0x0a200000UL
#define NSLOT		18
#define SLOT_SRC	0
#define SLOT_SINK	1
#define SLOT_FIRST	2
#define S1_OFFWIN	0x0b000000UL

/* SMMUv3 commands e2e.h does not name */
#define CMD_CFGI_STE		0x03
#define CMD_TLBI_NH_VAA		0x13
#define CMD_TLBI_NSNH_ALL	0x30
#define IDR0_ATS		(1U << 10)

#define NVIOMMU		2
#define NNESTED		4
#define MAXTHREADS	2
#define RING		32
/* An ID iommufd never hands out (IDs are allocated from 1, lowest free) */
#define NEVER_ID	0x7fff0000U

/* The vEVENTs one read() can return (header and SMMUv3 data, 40 bytes each) */
#define VEV_MAX		(4096 / 40)
/* How long a forwarded event may take; the quiet after an uncertain DMA */
#define EV_WAIT_MS	10000
#define EV_GRACE_MS	1500

/* ---------------------------------------------------------------- options */

static unsigned long long g_seed;
static int g_threads = 2;
static int g_duration = 60;
static bool g_keep_going;
static int g_iommufd = -1;
static volatile int g_stop;
static volatile int g_failed;
static pthread_mutex_t plock = PTHREAD_MUTEX_INITIALIZER;

/* The ops, with their relative weights */
#define OPS(X)								\
	X(MAP, 8) X(UNMAP, 8) X(S2_ALLOC, 2) X(S2_DESTROY, 2)		\
	X(VIOMMU_ALLOC, 3) X(VIOMMU_DESTROY, 3) X(VDEV_ALLOC, 6)	\
	X(VDEV_DESTROY, 2) X(NESTED_ALLOC, 8) X(NESTED_DESTROY, 4)	\
	X(ATTACH, 14) X(DETACH, 1) X(VEVENTQ_ALLOC, 5)			\
	X(VEVENTQ_DESTROY, 3) X(VEVENTQ_READ, 3) X(INVALIDATE, 10)	\
	X(S1_MAP, 10) X(S1_UNMAP, 6) X(CD_SWITCH, 3) X(DMA_WRITE, 20)	\
	X(DMA_READ, 10) X(VM_RESET, 1)

#define X_ENUM(n, w) OP_##n,
enum op { OPS(X_ENUM) NOPS };
#define X_NAME(n, w) #n,
static const char *const op_name[] = { OPS(X_NAME) };
#define X_W(n, w) w,
static const unsigned int op_weight[] = { OPS(X_W) };
static unsigned int op_cumul[NOPS];
static unsigned int op_total;

static const int bucket_errno[] = { 0, ENOENT, EBUSY, EEXIST, EINVAL, EIO,
				    EOPNOTSUPP, E2BIG };
static const char *const bucket_name[] = { "ok", "ENOENT", "EBUSY", "EEXIST",
					   "EINVAL", "EIO", "EOPNOTSUPP",
					   "E2BIG", "skip", "other" };
#define NBUCKET 10
#define B_SKIP 8
#define B_OTHER 9

/* ---------------------------------------------------------------- the model */

/* A vIOMMU's vEVENTQ, and the sequence number its next event takes */
struct vq {
	bool live;
	__u32 id;
	int fd;
	__u32 depth;
	__u32 seq;
};

struct viommu {
	bool live;
	__u32 id;
	struct vq q;
};

/* What a vSTE makes of the device's DMA */
enum vste { VSTE_S1, VSTE_BYPASS, VSTE_ABORT, VSTE_OFF, NVSTE };
static const char *const vste_name[] = { "s1", "bypass", "abort", "off" };

struct nested {
	bool live;
	__u32 id;
	int viommu;
	int kind;
};

/* What the device is attached to */
enum att { ATT_NONE, ATT_IOAS, ATT_S2, ATT_NESTED };
static const char *const att_name[] = { "nothing", "the IOAS", "the S2",
					"nested slot" };

struct world {
	int idx;
	struct edu edu;
	struct gmem mem;
	bool ats;
	bool has_cmdqv;
	__u32 ioas_id;
	bool s2_live;
	__u32 s2_id;
	struct viommu vi[NVIOMMU];
	struct nested ne[NNESTED];
	struct {
		bool live;
		__u32 id;
		int viommu;
		__u32 vsid;
	} vdev;
	int att;
	int att_ne;	/* the nested slot, with ATT_NESTED */
	/*
	 * Where the kernel sends the device's events: set by an attach to a
	 * nested HWPT while the device had a vDEVICE on its vIOMMU, with that
	 * vDEVICE's vSID; live while that vDEVICE exists.
	 */
	struct {
		bool set;
		bool live;
		int viommu;
		__u32 vsid;
	} vm;
	signed char area[NCHUNK];	/* first chunk of its IOAS area, or -1 */
	signed char pte[2][NSLOT];	/* table set, slot: page or PG_NONE */
	int cd_asid;			/* the CD in memory: ASID index ... */
	int cd_set;			/* ... and table set */
	/* CDs (ASID index * 2 + set) the SMMU's configuration cache may hold */
	unsigned int cfg_cache;
	/* Pages the SMMU's TLB may hold for (ASID index, slot) */
	uint64_t tlb[2][NSLOT];
	/*
	 * The last DMAs whose stage-1 faults (S2 clear) nothing drained from a
	 * queue: the kernel's event thread may handle them late (see
	 * note_late()), so a failure names them, and an attach waits for
	 * them.
	 */
	struct late {
		unsigned long op;
		__u64 lo, hi;
		int att;
	} late[4];
	unsigned int nlate;
	bool late_pending;
};

static const __u16 asid_val[2] = { ASID, ASID_ALT };
static const size_t set_l1[2] = { G_L1, G_L1_ALT };
static const size_t set_l2[2] = { G_L2, G_L2_ALT };
static const size_t set_l3[2] = { G_L3, G_L3_ALT };

/* ---------------------------------------------------------------- threads */

struct ring_ent {
	unsigned long n;
	int op;
	unsigned int a, b, c;
	int rc;		/* errno, 0, or -1 while in flight */
	bool counted;
	char note[72];
};

/* DMA and vEVENT figures */
struct dstats {
	unsigned long regime[3];	/* DMAs blocked, by IPA, through stage 1 */
	unsigned long landed;		/* landed where predicted (certain) */
	unsigned long blocked;		/* landed nowhere, as predicted */
	unsigned long maybe;		/* either, the caches decided */
	unsigned long stale_used;	/* ... and an old translation was used */
	unsigned long reads_checked;
	unsigned long ev_exact;		/* events predicted exactly */
	unsigned long ev_loose;		/* entries from an uncertain DMA */
	unsigned long ev_lost;		/* lost-events markers, predicted */
	unsigned long ev_gone;		/* faulting DMAs of a gone vDEVICE */
};

struct th {
	int idx;
	pthread_t tid;
	uint64_t rng_op, rng_arg;
	unsigned long nops;
	struct ring_ent ring[RING];
	unsigned long counts[NOPS][NBUCKET];
	struct dstats st;
	struct world w;
	volatile int done;
};

static struct th ths[MAXTHREADS];

static uint64_t rnd(struct th *t)
{
	return splitmix64(&t->rng_arg);
}

static unsigned int rndn(struct th *t, unsigned int n)
{
	return n ? rnd(t) % n : 0;
}

static struct ring_ent *cur(struct th *t)
{
	return &t->ring[t->nops % RING];
}

static void rec(struct th *t, unsigned int a, unsigned int b, unsigned int c)
{
	cur(t)->a = a;
	cur(t)->b = b;
	cur(t)->c = c;
}

static void rec_note(struct th *t, const char *fmt, ...)
	__printf(2, 3);
static void rec_note(struct th *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cur(t)->note, sizeof(cur(t)->note), fmt, ap);
	va_end(ap);
}

static void print_ring(struct th *t)
{
	unsigned long i, first = t->nops >= RING ? t->nops - RING + 1 : 1;

	ksft_print_msg("  thread %d, its last %lu operations (oldest first):\n",
		       t->idx, t->nops + 1 - first);
	for (i = first; i <= t->nops; i++) {
		struct ring_ent *e = &t->ring[i % RING];

		ksft_print_msg("    #%lu %s(%d, %d, %d) -> %s %s\n", e->n,
			       op_name[e->op], e->a, e->b, e->c,
			       e->rc < 0 ? "in flight" :
			       e->rc ? strerrorname_np(e->rc) : "ok", e->note);
	}
}

static int page_of_chunk(int p)
{
	return 1 + p / 4;
}

static bool s2_mapped(const struct world *w, int p)
{
	if (p == PG_HOLE)
		return false;
	if (p == PG_SRC || p == PG_SINK)
		return true;
	return w->area[page_of_chunk(p)] >= 0;
}

/* A data page, mostly one the IOAS maps now: where a DMA may land */
static int pick_page(struct th *t)
{
	int cand[NPAGE], n = 0, pg;

	for (pg = 0; pg < NPAGE; pg++)
		if (s2_mapped(&t->w, pg))
			cand[n++] = pg;
	if (n && rndn(t, 5) < 3)
		return cand[rndn(t, n)];
	return rndn(t, NPAGE);
}

/* The VM as the model sees it, for a failure's report */
static void print_world(const struct world *w)
{
	char areas[NCHUNK + 1], line[512];
	int i, s;

	for (i = 0; i < NCHUNK; i++)
		areas[i] = w->area[i] < 0 ? '.' : 'A' + w->area[i];
	areas[NCHUNK] = 0;
	ksft_print_msg("  VM %d (edu %s): ioas %u, s2 %s %u, attached to %s %d, areas [%s]\n",
		       w->idx, w->edu.bdf, w->ioas_id,
		       w->s2_live ? "live" : "gone", w->s2_id, att_name[w->att],
		       w->att == ATT_NESTED ? w->att_ne : -1, areas);
	for (i = 0; i < NVIOMMU; i++)
		if (w->vi[i].live)
			ksft_print_msg("    viommu[%d] id %u, vEVENTQ %s id %u depth %u next seq %u\n",
				       i, w->vi[i].id,
				       w->vi[i].q.live ? "live" : "none",
				       w->vi[i].q.id, w->vi[i].q.depth,
				       w->vi[i].q.seq);
	for (i = 0; i < NNESTED; i++)
		if (w->ne[i].live)
			ksft_print_msg("    nested[%d] id %u on viommu[%d]: %s\n",
				       i, w->ne[i].id, w->ne[i].viommu,
				       vste_name[w->ne[i].kind]);
	ksft_print_msg("    vdev %s id %u on viommu[%d] vSID %#x; events %s viommu[%d] vSID %#x%s\n",
		       w->vdev.live ? "live" : "none", w->vdev.id,
		       w->vdev.viommu, w->vdev.vsid,
		       w->vm.set ? "to" : "to nowhere, last", w->vm.viommu,
		       w->vm.vsid, w->vm.live ? "" : " (its vDEVICE is gone)");
	ksft_print_msg("    CD: ASID %#x, table set %d; config cache may hold CDs %#x\n",
		       asid_val[w->cd_asid], w->cd_set, w->cfg_cache);
	for (s = SLOT_FIRST; s < NSLOT; s++) {
		if (w->pte[0][s] == PG_NONE && w->pte[1][s] == PG_NONE &&
		    !w->tlb[0][s] && !w->tlb[1][s])
			continue;
		snprintf(line, sizeof(line),
			 "    slot %2d (IOVA %#lx): set0 %d set1 %d, TLB asid0 %#llx asid1 %#llx",
			 s, S1_WIN + s * SZ_4K, w->pte[0][s], w->pte[1][s],
			 (unsigned long long)w->tlb[0][s],
			 (unsigned long long)w->tlb[1][s]);
		ksft_print_msg("%s\n", line);
	}
}

/* An unexpected result: report it and stop this thread (and the run) */
static void fail(struct th *t, const char *fmt, ...)
	__printf(2, 3);
static void fail(struct th *t, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&plock);
	if (g_failed < 10) {
		ksft_print_msg("FAIL: seed %llu thread %d op #%lu %s: %s\n",
			       g_seed, t->idx, t->nops, op_name[cur(t)->op],
			       msg);
		print_ring(t);
		print_world(&t->w);
		fflush(stdout);
	}
	g_failed++;
	if (!g_keep_going)
		g_stop = 1;
	pthread_mutex_unlock(&plock);
	t->done = 2;	/* its model is wrong from here on */
}

static void count(struct th *t, int rc)
{
	struct ring_ent *e = cur(t);
	int b;

	if (e->counted)
		return;
	e->counted = true;
	e->rc = rc;
	for (b = 0; b < B_SKIP; b++)
		if (bucket_errno[b] == rc)
			break;
	t->counts[e->op][b < B_SKIP ? b : B_OTHER]++;
}

/* The op's result (its first counts): false and a failure if not @want */
static bool expect(struct th *t, int rc, int want, const char *what)
{
	count(t, rc);
	if (rc == want)
		return true;
	fail(t, "%s: %s, expected %s", what, rc ? strerrorname_np(rc) : "success",
	     want ? strerrorname_np(want) : "success");
	return false;
}

static void skip(struct th *t)
{
	struct ring_ent *e = cur(t);

	e->counted = true;
	e->rc = 0;
	snprintf(e->note, sizeof(e->note), "skipped");
	t->counts[e->op][B_SKIP]++;
}

/* ---------------------------------------------------------------- ioctls */

/* These return 0 or the errno, and print nothing: the refusals are expected */

static int xioctl(const struct world *w, unsigned long req, void *arg)
{
	return ioctl(w->edu.iommufd, req, arg) ? errno : 0;
}

static int map_raw(struct world *w, int chunk, int n)
{
	struct iommu_ioas_map cmd = {
		.size = sizeof(cmd),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = w->ioas_id,
		.user_va = (uintptr_t)(w->mem.va + chunk * CHUNK),
		.length = n * CHUNK,
		.iova = gpa(&w->mem, chunk * CHUNK),
	};

	return xioctl(w, IOMMU_IOAS_MAP, &cmd);
}

static int unmap_raw(struct world *w, __u64 iova, __u64 len, __u64 *done)
{
	struct iommu_ioas_unmap cmd = {
		.size = sizeof(cmd),
		.ioas_id = w->ioas_id,
		.iova = iova,
		.length = len,
	};
	int rc;

	rc = xioctl(w, IOMMU_IOAS_UNMAP, &cmd);
	*done = cmd.length;
	return rc;
}

static int attach_raw(struct world *w, __u32 pt_id)
{
	struct vfio_device_attach_iommufd_pt cmd = {
		.argsz = sizeof(cmd),
		.pt_id = pt_id,
	};

	return ioctl(w->edu.cdev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &cmd) ?
	       errno : 0;
}

static int detach_raw(struct world *w)
{
	struct vfio_device_detach_iommufd_pt cmd = { .argsz = sizeof(cmd) };

	return ioctl(w->edu.cdev, VFIO_DEVICE_DETACH_IOMMUFD_PT, &cmd) ?
	       errno : 0;
}

static int destroy_raw(struct world *w, __u32 id)
{
	return -iommufd_destroy(w->edu.iommufd, id);
}

static int viommu_raw(struct world *w, __u32 flags, __u32 type, __u32 hwpt_id,
		      __u32 *out)
{
	struct iommu_viommu_alloc cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.type = type,
		.dev_id = w->edu.dev_id,
		.hwpt_id = hwpt_id,
	};
	int rc;

	rc = xioctl(w, IOMMU_VIOMMU_ALLOC, &cmd);
	*out = cmd.out_viommu_id;
	return rc;
}

static int veventq_raw(struct world *w, __u32 viommu_id, __u32 type,
		       __u32 depth, __u32 flags, __u32 *id, int *fd)
{
	return -veventq_alloc(&w->edu, viommu_id, type, depth, flags, id, fd);
}

static int inv_raw(struct world *w, __u32 id, void *data, __u32 type,
		   __u32 entry_len, __u32 n, __u32 *done)
{
	struct iommu_hwpt_invalidate cmd = {
		.size = sizeof(cmd),
		.hwpt_id = id,
		.data_uptr = (uintptr_t)data,
		.data_type = type,
		.entry_len = entry_len,
		.entry_num = n,
	};
	int rc;

	rc = xioctl(w, IOMMU_HWPT_INVALIDATE, &cmd);
	*done = cmd.entry_num;
	return rc;
}

/* ---------------------------------------------------------------- picking */

/* A random live slot of a table of @n, or -1 */
#define PICK_LIVE(t, arr, n) ({						\
	int __c[n], __k = 0, __i;					\
									\
	for (__i = 0; __i < (n); __i++)					\
		if ((arr)[__i].live)					\
			__c[__k++] = __i;				\
	__k ? __c[rndn(t, __k)] : -1;					\
})

#define PICK_FREE(t, arr, n) ({						\
	int __c[n], __k = 0, __i;					\
									\
	for (__i = 0; __i < (n); __i++)					\
		if (!(arr)[__i].live)					\
			__c[__k++] = __i;				\
	__k ? __c[rndn(t, __k)] : -1;					\
})

static __u32 viommu_id_or_never(const struct world *w, int v)
{
	return v >= 0 ? w->vi[v].id : NEVER_ID;
}

/* ---------------------------------------------------------------- stage 2 */

static int area_len(const struct world *w, int start)
{
	int n = 0;

	while (start + n < NCHUNK && w->area[start + n] == start)
		n++;
	return n;
}

/* The data chunks' areas, by first chunk */
static int areas_of(const struct world *w, int *starts)
{
	int c, n = 0;

	for (c = 1; c < NCHUNK; c++)
		if (w->area[c] == c)
			starts[n++] = c;
	return n;
}

/*
 * IOAS_MAP of a run of chunks at their IPA: EEXIST if any of them is
 * mapped ("not already a mapping in the range"); chunk 0 always is.
 */
static void op_map(struct th *t)
{
	struct world *w = &t->w;
	int c = 1 + rndn(t, NCHUNK - 1), n = 1 + rndn(t, 3), want = 0, rc, i;

	if (!rndn(t, 10))
		c = 0;
	if (c + n > NCHUNK)
		n = NCHUNK - c;
	for (i = c; i < c + n; i++)
		if (w->area[i] >= 0)
			want = EEXIST;
	rec(t, c, n, 0);
	rc = map_raw(w, c, n);
	if (!expect(t, rc, want, "IOAS_MAP") || rc)
		return;
	for (i = c; i < c + n; i++)
		w->area[i] = c;
}

/* Whole areas from chunk @first to @last: unmapped, their bytes returned */
static void unmap_whole(struct th *t, int first, int last)
{
	struct world *w = &t->w;
	__u64 want_len = 0, done;
	int c, rc;

	for (c = first; c <= last; c++)
		if (w->area[c] >= 0)
			want_len += CHUNK;
	rec(t, first, last - first + 1, 0);
	rc = unmap_raw(w, gpa(&w->mem, first * CHUNK),
		       (last - first + 1) * CHUNK, &done);
	if (!expect(t, rc, 0, "IOAS_UNMAP of whole areas"))
		return;
	if (done != want_len) {
		fail(t, "IOAS_UNMAP unmapped %#llx bytes, the areas had %#llx",
		     (unsigned long long)done, (unsigned long long)want_len);
		return;
	}
	for (c = first; c <= last; c++)
		w->area[c] = -1;
}

/*
 * A range that starts inside an area: ENOENT ("splitting ... is not
 * allowed"), nothing unmapped. Only ranges whose first area is the split one:
 * a range that splits a later area unmaps the earlier ones first.
 */
static void unmap_split(struct th *t, int start)
{
	struct world *w = &t->w;
	__u64 done;
	int rc;

	rec(t, start, 0, 1);
	rec_note(t, "from inside an area");
	rc = unmap_raw(w, gpa(&w->mem, start * CHUNK + SZ_4K), CHUNK, &done);
	expect(t, rc, ENOENT, "IOAS_UNMAP splitting an area");
}

static void op_unmap(struct th *t)
{
	struct world *w = &t->w;
	int starts[NCHUNK], n = areas_of(w, starts), r = rndn(t, 10), a, b;
	int free_c[NCHUNK], nfree = 0, c;
	__u64 done;

	for (c = 1; c < NCHUNK; c++)
		if (w->area[c] < 0)
			free_c[nfree++] = c;
	if (r == 8) {
		/* chunk 0's area or a data area's: start one page in */
		a = n ? starts[rndn(t, n)] : 0;
		return unmap_split(t, rndn(t, 2) ? a : 0);
	}
	if (r == 9 || !n) {
		if (!nfree)
			return skip(t);
		c = free_c[rndn(t, nfree)];
		rec(t, c, 1, 2);
		rec_note(t, "nothing mapped there");
		expect(t, unmap_raw(w, gpa(&w->mem, c * CHUNK), CHUNK, &done),
		       ENOENT, "IOAS_UNMAP of nothing");
		return;
	}
	a = rndn(t, n);
	b = r < 6 ? a : a + rndn(t, n - a);
	unmap_whole(t, starts[a], starts[b] + area_len(w, starts[b]) - 1);
}

/* Everything the guest's stage 1 may have cached goes with its VMID */
static void tlb_forget_all(struct world *w)
{
	memset(w->tlb, 0, sizeof(w->tlb));
	w->cfg_cache = 0;
}

/*
 * A new nesting parent (a new VMID), or, while there is one, IOMMU_DESTROY
 * of the IOAS, which its HWPTs keep busy.
 */
static void op_s2_alloc(struct th *t)
{
	struct world *w = &t->w;
	int rc;

	if (w->s2_live) {
		rec(t, w->ioas_id, 0, 1);
		rec_note(t, "destroy the IOAS under the S2");
		expect(t, destroy_raw(w, w->ioas_id), EBUSY, "destroy of the IOAS");
		return;
	}
	rc = -hwpt_alloc(&w->edu, w->ioas_id, IOMMU_HWPT_ALLOC_NEST_PARENT,
			 IOMMU_HWPT_DATA_NONE, NULL, 0, &w->s2_id);
	rec(t, w->s2_id, 0, 0);
	if (!expect(t, rc, 0, "HWPT_ALLOC of a nesting parent"))
		return;
	w->s2_live = true;
	tlb_forget_all(w);
}

/* The parent is busy while a vIOMMU is on it or the device attached to it */
static void op_s2_destroy(struct th *t)
{
	struct world *w = &t->w;
	int want = w->att == ATT_S2 ? EBUSY : 0, i;

	if (!w->s2_live)
		return skip(t);
	for (i = 0; i < NVIOMMU; i++)
		if (w->vi[i].live)
			want = EBUSY;
	rec(t, w->s2_id, 0, 0);
	if (!expect(t, destroy_raw(w, w->s2_id), want, "destroy of the S2"))
		return;
	if (!want)
		w->s2_live = false;
}

/* ---------------------------------------------------------------- vIOMMU */

static void op_viommu_alloc(struct th *t)
{
	struct world *w = &t->w;
	int v = PICK_FREE(t, w->vi, NVIOMMU), r = rndn(t, 12), rc, want = 0;
	__u32 type = E2E_VIOMMU_TYPE_ARM_SMMUV3, flags = 0, id;
	__u32 hwpt = w->s2_live ? w->s2_id : NEVER_ID;

	if (!w->s2_live)
		want = ENOENT;
	if (r == 0 || v < 0) {
		type = 0;		/* IOMMU_VIOMMU_TYPE_DEFAULT */
		want = EOPNOTSUPP;
	} else if (r == 1) {
		flags = 1;
		want = EOPNOTSUPP;
	} else if (r == 2 && !w->has_cmdqv) {
		/* no implementation on this SMMU gives that type a size */
		type = E2E_VIOMMU_TYPE_TEGRA241_CMDQV;
		want = EOPNOTSUPP;
	} else if (r == 3) {
		hwpt = w->ioas_id;	/* not a HWPT */
		want = ENOENT;
	}
	rec(t, v, type, hwpt);
	rc = viommu_raw(w, flags, type, hwpt, &id);
	if (!expect(t, rc, want, "VIOMMU_ALLOC") || rc)
		return;
	w->vi[v] = (struct viommu){ .live = true, .id = id };
}

/* Busy while a vDEVICE, a nested HWPT or a vEVENTQ holds it */
static bool viommu_busy(const struct world *w, int v)
{
	int i;

	if (w->vdev.live && w->vdev.viommu == v)
		return true;
	if (w->vi[v].q.live)
		return true;
	for (i = 0; i < NNESTED; i++)
		if (w->ne[i].live && w->ne[i].viommu == v)
			return true;
	return false;
}

static void op_viommu_destroy(struct th *t)
{
	struct world *w = &t->w;
	int v = PICK_LIVE(t, w->vi, NVIOMMU), want;

	if (v < 0) {
		rec(t, NEVER_ID, 0, 0);
		expect(t, destroy_raw(w, NEVER_ID), ENOENT, "destroy of no vIOMMU");
		return;
	}
	want = viommu_busy(w, v) ? EBUSY : 0;
	rec(t, v, w->vi[v].id, 0);
	if (expect(t, destroy_raw(w, w->vi[v].id), want, "destroy of a vIOMMU") &&
	    !want)
		w->vi[v].live = false;
}

/* ---------------------------------------------------------------- vDEVICE */

static const __u64 vsids[] = { VSID, VSID + 1, 0xffffffffULL };

/* A live vIOMMU, mostly one a stage-1 nested HWPT is on, else any */
static int pick_viommu_s1(struct th *t)
{
	const struct world *w = &t->w;
	int k;

	for (k = 0; k < NNESTED && rndn(t, 4); k++)
		if (w->ne[k].live && w->ne[k].kind == VSTE_S1)
			return w->ne[k].viommu;
	return PICK_LIVE(t, w->vi, NVIOMMU);
}

static void op_vdev_alloc(struct th *t)
{
	struct world *w = &t->w;
	int v = pick_viommu_s1(t), want = 0, rc;
	__u64 vsid = vsids[rndn(t, ARRAY_SIZE(vsids))];
	__u32 id;

	/* vSIDs are 32-bit: the SMMUv3 driver refuses more */
	if (!rndn(t, 8))
		vsid |= 1ULL << 32;
	if (v < 0)
		want = ENOENT;
	else if (w->vdev.live)
		want = EEXIST;	/* "A device has at most one vDEVICE" */
	else if (vsid > 0xffffffffULL)
		want = EINVAL;
	rec(t, v, vsid, vsid >> 32);
	rc = -vdevice_alloc(&w->edu, viommu_id_or_never(w, v), vsid, &id);
	if (!expect(t, rc, want, "VDEVICE_ALLOC") || rc)
		return;
	w->vdev.live = true;
	w->vdev.id = id;
	w->vdev.viommu = v;
	w->vdev.vsid = vsid;
}

/* Always allowed, attached or not; the device's events lose their vSID */
static void op_vdev_destroy(struct th *t)
{
	struct world *w = &t->w;

	if (!w->vdev.live)
		return skip(t);
	rec(t, w->vdev.id, w->vdev.vsid, 0);
	if (!expect(t, destroy_raw(w, w->vdev.id), 0, "destroy of the vDEVICE"))
		return;
	w->vdev.live = false;
	if (w->vm.set && w->vm.viommu == w->vdev.viommu)
		w->vm.live = false;
}

/* ---------------------------------------------------------------- nested */

/* vSTE words a guest may not set (the uAPI: EIO), from smmu_bad_input */
static const struct {
	__u64 set0, set1, clear0;
} bad_vstes[] = {
	{ .set0 = 1ULL << 52 },
	{ .set0 = 1ULL << 58 },
	{ .set1 = 1ULL << 19 },
	{ .set1 = 1ULL << 25 },
	{ .set1 = 1ULL << 30 },
	{ .set1 = 2ULL << 28 },
	{ .set0 = 6ULL << 1, .clear0 = 7ULL << 1 },
	{ .set0 = 7ULL << 1, .clear0 = 7ULL << 1 },
	{ .set0 = 1ULL << 1, .clear0 = 7ULL << 1 },
};

static void vste_words(struct th *t, int kind, __u64 *ste0, __u64 *ste1)
{
	*ste1 = 0;
	switch (kind) {
	case VSTE_S1:
		*ste0 = vste_s1(&t->w.mem);
		*ste1 = VSTE1_S1;
		break;
	case VSTE_BYPASS:
		*ste0 = STE0_V | STE0_CFG_BYPASS << STE0_CFG_SHIFT;
		break;
	case VSTE_ABORT:
		*ste0 = STE0_V | STE0_CFG_ABORT << STE0_CFG_SHIFT;
		break;
	default:
		/* V clear: abort, "whatever the rest says" */
		*ste0 = (vste_s1(&t->w.mem) | 1ULL << 52) & ~STE0_V;
		*ste1 = rnd(t);
		break;
	}
}

static void op_nested_alloc(struct th *t)
{
	struct world *w = &t->w;
	int k = PICK_FREE(t, w->ne, NNESTED), v = PICK_LIVE(t, w->vi, NVIOMMU);

	/* mostly on the vIOMMU the device has its vDEVICE on */
	if (w->vdev.live && rndn(t, 4))
		v = w->vdev.viommu;
	int r = rndn(t, 20), kind, want = 0, rc;
	struct e2e_hwpt_arm_smmuv3 vste;
	__u64 ste0, ste1;
	__u32 id;

	if (k < 0)
		return skip(t);
	kind = r < 11 ? VSTE_S1 : r < 14 ? VSTE_BYPASS : r < 16 ? VSTE_ABORT :
	       r < 18 ? VSTE_OFF : NVSTE;
	if (kind == NVSTE) {
		unsigned int b = rndn(t, ARRAY_SIZE(bad_vstes));

		vste_words(t, VSTE_S1, &ste0, &ste1);
		ste0 = (ste0 & ~bad_vstes[b].clear0) | bad_vstes[b].set0;
		ste1 |= bad_vstes[b].set1;
		want = EIO;
	} else {
		vste_words(t, kind, &ste0, &ste1);
	}
	/* HWPT_ALLOC takes any pt_id: one that names nothing is EINVAL */
	if (v < 0)
		want = EINVAL;
	vste.ste[0] = htole64(ste0);
	vste.ste[1] = htole64(ste1);
	rec(t, k, v, kind);
	rec_note(t, "vSTE %016llx %016llx", (unsigned long long)ste0,
		 (unsigned long long)ste1);
	rc = -hwpt_alloc(&w->edu, viommu_id_or_never(w, v), 0,
			 E2E_HWPT_DATA_ARM_SMMUV3, &vste, sizeof(vste), &id);
	if (!expect(t, rc, want, "HWPT_ALLOC of a nested HWPT") || rc)
		return;
	w->ne[k] = (struct nested){ .live = true, .id = id, .viommu = v,
				    .kind = kind };
}

static void op_nested_destroy(struct th *t)
{
	struct world *w = &t->w;
	int k = PICK_LIVE(t, w->ne, NNESTED), want;

	if (k < 0)
		return skip(t);
	want = w->att == ATT_NESTED && w->att_ne == k ? EBUSY : 0;
	rec(t, k, w->ne[k].id, 0);
	if (expect(t, destroy_raw(w, w->ne[k].id), want,
		   "destroy of a nested HWPT") && !want)
		w->ne[k].live = false;
}

/* ---------------------------------------------------------------- attach */

/* Let the kernel's event thread get to the faults note_late() saw first */
static void wait_late(struct world *w)
{
	if (!w->late_pending)
		return;
	usleep(EV_GRACE_MS * 1000);
	w->late_pending = false;
}

static bool att_is_s1(const struct world *w)
{
	return w->att == ATT_NESTED && w->ne[w->att_ne].kind == VSTE_S1;
}

/*
 * The model after a successful attach. Attaching what is attached already
 * changes nothing (iommufd returns at once). An STE that starts translating
 * through the guest's CD is new to the SMMU (CFGI_STE), so its configuration
 * cache starts empty; between two stage-1 nested HWPTs of one nesting parent
 * the STE stays the same, and so may that cache.
 */
static void attached(struct world *w, int att, int k)
{
	bool was_s1 = att_is_s1(w);

	if (w->att == att && (att != ATT_NESTED || w->att_ne == k))
		return;
	w->att = att;
	w->att_ne = k;
	w->vm.set = false;
	if (att == ATT_NESTED && w->vdev.live &&
	    w->vdev.viommu == w->ne[k].viommu) {
		w->vm.set = true;
		w->vm.live = true;
		w->vm.viommu = w->vdev.viommu;
		w->vm.vsid = w->vdev.vsid;
	}
	if (att_is_s1(w) && !was_s1)
		w->cfg_cache = 0;
}

/*
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT (a replace when attached): a stage-1 nested
 * HWPT needs the device's vDEVICE on its vIOMMU (ENOENT), and on failure
 * the device stays where it was. IDs of other objects are EINVAL.
 */
/*
 * A live nested slot, mostly a stage-1 one the device can be attached to
 * (its vDEVICE on that vIOMMU): the DMAs worth most go through those.
 */
static int pick_nested(struct th *t)
{
	const struct world *w = &t->w;
	int cand[NNESTED], n = 0, k;

	for (k = 0; k < NNESTED; k++)
		if (w->ne[k].live && w->ne[k].kind == VSTE_S1 &&
		    w->vdev.live && w->vdev.viommu == w->ne[k].viommu)
			cand[n++] = k;
	if (n && rndn(t, 4))
		return cand[rndn(t, n)];
	return PICK_LIVE(t, w->ne, NNESTED);
}

static void op_attach(struct th *t)
{
	struct world *w = &t->w;
	int r = rndn(t, 20), k = pick_nested(t), att, want = 0;
	int v = PICK_LIVE(t, w->vi, NVIOMMU);
	__u32 id;

	if (r < 14 && k >= 0) {
		att = ATT_NESTED;
		id = w->ne[k].id;
		if (w->ne[k].kind == VSTE_S1 &&
		    !(w->vdev.live && w->vdev.viommu == w->ne[k].viommu))
			want = ENOENT;
	} else if (r < 16 && w->s2_live) {
		att = ATT_S2;
		id = w->s2_id;
	} else if (r < 17 || (r == 18 && v < 0) || r == 19) {
		att = ATT_IOAS;
		id = w->ioas_id;
	} else if (r == 17) {
		att = -1;
		id = NEVER_ID;
		want = ENOENT;
	} else {
		att = -1;
		id = w->vi[v].id;	/* not something to attach to */
		want = EINVAL;
	}
	/* The HWPT it is on already: iommufd returns at once, no check */
	if (att == w->att && (att != ATT_NESTED || k == w->att_ne))
		want = 0;
	/*
	 * A fault made before the attach but handled after it would reach
	 * the guest: the SMMU's event queue is asynchronous, and the event
	 * thread goes by the device's attachment when it reads the event.
	 * Timing, not a bug (the uAPI promises no order between the two).
	 */
	wait_late(w);
	rec(t, att, k, id);
	if (!expect(t, attach_raw(w, id), want, "ATTACH_IOMMUFD_PT") || want)
		return;
	attached(w, att, k);
}

static void op_detach(struct th *t)
{
	struct world *w = &t->w;

	rec(t, w->att, 0, 0);
	if (expect(t, detach_raw(w), 0, "DETACH_IOMMUFD_PT"))
		attached(w, ATT_NONE, 0);
}

/* ---------------------------------------------------------------- vEVENTQ */

static const __u32 depths[] = { 1, 2, 3, 8, 64 };

static void op_veventq_alloc(struct th *t)
{
	struct world *w = &t->w;
	int v = PICK_LIVE(t, w->vi, NVIOMMU), r = rndn(t, 12), want = 0, rc;
	__u32 type = E2E_VEVENTQ_TYPE_ARM_SMMUV3, flags = 0, id;
	__u32 depth = depths[rndn(t, ARRAY_SIZE(depths))];
	int fd = -1;

	if (r == 0)
		depth = 0;
	else if (r == 1)
		depth = (1U << 19) + 1;
	else if (r == 2)
		flags = 1;
	else if (r == 3)
		type = 0;	/* IOMMU_VEVENTQ_TYPE_DEFAULT */
	/* In the order the uAPI's checks come */
	if (flags || !type)
		want = EOPNOTSUPP;
	else if (!depth || depth > 1U << 19)
		want = EINVAL;
	else if (v < 0)
		want = ENOENT;
	else if (w->vi[v].q.live)
		want = EEXIST;
	/*
	 * A fault made before the queue but handled after it would land in
	 * it: timing, not a bug (the uAPI does not say whether a new queue
	 * sees faults older than itself)
	 */
	wait_late(w);
	rec(t, v, depth, type);
	rc = veventq_raw(w, viommu_id_or_never(w, v), type, depth, flags, &id,
			 &fd);
	if (!expect(t, rc, want, "VEVENTQ_ALLOC") || rc)
		return;
	w->vi[v].q = (struct vq){ .live = true, .id = id, .fd = fd,
				  .depth = depth };
}

/* The fd holds the queue: EBUSY until it is closed */
static void op_veventq_destroy(struct th *t)
{
	struct world *w = &t->w;
	int cand[NVIOMMU], n = 0, v, i;
	struct vq *q;

	for (i = 0; i < NVIOMMU; i++)
		if (w->vi[i].live && w->vi[i].q.live)
			cand[n++] = i;
	if (!n)
		return skip(t);
	v = cand[rndn(t, n)];
	q = &w->vi[v].q;
	rec(t, v, q->id, 0);
	if (!rndn(t, 4)) {
		rec_note(t, "fd still open");
		expect(t, destroy_raw(w, q->id), EBUSY, "destroy of an open vEVENTQ");
		return;
	}
	close(q->fd);
	q->fd = -1;
	if (expect(t, destroy_raw(w, q->id), 0, "destroy of a vEVENTQ"))
		q->live = false;
}

/* One vEVENT as read: header and the record, in CPU order */
struct ev {
	__u32 flags;
	__u32 seq;
	__u64 evt[4];
};

/* Whatever the queue holds now: the entries' number, or -errno */
static int vq_read(struct vq *q, struct ev *ev, int max)
{
	struct e2e_vevent_arm_smmuv3 data[VEV_MAX];
	struct iommufd_vevent_header hdr[VEV_MAX];
	int n, i, j;

	n = vevents_read_raw(q->fd, sizeof(data[0]), hdr, (__u8 *)data,
			     max < VEV_MAX ? max : VEV_MAX);
	for (i = 0; i < n; i++) {
		ev[i].flags = hdr[i].flags;
		ev[i].seq = hdr[i].sequence;
		for (j = 0; j < 4; j++)
			ev[i].evt[j] = le64toh(data[i].evt[j]);
	}
	return n;
}

/* The earlier DMA whose undrained faults include @addr, or NULL */
static const struct late *late_of(const struct world *w, __u64 addr)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(w->late) && i < w->nlate; i++)
		if (addr >= w->late[i].lo && addr < w->late[i].hi)
			return &w->late[i];
	return NULL;
}

/* The events, each with the earlier DMA it may be a late fault of */
static void print_evs(const struct world *w, const struct ev *ev, int n)
{
	const struct late *l;
	char why[96];
	int i;

	for (i = 0; i < n; i++) {
		l = ev[i].flags ? NULL : late_of(w, ev[i].evt[2]);
		why[0] = 0;
		if (l)
			snprintf(why, sizeof(why),
				 " <- a fault of op #%lu, made while attached to %s",
				 l->op, att_name[l->att]);
		ksft_print_msg("    vEVENT flags %#x seq %u: %016llx %016llx %016llx %016llx%s\n",
			       ev[i].flags, ev[i].seq,
			       (unsigned long long)ev[i].evt[0],
			       (unsigned long long)ev[i].evt[1],
			       (unsigned long long)ev[i].evt[2],
			       (unsigned long long)ev[i].evt[3], why);
	}
}

/*
 * Every forwarded event is drained by the DMA that raised it, so a queue
 * holds nothing between operations: a read returns 0 bytes (an event there
 * now is one nothing raised, or one that came after its DMA's wait). A
 * buffer too small for a header is EINVAL.
 */
static void op_veventq_read(struct th *t)
{
	struct world *w = &t->w;
	int cand[NVIOMMU], n = 0, v, i;
	struct ev ev[VEV_MAX];
	__u8 small[4];

	for (i = 0; i < NVIOMMU; i++)
		if (w->vi[i].live && w->vi[i].q.live)
			cand[n++] = i;
	if (!n)
		return skip(t);
	v = cand[rndn(t, n)];
	rec(t, v, w->vi[v].q.id, 0);
	if (!rndn(t, 4)) {
		rec_note(t, "4-byte buffer");
		expect(t, read(w->vi[v].q.fd, small, sizeof(small)) < 0 ? errno : 0,
		       EINVAL, "read of a vEVENTQ into 4 bytes");
		return;
	}
	n = vq_read(&w->vi[v].q, ev, VEV_MAX);
	if (!expect(t, n < 0 ? -n : 0, 0, "read of a vEVENTQ"))
		return;
	if (n) {
		print_evs(w, ev, n);
		fail(t, "%d vEVENTs in viommu[%d]'s queue that no DMA raised%s",
		     n, v, late_of(w, ev[0].evt[2]) ?
		     "; an earlier DMA's faults, handled after an attach (see its note)" : "");
	}
}

/* ---------------------------------------------------------------- S1 */

static __u64 slot_iova(int s)
{
	return S1_WIN + (__u64)s * SZ_4K;
}

static size_t page_off(int p)
{
	if (p == PG_SRC)
		return T_SRC;
	if (p == PG_SINK)
		return T_SINK;
	return page_of_chunk(p) * CHUNK + (p % 4) * 0x4000;
}

static __u64 page_ipa(const struct world *w, int p)
{
	return p == PG_HOLE ? IPA_HOLE : gpa(&w->mem, page_off(p));
}

/*
 * A variable slot, half the time one the SMMU may have cached: where a
 * change without invalidation, or a DMA after one, tells something.
 */
static int pick_slot(struct th *t)
{
	const struct world *w = &t->w;
	int cand[NSLOT], n = 0, s;

	for (s = SLOT_FIRST; s < NSLOT; s++)
		if (w->tlb[0][s] | w->tlb[1][s])
			cand[n++] = s;
	if (n && rndn(t, 2))
		return cand[rndn(t, n)];
	return SLOT_FIRST + rndn(t, NSLOT - SLOT_FIRST);
}

/* The guest writes a leaf entry of table set @set: a page, or invalid */
static void pte_write(struct world *w, int set, int s, int p)
{
	__u64 zero = 0;

	if (p == PG_NONE)
		gmem_set(&w->mem, set_l3[set] + ((slot_iova(s) >> 12) & 0x1ff) * 8,
			 &zero, sizeof(zero));
	else
		s1_map(&w->mem, set_l1[set], set_l2[set], set_l3[set],
		       slot_iova(s), page_ipa(w, p));
	w->pte[set][s] = p;
}

static int cd_index(const struct world *w)
{
	return w->cd_asid * 2 + w->cd_set;
}

/* One command through a live vIOMMU: success and one done, or a failure */
static bool inv_one(struct th *t, int v, __u64 w0, __u64 w1)
{
	struct e2e_viommu_arm_smmuv3_invalidate cmd = inv_cmd(w0, w1);
	__u32 done = 0;
	int rc;

	rc = inv_raw(&t->w, t->w.vi[v].id, &cmd,
		     E2E_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, sizeof(cmd), 1,
		     &done);
	if (rc || done != 1) {
		fail(t, "invalidation %016llx %016llx: %s, %u done",
		     (unsigned long long)w0, (unsigned long long)w1,
		     rc ? strerrorname_np(rc) : "success", done);
		return false;
	}
	return true;
}

/*
 * The guest changes one stage-1 leaf and, mostly, invalidates it
 * (TLBI_NH_VA of the CD's ASID, now and then the other ASID, which leaves
 * the entry stale) through one of its vIOMMUs: they share the nesting
 * parent's VMID, whichever the device is attached through.
 */
static void s1_change(struct th *t, int p)
{
	struct world *w = &t->w;
	int s = pick_slot(t);
	int set = rndn(t, 10) < 7 ? w->cd_set : !w->cd_set;
	int v = PICK_LIVE(t, w->vi, NVIOMMU), a = w->cd_asid, rc = 0;
	bool inv = rndn(t, 4) != 0;

	if (rndn(t, 6) == 0)
		a = !a;
	pte_write(w, set, s, p);
	rec(t, s, set, p);
	if (!inv || v < 0) {
		rec_note(t, "no invalidation");
		count(t, 0);
		return;
	}
	rec_note(t, "TLBI_NH_VA asid %#x via viommu[%d]", asid_val[a], v);
	if (!inv_one(t, v, CMD_TLBI_NH_VA | CMD0_ASID(asid_val[a]),
		     slot_iova(s) | CMD1_LEAF))
		return;
	count(t, rc);
	w->tlb[a][s] = 0;
}

static void op_s1_map(struct th *t)
{
	s1_change(t, rndn(t, 10) ? pick_page(t) : PG_HOLE);
}

static void op_s1_unmap(struct th *t)
{
	s1_change(t, PG_NONE);
}

/*
 * The guest rewrites its CD (another ASID and/or table set) and, mostly,
 * invalidates it by its vSID (CFGI_CD, which needs the vDEVICE on the vIOMMU
 * the command goes through) and the old ASID; else the SMMU may go on with
 * the old CD for a while.
 */
static void op_cd_switch(struct th *t)
{
	struct world *w = &t->w;
	int old = cd_index(w), nw = (old + 1 + rndn(t, 3)) % 4;
	struct e2e_viommu_arm_smmuv3_invalidate cmds[2];
	int oa = w->cd_asid;
	__u32 done;
	int rc;

	w->cd_asid = nw / 2;
	w->cd_set = nw % 2;
	s1_write_cd(&w->mem, asid_val[w->cd_asid], set_l1[w->cd_set]);
	rec(t, old, nw, 0);
	if (!w->vdev.live || rndn(t, 10) >= 7) {
		rec_note(t, "no invalidation");
		count(t, 0);
		return;
	}
	cmds[0] = inv_cmd(CMD_CFGI_CD | CMD0_SID(w->vdev.vsid), CMD1_LEAF);
	cmds[1] = inv_cmd(CMD_TLBI_NH_ASID | CMD0_ASID(asid_val[oa]), 0);
	rec_note(t, "CFGI_CD vSID %#x, TLBI_NH_ASID %#x", w->vdev.vsid,
		 asid_val[oa]);
	rc = inv_raw(w, w->vi[w->vdev.viommu].id, cmds,
		     E2E_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, sizeof(cmds[0]), 2,
		     &done);
	if (!expect(t, rc, 0, "CFGI_CD + TLBI_NH_ASID"))
		return;
	if (done != 2)
		return fail(t, "CFGI_CD + TLBI_NH_ASID: %u done of 2", done);
	w->cfg_cache = 0;
	memset(w->tlb[oa], 0, sizeof(w->tlb[oa]));
}

/* ---------------------------------------------------------------- invalidate */

/* The guest's commands: those a vIOMMU takes, then those it refuses */
enum cmdk {
	C_NH_VA, C_NH_VAA, C_NH_ASID, C_NH_ALL, C_NSNH_ALL, C_CFGI_CD,
	C_CFGI_CD_ALL, NGOOD,
	C_CFGI_STE = NGOOD, C_CFGI_ALL, C_ATC_INV, C_RSVD, C_LEAF_ALL,
	C_BAD_OP, NCMDK
};

static const char *const cmdk_name[] = {
	"NH_VA", "NH_VAA", "NH_ASID", "NH_ALL", "NSNH_ALL", "CFGI_CD",
	"CFGI_CD_ALL", "CFGI_STE", "CFGI_ALL", "ATC_INV", "RSVD", "LEAF_ALL",
	"BAD_OP",
};

/* A command of the guest's, and what it invalidates if it runs */
struct gcmd {
	int kind;
	bool good;
	__u64 w0, w1;
	int asid;	/* ASID index, -1 for another ASID */
	int slot;
};

static __u32 pick_vsid(struct th *t, int v)
{
	const struct world *w = &t->w;

	if (w->vdev.live && w->vdev.viommu == v && rndn(t, 4))
		return w->vdev.vsid;
	return vsids[rndn(t, ARRAY_SIZE(vsids))];
}

/*
 * The vIOMMU takes only the commands a guest may issue, each with only the
 * fields it has (the uAPI: EIO otherwise), and CFGI/ATC only for a vSID of
 * a vDEVICE on that vIOMMU. ATC_INV is refused without ATS.
 */
static void make_cmd(struct th *t, int v, int kind, struct gcmd *c)
{
	const struct world *w = &t->w;
	int ai = rndn(t, 3);
	__u16 asid = ai < 2 ? asid_val[ai] : 0x55;
	__u32 vsid;

	c->kind = kind;
	c->good = kind < NGOOD;
	c->asid = ai < 2 ? ai : -1;
	c->slot = rndn(t, NSLOT);
	c->w1 = 0;
	switch (kind) {
	case C_NH_VA:
		c->w0 = CMD_TLBI_NH_VA | CMD0_ASID(asid);
		c->w1 = slot_iova(c->slot) | (rndn(t, 2) ? CMD1_LEAF : 0);
		break;
	case C_NH_VAA:
		c->w0 = CMD_TLBI_NH_VAA;
		c->w1 = slot_iova(c->slot) | CMD1_LEAF;
		break;
	case C_NH_ASID:
		c->w0 = CMD_TLBI_NH_ASID | CMD0_ASID(asid);
		break;
	case C_NH_ALL:
		c->w0 = CMD_TLBI_NH_ALL;
		break;
	case C_NSNH_ALL:
		c->w0 = CMD_TLBI_NSNH_ALL;
		break;
	case C_CFGI_CD:
	case C_CFGI_CD_ALL:
		vsid = pick_vsid(t, v);
		c->w0 = (kind == C_CFGI_CD ? CMD_CFGI_CD : CMD_CFGI_CD_ALL) |
			CMD0_SID(vsid);
		c->w1 = kind == C_CFGI_CD ? CMD1_LEAF : 0;
		c->good = w->vdev.live && w->vdev.viommu == v &&
			  w->vdev.vsid == vsid;
		break;
	case C_CFGI_STE:
		c->w0 = CMD_CFGI_STE | CMD0_SID(pick_vsid(t, v));
		c->w1 = CMD1_LEAF;
		break;
	case C_CFGI_ALL:
		c->w0 = CMD_CFGI_ALL;
		c->w1 = 31;
		break;
	case C_ATC_INV:
		c->w0 = CMD_ATC_INV | CMD0_SID(pick_vsid(t, v));
		break;
	case C_RSVD:
		c->w0 = CMD_TLBI_NH_ASID | CMD0_ASID(asid) | 1ULL << 8;
		break;
	case C_LEAF_ALL:
		c->w0 = CMD_TLBI_NH_ALL;
		c->w1 = CMD1_LEAF;
		break;
	default:
		c->w0 = rndn(t, 2) ? 0xff : 0x00;
		break;
	}
}

/* What a command that ran did to the caches the model keeps */
static void cmd_done(struct world *w, const struct gcmd *c)
{
	switch (c->kind) {
	case C_NH_VA:
		if (c->asid >= 0)
			w->tlb[c->asid][c->slot] = 0;
		break;
	case C_NH_VAA:
		w->tlb[0][c->slot] = 0;
		w->tlb[1][c->slot] = 0;
		break;
	case C_NH_ASID:
		if (c->asid >= 0)
			memset(w->tlb[c->asid], 0, sizeof(w->tlb[c->asid]));
		break;
	case C_NH_ALL:
	case C_NSNH_ALL:
		memset(w->tlb, 0, sizeof(w->tlb));
		break;
	case C_CFGI_CD:
	case C_CFGI_CD_ALL:
		w->cfg_cache = 0;
		break;
	}
}

/* A batch of 1-4 commands: those before the first bad one run (entry_num) */
static void inv_batch(struct th *t, int v)
{
	struct world *w = &t->w;
	struct e2e_viommu_arm_smmuv3_invalidate cmds[4];
	int n = 1 + rndn(t, 4), bad = n, i, kind, rc;
	struct gcmd gc[4];
	char names[64] = "";
	__u32 done;

	for (i = 0; i < n; i++) {
		do {
			kind = rndn(t, 4) ? rndn(t, NGOOD) :
					    NGOOD + rndn(t, NCMDK - NGOOD);
		} while (kind == C_ATC_INV && w->ats);
		make_cmd(t, v, kind, &gc[i]);
		cmds[i] = inv_cmd(gc[i].w0, gc[i].w1);
		if (!gc[i].good && bad == n)
			bad = i;
		snprintf(names + strlen(names), sizeof(names) - strlen(names),
			 "%s%s%s", i ? "," : "", cmdk_name[kind],
			 gc[i].good ? "" : "!");
	}
	rec(t, v, n, bad);
	rec_note(t, "%s", names);
	rc = inv_raw(w, w->vi[v].id, cmds, E2E_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
		     sizeof(cmds[0]), n, &done);
	if (!expect(t, rc, bad < n ? EIO : 0, "HWPT_INVALIDATE on a vIOMMU"))
		return;
	if (done != (__u32)bad)
		return fail(t, "HWPT_INVALIDATE: entry_num %u, expected %d", done,
			    bad);
	for (i = 0; i < bad; i++)
		cmd_done(w, &gc[i]);
}

/*
 * The array itself wrong: entry_len 0, no entries or another data type
 * (EINVAL), entries longer than a command with a non-zero tail (E2BIG);
 * nothing done. With a zero tail the longer entries are taken.
 */
static void inv_array(struct th *t, int v)
{
	struct world *w = &t->w;
	struct {
		struct e2e_viommu_arm_smmuv3_invalidate cmd;
		__u64 tail;
	} wide[1];
	__u32 type = E2E_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, len = 16, n = 1;
	int r = rndn(t, 5), want = EINVAL, rc;
	__u32 done;

	wide[0].cmd = inv_cmd(CMD_TLBI_NH_ALL, 0);
	wide[0].tail = 0;
	if (r == 0) {
		len = 0;
	} else if (r == 1) {
		n = 0;
	} else if (r == 2) {
		type = IOMMU_HWPT_INVALIDATE_DATA_VTD_S1;
	} else {
		len = sizeof(wide[0]);
		wide[0].tail = r == 3 ? 1ULL << 63 : 0;
		want = r == 3 ? E2BIG : 0;
	}
	rec(t, v, len, n);
	rec_note(t, "array: type %u entry_len %u num %u", type, len, n);
	rc = inv_raw(w, w->vi[v].id, wide, type, len, n, &done);
	if (!expect(t, rc, want, "HWPT_INVALIDATE with an odd array"))
		return;
	if (done != (want ? 0 : n))
		return fail(t, "HWPT_INVALIDATE: entry_num %u, expected %u", done,
			    want ? 0 : n);
	if (!want)
		memset(w->tlb, 0, sizeof(w->tlb));
}

/*
 * Something that is not a vIOMMU: a nested HWPT of one (the SMMUv3's are
 * invalidated through their vIOMMU: EOPNOTSUPP), the nesting parent
 * (EINVAL), no object (ENOENT); nothing done.
 */
static void inv_not_viommu(struct th *t)
{
	struct world *w = &t->w;
	struct e2e_viommu_arm_smmuv3_invalidate cmd = inv_cmd(CMD_TLBI_NH_ALL, 0);
	int k = PICK_LIVE(t, w->ne, NNESTED), want;
	__u32 id, done;

	if (k >= 0 && rndn(t, 2)) {
		id = w->ne[k].id;
		want = EOPNOTSUPP;
	} else if (w->s2_live && rndn(t, 2)) {
		id = w->s2_id;
		want = EINVAL;
	} else {
		id = NEVER_ID;
		want = ENOENT;
	}
	rec(t, id, 0, 0);
	if (expect(t, inv_raw(w, id, &cmd, E2E_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
			      sizeof(cmd), 1, &done),
		   want, "HWPT_INVALIDATE of a non-vIOMMU") && done)
		fail(t, "HWPT_INVALIDATE: entry_num %u, expected 0", done);
}

static void op_invalidate(struct th *t)
{
	int v = PICK_LIVE(t, t->w.vi, NVIOMMU), r = rndn(t, 10);

	if (v < 0 || r == 9)
		return inv_not_viommu(t);
	if (r == 8)
		return inv_array(t, v);
	inv_batch(t, v);
}

/* ---------------------------------------------------------------- DMA */

/* How the device's DMA is translated now */
enum regime { R_BLOCKED, R_IPA, R_S1 };

static int regime(const struct world *w)
{
	if (w->att == ATT_NONE)
		return R_BLOCKED;
	if (w->att != ATT_NESTED)
		return R_IPA;
	switch (w->ne[w->att_ne].kind) {
	case VSTE_S1:
		return R_S1;
	case VSTE_BYPASS:
		return R_IPA;
	default:
		return R_BLOCKED;
	}
}

/* Where a DMA goes: a stage-1 slot, a page's IPA, or an address that faults */
struct target {
	int slot;	/* or -1 */
	int page;	/* with slot -1: the IPA's page, or -1: the address faults */
	__u64 iova;	/* page aligned */
};

/* What a DMA may do */
struct pred {
	uint64_t pages;	/* the pages it may land in */
	bool fault;	/* it may fault in stage 1: an event for the guest */
	bool other;	/* it may land nowhere otherwise: no event for the guest */
};

static void pick_target(struct th *t, int reg, struct target *tg)
{
	int r = rndn(t, 20);

	tg->slot = -1;
	tg->page = -1;
	if (reg == R_BLOCKED)
		reg = rndn(t, 2) ? R_S1 : R_IPA;
	if (reg == R_S1 && r < 18) {
		tg->slot = pick_slot(t);
		tg->iova = slot_iova(tg->slot);
	} else if (reg == R_S1) {
		/* No L2 entry for either: a stage-1 fault whatever the caches */
		tg->iova = r == 18 ? S1_OFFWIN : page_ipa(&t->w, rndn(t, NPAGE));
	} else {
		tg->page = r < 18 ? pick_page(t) : PG_HOLE;
		tg->iova = page_ipa(&t->w, tg->page);
	}
}

static void add_page(const struct world *w, struct pred *p, int pg)
{
	if (s2_mapped(w, pg))
		p->pages |= 1ULL << pg;
	else
		p->other = true;	/* a stage-2 fault: the host's */
}

/*
 * A stage-1 slot through each CD the SMMU may use (a cached one, or the one
 * in memory) and each translation its TLB may hold for that ASID, or the
 * walk of the tables now; the stage 2 is then the IOAS as it is now.
 */
static void predict_s1(const struct world *w, int s, struct pred *p)
{
	unsigned int cds = w->cfg_cache | 1U << cd_index(w), cd;
	uint64_t cand = 0;
	int pg;

	for (cd = 0; cd < 4; cd++) {
		if (!(cds & 1U << cd))
			continue;
		cand |= w->tlb[cd / 2][s];
		if (w->pte[cd % 2][s] == PG_NONE)
			p->fault = true;
		else
			cand |= 1ULL << w->pte[cd % 2][s];
	}
	for (pg = 0; pg < 64; pg++)
		if (cand & 1ULL << pg)
			add_page(w, p, pg);
}

static void predict(const struct world *w, int reg, const struct target *tg,
		    struct pred *p)
{
	memset(p, 0, sizeof(*p));
	if (reg == R_BLOCKED)
		p->other = true;	/* abort: no event at all */
	else if (reg == R_IPA && tg->page >= 0)
		add_page(w, p, tg->page);
	else if (reg == R_IPA)
		p->other = true;	/* no such IPA in this regime */
	else if (tg->slot >= 0)
		predict_s1(w, tg->slot, p);
	else
		p->fault = true;
}

/*
 * After a stage-1 DMA: the SMMU may now cache the CD in memory, and each
 * translation it could have walked to a mapped page.
 */
static void s1_used(struct world *w, int s)
{
	unsigned int cds = w->cfg_cache | 1U << cd_index(w), cd;
	int pg;

	for (cd = 0; cd < 4 && s >= 0; cd++) {
		if (!(cds & 1U << cd))
			continue;
		pg = w->pte[cd % 2][s];
		if (pg != PG_NONE && s2_mapped(w, pg))
			w->tlb[cd / 2][s] |= 1ULL << pg;
	}
	w->cfg_cache |= 1U << cd_index(w);
}

static bool certain(const struct pred *p)
{
	int n = __builtin_popcountll(p->pages) + (p->fault || p->other);

	return n == 1;
}

/*
 * Lengths: a DMA that may fault raises an event per 4 bytes (QEMU splits an
 * access it cannot translate), so it stays short, and a read that may
 * fault is 4 bytes: one event. The host's faults are short too: the host
 * logs them, and a long burst keeps its event thread busy for seconds.
 */
static void pick_len(struct th *t, const struct pred *p, bool read,
		     unsigned int *off, unsigned int *len)
{
	if (p->fault)
		*len = read ? 4 : 4U << rndn(t, 3);
	else if (p->other && regime(&t->w) != R_BLOCKED)
		*len = 4 * (1 + rndn(t, 16));	/* the host logs each fault */
	else
		*len = 4 * (1 + rndn(t, EDU_BUF_SIZE / 4));
	*off = 4 * rndn(t, (SZ_4K - *len) / 4 + 1);
}

static __u64 src_iova(const struct world *w, int reg, int slot_or_page)
{
	return reg == R_S1 ? slot_iova(slot_or_page == PG_SRC ? SLOT_SRC :
							       SLOT_SINK) :
			     page_ipa(w, slot_or_page);
}

/* The first byte that differs from what the model expects, or -1 */
static long mem_diff(const struct gmem *m)
{
	size_t i;

	if (!memcmp(m->va, m->expect, m->size))
		return -1;
	for (i = 0; i < m->size; i++)
		if (m->va[i] != m->expect[i])
			return i;
	return -1;
}

static bool mem_check(struct th *t, const char *what)
{
	struct gmem *m = &t->w.mem;
	long off = mem_diff(m);

	if (off < 0)
		return true;
	fail(t, "%s: guest memory at offset %#lx (IPA %#llx) holds %#02x, expected %#02x",
	     what, off, (unsigned long long)(m->iova + off), m->va[off],
	     m->expect[off]);
	return false;
}

static void print_pred(struct th *t, const struct pred *p, __u64 iova,
		       unsigned int len)
{
	rec_note(t, "%#llx+%u: pages %#llx%s%s", (unsigned long long)iova, len,
		 (unsigned long long)p->pages, p->fault ? " s1fault" : "",
		 p->other ? " nowhere" : "");
}

/* Where the tables and the CD in memory send a DMA now: a page, or -1 */
static int fresh_page(const struct world *w, int reg, const struct target *tg)
{
	int pg = tg->page;

	if (reg == R_BLOCKED || (reg == R_S1 && tg->slot < 0))
		return -1;
	if (reg == R_S1)
		pg = w->pte[w->cd_set][tg->slot];
	return pg >= 0 && s2_mapped(w, pg) ? pg : -1;
}

/*
 * Which of the predicted pages the write landed in (each either untouched or
 * holding exactly the data), -1 for none; then nothing else may differ.
 */
static void check_write(struct th *t, const struct pred *p, int fresh,
			unsigned int off, unsigned int len, const __u8 *data)
{
	struct gmem *m = &t->w.mem;
	int pg, landed = -1;

	for (pg = 0; pg < 64; pg++) {
		size_t at = page_off(pg) + off;

		if (!(p->pages & 1ULL << pg))
			continue;
		if (!memcmp(m->va + at, m->expect + at, len))
			continue;
		if (memcmp(m->va + at, data, len) || landed >= 0)
			return fail(t, "a write landed in page %d partly or twice", pg);
		landed = pg;
	}
	if (landed >= 0)
		memcpy(m->expect + page_off(landed) + off, data, len);
	if (!mem_check(t, "after a DMA write"))
		return;
	if (landed < 0 && !p->fault && !p->other)
		return fail(t, "the write landed nowhere, expected page(s) %#llx",
			    (unsigned long long)p->pages);
	if (!certain(p)) {
		t->st.maybe++;
		if (landed != fresh)
			t->st.stale_used++;
	} else if (landed >= 0) {
		t->st.landed++;
	} else {
		t->st.blocked++;
	}
}

/*
 * A read copied through edu's buffer to the sink: the sink holds what one of
 * the predicted pages holds; after a read that faulted, the buffer holds
 * anything. Nothing else may change.
 */
static void check_read(struct th *t, const struct pred *p, unsigned int off,
		       unsigned int len, int reg)
{
	struct gmem *m = &t->w.mem;
	bool match = false;
	int pg;

	for (pg = 0; pg < 64; pg++)
		if (p->pages & 1ULL << pg &&
		    !memcmp(m->va + T_SINK, m->expect + page_off(pg) + off, len))
			match = true;
	if (reg == R_BLOCKED && memcmp(m->va + T_SINK, m->expect + T_SINK, len))
		return fail(t, "a blocked device's write reached the sink");
	if (!match && !p->fault && !p->other)
		return fail(t, "a read returned data of none of the pages %#llx",
			    (unsigned long long)p->pages);
	memcpy(m->expect + T_SINK, m->va + T_SINK, len);
	if (!mem_check(t, "after a DMA read"))
		return;
	t->st.reads_checked++;
	if (!certain(p))
		t->st.maybe++;
	else if (p->pages)
		t->st.landed++;
	else
		t->st.blocked++;
}

/* ---------------------------------------------------------------- vEVENTs */

/* One forwarded fault, as the uAPI and the SMMUv3 event record say */
static bool ev_ok(const struct ev *e, __u32 vsid, __u64 lo, __u64 hi, bool read)
{
	return !e->flags && EVT0_ID(e->evt[0]) == EVT_ID_TRANSLATION_FAULT &&
	       EVT0_SID(e->evt[0]) == vsid && !(e->evt[0] & EVT0_SSV) &&
	       !(e->evt[1] & EVT1_S2) && !!(e->evt[1] & EVT1_RNW) == read &&
	       e->evt[2] >= lo && e->evt[2] < hi;
}

/*
 * Read until an entry numbered @last came or the wait is over: how many
 * entries came, or -errno
 */
static int vq_collect(struct vq *q, struct ev *ev, __u32 last, int ms)
{
	struct timespec start;
	int n = 0, r;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (!n || ev[n - 1].seq != last) {
		long left = ms - elapsed_ms(&start);

		if (left <= 0 || n == VEV_MAX || wait_readable(q->fd, left) <= 0)
			break;
		r = vq_read(q, ev + n, VEV_MAX - n);
		if (r < 0)
			return r;
		n += r;
	}
	return n;
}

/*
 * The @k faults of a DMA at @iova, 4 bytes apart, into a queue that holds
 * nothing before, numbered on from q->seq: fault j is event q->seq + j.
 * Each is queued while the queue holds less than its depth, else lost: a
 * marker with its number ends the queue until a newer event replaces it.
 * Reading while they come frees room, so which ones are lost depends on
 * timing, but the first min(k, depth) always fit, every entry is in order,
 * each event has its fault's address, and the last entry is the last
 * fault's (event or marker). Then the queue is empty.
 */
static void vevents_exact(struct th *t, struct vq *q, __u32 vsid, __u64 iova,
			  int k, bool read)
{
	int fit = k < (int)q->depth ? k : (int)q->depth, n, i, more, marks = 0;
	__u32 first = q->seq, last = q->seq + k - 1, prev = first - 1;
	struct ev ev[VEV_MAX];
	bool ok;

	n = vq_collect(q, ev, last, EV_WAIT_MS);
	more = n >= 0 && n < VEV_MAX ? vq_read(q, ev + n, VEV_MAX - n) : 0;
	ok = n >= fit && !more && ev[n - 1].seq == last;
	for (i = 0; ok && i < n; i++) {
		__u32 j = ev[i].seq - first;

		ok = ev[i].seq > prev || (i == 0 && ev[i].seq == first);
		if (ev[i].flags == IOMMU_VEVENTQ_FLAG_LOST_EVENTS)
			marks++;
		else
			ok = ok && ev_ok(&ev[i], vsid, iova + 4 * j,
					 iova + 4 * j + 1, read);
		ok = ok && (j >= (__u32)fit || !ev[i].flags);
		ok = ok && (i >= fit || (int)j == i);
		prev = ev[i].seq;
	}
	if (!ok) {
		if (n > 0)
			print_evs(&t->w, ev, n + (more > 0 ? more : 0));
		return fail(t, "vEVENTs: %d entries, expected %d fault(s) at %#llx by vSID %#x numbered %u-%u (depth %u)",
			    n, k, (unsigned long long)iova, vsid, first, last,
			    q->depth);
	}
	q->seq += k;
	t->st.ev_exact += n - marks;
	t->st.ev_lost += marks;
}

/*
 * A DMA that may or may not have faulted: after a quiet spell, whatever came
 * must be faults of this DMA by @vsid, numbered on without a gap but for a
 * lost marker at the end.
 */
static int vevents_loose(struct th *t, struct vq *q, __u32 vsid, __u64 iova,
			 unsigned int len, bool read)
{
	struct ev ev[VEV_MAX];
	int n, i;

	usleep(EV_GRACE_MS * 1000);
	n = vq_read(q, ev, VEV_MAX);
	for (i = 0; i < n; i++) {
		bool marker = ev[i].flags == IOMMU_VEVENTQ_FLAG_LOST_EVENTS &&
			      i == n - 1 && ev[i].seq >= q->seq + i;

		if (!marker && (!ev_ok(&ev[i], vsid, iova, iova + len, read) ||
				ev[i].seq != q->seq + i))
			break;
	}
	if (n < 0 || i < n) {
		if (n > 0)
			print_evs(&t->w, ev, n);
		fail(t, "vEVENTs of a DMA at %#llx+%u that may fault: entry %d is not one (vSID %#x, from seq %u)",
		     (unsigned long long)iova, len, i, vsid, q->seq);
		return 0;
	}
	if (n)
		q->seq = ev[n - 1].seq + 1;
	return n;
}

/*
 * The device's vDEVICE was destroyed (and maybe made again with another
 * vSID) while it stayed on a stage-1 nested HWPT: the uAPI says the driver
 * "reports nothing for a device without a vDEVICE", and the vSID it had at
 * attach may be another device's now. No vEVENT at all.
 */
static void vevent_stale(struct th *t, struct vq *q)
{
	struct world *w = &t->w;
	struct ev ev[VEV_MAX];
	int n;

	usleep(EV_GRACE_MS * 1000);
	n = vq_read(q, ev, VEV_MAX);
	if (n > 0) {
		print_evs(w, ev, n);
		fail(t, "%d vEVENT(s) by vSID %#x of a vDEVICE destroyed while attached (vDEVICE now: %s vSID %#x); the uAPI: nothing is reported for a device without a vDEVICE",
		     n, w->vm.vsid, w->vdev.live ? "live" : "none",
		     w->vdev.vsid);
		return;
	}
	t->st.ev_gone++;
}

/*
 * The kernel's event thread hands a fault to the guest if the device has a
 * vSID (is on a nested HWPT with its vDEVICE) when the thread gets to the
 * event, not when the fault happened (see op_attach()). Faults
 * made while the device was on a host domain (the IOAS's, whose faults have
 * S2 clear), or on a nested HWPT without a queue to read them from, may
 * still be on their way when an attach gives the device a vSID, and then
 * reach the guest: the faults of a DMA nothing drained are remembered here.
 */
static void note_late(struct th *t, int reg, const struct pred *p, __u64 iova,
		      unsigned int len)
{
	struct world *w = &t->w;
	bool drained = w->vm.set && w->vi[w->vm.viommu].q.live;

	if (!(reg == R_IPA && w->att == ATT_IOAS && p->other) &&
	    !(reg == R_S1 && p->fault && !drained))
		return;
	w->late[w->nlate++ % ARRAY_SIZE(w->late)] = (struct late){
		.op = t->nops, .lo = iova, .hi = iova + len, .att = w->att,
	};
	w->late_pending = true;
}

/*
 * The guest hears of a stage-1 fault of its device through the queue of the
 * vIOMMU the device's nested HWPT is on, by the vSID its vDEVICE had when
 * the device was attached; stage-2 faults, and faults while there is no
 * queue, are the host's.
 */
static void dma_events(struct th *t, int reg, const struct pred *p, __u64 iova,
		       unsigned int len, bool read)
{
	struct world *w = &t->w;
	struct vq *q;

	if (reg != R_S1 || !p->fault || !w->vm.set)
		return;
	q = &w->vi[w->vm.viommu].q;
	if (!q->live)
		return;
	/* A vDEVICE made again with the same vSID names the device rightly */
	if (!w->vm.live && !(w->vdev.live && w->vdev.viommu == w->vm.viommu &&
			     w->vdev.vsid == w->vm.vsid))
		return vevent_stale(t, q);
	if (p->pages || p->other) {
		t->st.ev_loose += vevents_loose(t, q, w->vm.vsid, iova, len, read);
		return;
	}
	vevents_exact(t, q, w->vm.vsid, iova, read ? 1 : len / 4, read);
}

static bool dma(struct th *t, __u64 iova, unsigned int len, unsigned int dir)
{
	int rc = edu_dma(&t->w.edu, iova, 0, len, dir);

	if (rc)
		fail(t, "edu DMA %s %#llx+%u: %s",
		     dir == EDU_DMA_TO_RAM ? "to" : "from",
		     (unsigned long long)iova, len, strerror(-rc));
	return !rc;
}

/*
 * edu loads fresh data from the source page (stage-1 slot 0, or its IPA)
 * and writes it to the target; the model says where it may land.
 */
static void op_dma_write(struct th *t)
{
	struct world *w = &t->w;
	int reg = regime(w);
	unsigned int off, len;
	struct target tg;
	__u8 data[SZ_4K];
	struct pred p;
	int fresh;

	pick_target(t, reg, &tg);
	predict(w, reg, &tg, &p);
	fresh = fresh_page(w, reg, &tg);
	pick_len(t, &p, false, &off, &len);
	rec(t, reg, tg.slot, tg.page);
	print_pred(t, &p, tg.iova + off, len);
	fill_pattern(data, len, rnd(t));
	gmem_set(&w->mem, T_SRC, data, len);
	if (!dma(t, src_iova(w, reg, PG_SRC), len, EDU_DMA_FROM_RAM) ||
	    !dma(t, tg.iova + off, len, EDU_DMA_TO_RAM))
		return;
	count(t, 0);
	t->st.regime[reg]++;
	if (reg == R_S1)
		s1_used(w, tg.slot);
	check_write(t, &p, fresh, off, len, data);
	if (t->done != 2)
		dma_events(t, reg, &p, tg.iova + off, len, false);
	note_late(t, reg, &p, tg.iova + off, len);
}

/* edu reads the target, then writes what it read to the sink page */
static void op_dma_read(struct th *t)
{
	struct world *w = &t->w;
	int reg = regime(w);
	unsigned int off, len;
	struct target tg;
	struct pred p;

	pick_target(t, reg, &tg);
	predict(w, reg, &tg, &p);
	pick_len(t, &p, true, &off, &len);
	rec(t, reg, tg.slot, tg.page);
	print_pred(t, &p, tg.iova + off, len);
	if (!dma(t, tg.iova + off, len, EDU_DMA_FROM_RAM) ||
	    !dma(t, src_iova(w, reg, PG_SINK), len, EDU_DMA_TO_RAM))
		return;
	count(t, 0);
	t->st.regime[reg]++;
	if (reg == R_S1)
		s1_used(w, tg.slot);
	check_read(t, &p, off, len, reg);
	if (t->done != 2)
		dma_events(t, reg, &p, tg.iova + off, len, true);
	note_late(t, reg, &p, tg.iova + off, len);
}

/* ---------------------------------------------------------------- the VM */

/* Guest memory without huge pages, so that the end can count its pins */
static int vm_memory(struct world *w)
{
	struct gmem *m = &w->mem;

	m->va = mmap(NULL, GM_SIZE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m->va == MAP_FAILED) {
		m->va = NULL;
		return -errno;
	}
	madvise(m->va, GM_SIZE, MADV_NOHUGEPAGE);
	m->expect = malloc(GM_SIZE);
	if (!m->expect)
		return -ENOMEM;
	m->iova = GMEM_IOVA;
	m->size = GM_SIZE;
	fill_pattern(m->va, GM_SIZE, 0x5eed + w->idx);
	memcpy(m->expect, m->va, GM_SIZE);
	return 0;
}

/*
 * The guest's stage 1: both table sets map slot 0 to the source page and
 * slot 1 to the sink; set 0 maps slots 2-9 to the first data pages; the CD
 * uses ASID and set 0.
 */
static void vm_stage1(struct world *w)
{
	__u8 zero[SZ_4K] = {};
	int set, s;

	for (s = 0; s <= 6; s++)
		gmem_set(&w->mem, G_CD + s * SZ_4K, zero, sizeof(zero));
	for (set = 0; set < 2; set++) {
		for (s = 0; s < NSLOT; s++)
			w->pte[set][s] = PG_NONE;
		pte_write(w, set, SLOT_SRC, PG_SRC);
		pte_write(w, set, SLOT_SINK, PG_SINK);
	}
	for (s = SLOT_FIRST; s < SLOT_FIRST + 8; s++)
		pte_write(w, 0, s, s - SLOT_FIRST);
	w->cd_asid = 0;
	w->cd_set = 0;
	s1_write_cd(&w->mem, asid_val[0], set_l1[0]);
}

/*
 * VM @idx on edu @idx: its memory mapped chunk by chunk, a nesting parent
 * with the device attached, one vIOMMU. Everything else is the operations'.
 */
static int vm_setup(struct world *w, int idx)
{
	struct e2e_hw_info_arm_smmuv3 info;
	const char *why;
	int ret, c;

	memset(w, 0, sizeof(*w));
	w->idx = idx;
	ret = edu_open(&w->edu, idx, g_iommufd);
	if (ret)
		return ret;
	if (!e2e_vsmmu_allowed(w->edu.iommufd, w->edu.dev_id, &why)) {
		note("%s", why);
		return -EOPNOTSUPP;
	}
	ret = smmu_hw_info(w->edu.iommufd, w->edu.dev_id, &info);
	if (ret)
		return ret;
	w->ats = info.idr[0] & IDR0_ATS;
	w->has_cmdqv = e2e_has_cmdqv(w->edu.iommufd, w->edu.dev_id, &why);
	ret = vm_memory(w);
	if (ret)
		return ret;
	vm_stage1(w);
	ret = ioas_alloc(w->edu.iommufd, &w->ioas_id);
	if (ret)
		return ret;
	for (c = 0; c < NCHUNK; c++) {
		ret = -map_raw(w, c, 1);
		if (ret)
			return ret;
		w->area[c] = c;
	}
	ret = hwpt_alloc(&w->edu, w->ioas_id, IOMMU_HWPT_ALLOC_NEST_PARENT,
			 IOMMU_HWPT_DATA_NONE, NULL, 0, &w->s2_id);
	if (ret)
		return ret;
	w->s2_live = true;
	ret = vfio_attach(&w->edu, w->s2_id, NULL);
	if (ret)
		return ret;
	w->att = ATT_S2;
	ret = viommu_alloc(&w->edu, w->s2_id, E2E_VIOMMU_TYPE_ARM_SMMUV3,
			   &w->vi[0].id);
	if (ret)
		return ret;
	w->vi[0].live = true;
	return edu_enable(&w->edu);
}

/*
 * The VM's vSMMU goes: the device detached, every object destroyed, leaves
 * first, each destroy succeeding, the nesting parent last (its VMID freed).
 */
static bool vsmmu_down(struct th *t)
{
	struct world *w = &t->w;
	int i;

	if (!expect(t, detach_raw(w), 0, "vSMMU down: detach"))
		return false;
	attached(w, ATT_NONE, 0);
	for (i = 0; i < NVIOMMU; i++) {
		if (!w->vi[i].live || !w->vi[i].q.live)
			continue;
		close(w->vi[i].q.fd);
		if (!expect(t, destroy_raw(w, w->vi[i].q.id), 0,
			    "vSMMU down: destroy of a vEVENTQ"))
			return false;
	}
	for (i = 0; i < NNESTED; i++)
		if (w->ne[i].live &&
		    !expect(t, destroy_raw(w, w->ne[i].id), 0,
			    "vSMMU down: destroy of a nested HWPT"))
			return false;
	if (w->vdev.live && !expect(t, destroy_raw(w, w->vdev.id), 0,
				    "vSMMU down: destroy of the vDEVICE"))
		return false;
	for (i = 0; i < NVIOMMU; i++)
		if (w->vi[i].live &&
		    !expect(t, destroy_raw(w, w->vi[i].id), 0,
			    "vSMMU down: destroy of a vIOMMU"))
			return false;
	if (w->s2_live && !expect(t, destroy_raw(w, w->s2_id), 0,
				  "vSMMU down: destroy of the S2"))
		return false;
	memset(w->vi, 0, sizeof(w->vi));
	memset(w->ne, 0, sizeof(w->ne));
	w->vdev.live = false;
	w->s2_live = false;
	return true;
}

/* The end of a VM: its vSMMU and IOAS gone, the device unbound and closed */
static bool vm_teardown(struct th *t)
{
	struct world *w = &t->w;

	cur(t)->op = OP_DETACH;
	if (!vsmmu_down(t) ||
	    !expect(t, destroy_raw(w, w->ioas_id), 0,
		    "teardown: destroy of the IOAS"))
		return false;
	edu_close(&w->edu);
	return true;
}

/*
 * The VM reboots: its vSMMU goes (vsmmu_down()) and comes back as a new
 * nesting parent, with the device on it, and a vIOMMU. The new parent may
 * get the VMID just freed, or one the other VM freed: it must find nothing
 * of the old translations, so the model starts it with empty caches.
 */
static void op_vm_reset(struct th *t)
{
	struct world *w = &t->w;
	int rc;

	if (!vsmmu_down(t))
		return;
	rc = -hwpt_alloc(&w->edu, w->ioas_id, IOMMU_HWPT_ALLOC_NEST_PARENT,
			 IOMMU_HWPT_DATA_NONE, NULL, 0, &w->s2_id);
	if (!expect(t, rc, 0, "reset: HWPT_ALLOC of a nesting parent"))
		return;
	w->s2_live = true;
	tlb_forget_all(w);
	if (!expect(t, attach_raw(w, w->s2_id), 0, "reset: attach to the S2"))
		return;
	attached(w, ATT_S2, 0);
	rc = viommu_raw(w, 0, E2E_VIOMMU_TYPE_ARM_SMMUV3, w->s2_id, &w->vi[0].id);
	if (!expect(t, rc, 0, "reset: VIOMMU_ALLOC"))
		return;
	w->vi[0].live = true;
	rec(t, w->s2_id, w->vi[0].id, 0);
}

/*
 * After every VM is gone: a new iommufd works, and no page of a VM's memory
 * is still pinned (the selftest's MD_CHECK_REFS with 0 pins), retrying while
 * a release may still be on its way.
 */
static bool final_check(void)
{
	struct iommu_ioas_alloc a = { .size = sizeof(a) };
	int fd, i, tries, rc = 0;

	fd = open("/dev/iommu", O_RDWR);
	if (fd < 0 || ioctl(fd, IOMMU_IOAS_ALLOC, &a) ||
	    iommufd_destroy(fd, a.out_ioas_id)) {
		ksft_print_msg("FAIL: a new iommufd: %s\n", strerror(errno));
		return false;
	}
	for (i = 0; i < g_threads; i++) {
		struct iommu_test_cmd cmd = {
			.size = sizeof(cmd),
			.op = IOMMU_TEST_OP_MD_CHECK_REFS,
			.check_refs = { .length = GM_SIZE,
					.uptr = (uintptr_t)ths[i].w.mem.va },
		};

		for (tries = 0; tries < 50; tries++) {
			rc = ioctl(fd, IOMMU_TEST_CMD, &cmd) ? errno : 0;
			if (rc != EIO)
				break;
			usleep(100000);
		}
		if (rc == ENOTTY) {
			ksft_print_msg("no iommufd selftest: pins not counted\n");
			break;
		}
		if (rc) {
			ksft_print_msg("FAIL: VM %d's memory: MD_CHECK_REFS: %s (pages still pinned)\n",
				       i, strerror(rc));
			close(fd);
			return false;
		}
	}
	close(fd);
	return true;
}

/* ---------------------------------------------------------------- running */

static void run_op(struct th *t, int op)
{
	switch (op) {
	case OP_MAP: return op_map(t);
	case OP_UNMAP: return op_unmap(t);
	case OP_S2_ALLOC: return op_s2_alloc(t);
	case OP_S2_DESTROY: return op_s2_destroy(t);
	case OP_VIOMMU_ALLOC: return op_viommu_alloc(t);
	case OP_VIOMMU_DESTROY: return op_viommu_destroy(t);
	case OP_VDEV_ALLOC: return op_vdev_alloc(t);
	case OP_VDEV_DESTROY: return op_vdev_destroy(t);
	case OP_NESTED_ALLOC: return op_nested_alloc(t);
	case OP_NESTED_DESTROY: return op_nested_destroy(t);
	case OP_ATTACH: return op_attach(t);
	case OP_DETACH: return op_detach(t);
	case OP_VEVENTQ_ALLOC: return op_veventq_alloc(t);
	case OP_VEVENTQ_DESTROY: return op_veventq_destroy(t);
	case OP_VEVENTQ_READ: return op_veventq_read(t);
	case OP_INVALIDATE: return op_invalidate(t);
	case OP_S1_MAP: return op_s1_map(t);
	case OP_S1_UNMAP: return op_s1_unmap(t);
	case OP_CD_SWITCH: return op_cd_switch(t);
	case OP_DMA_WRITE: return op_dma_write(t);
	case OP_DMA_READ: return op_dma_read(t);
	case OP_VM_RESET: return op_vm_reset(t);
	}
}

static int draw_op(struct th *t)
{
	return stress_draw_op(&t->rng_op, op_cumul, NOPS, op_total);
}

/*
 * /proc/sys/kernel/tainted after every op: a WARN (or worse) shows there at
 * once, reported with the op that ran (or the other thread's)
 */
static int taint_fd = -1;
static unsigned long taint0;
static volatile int taint_seen;

static unsigned long read_taint(void)
{
	return stress_read_taint(taint_fd);
}

static void check_taint(struct th *t)
{
	unsigned long now = read_taint();

	if (now == taint0 || __atomic_exchange_n(&taint_seen, 1, __ATOMIC_RELAXED))
		return;
	fail(t, "the kernel got tainted (%#lx, was %#lx: a WARN or worse) during this op or the other thread's; see its log",
	     now, taint0);
}

static void *thread_main(void *arg)
{
	struct th *t = arg;

	while (!g_stop && t->done != 2) {
		struct ring_ent *e;
		int op = draw_op(t);

		t->nops++;
		e = cur(t);
		memset(e, 0, sizeof(*e));
		e->n = t->nops;
		e->op = op;
		e->rc = -1;
		run_op(t, op);
		check_taint(t);
	}
	if (t->done != 2)
		t->done = 1;
	return NULL;
}

static void sig_fatal(int sig)
{
	int i;

	ksft_print_msg("FAIL: signal %d (%s), seed %llu\n", sig, strsignal(sig),
		       g_seed);
	for (i = 0; i < g_threads; i++)
		print_ring(&ths[i]);
	fflush(stdout);
	_exit(KSFT_FAIL);
}

static void report(double secs)
{
	unsigned long total = 0, sum[NOPS][NBUCKET] = {};
	struct dstats st = {};
	int i, j, b;

	for (i = 0; i < g_threads; i++) {
		struct dstats *s = &ths[i].st;

		total += ths[i].nops;
		for (j = 0; j < NOPS; j++)
			for (b = 0; b < NBUCKET; b++)
				sum[j][b] += ths[i].counts[j][b];
		for (j = 0; j < 3; j++)
			st.regime[j] += s->regime[j];
		st.landed += s->landed;
		st.blocked += s->blocked;
		st.maybe += s->maybe;
		st.stale_used += s->stale_used;
		st.reads_checked += s->reads_checked;
		st.ev_exact += s->ev_exact;
		st.ev_loose += s->ev_loose;
		st.ev_lost += s->ev_lost;
		st.ev_gone += s->ev_gone;
		ksft_print_msg("thread %d (edu %s): %lu ops\n", i,
			       ths[i].w.edu.bdf, ths[i].nops);
	}
	ksft_print_msg("%lu ops in %.1f s: %.2f ops/s\n", total, secs,
		       total / secs);
	for (j = 0; j < NOPS; j++) {
		char line[256] = "";
		unsigned long n = 0;

		for (b = 0; b < NBUCKET; b++) {
			n += sum[j][b];
			if (sum[j][b])
				snprintf(line + strlen(line),
					 sizeof(line) - strlen(line), " %s %lu",
					 bucket_name[b], sum[j][b]);
		}
		ksft_print_msg("  %-16s %6lu (%.2f/s):%s\n", op_name[j], n,
			       n / secs, line);
	}
	ksft_print_msg("DMA: %lu through a stage-1 vSTE, %lu by IPA (S2, IOAS or bypass vSTE), %lu blocked (detached, abort vSTE)\n",
		       st.regime[R_S1], st.regime[R_IPA], st.regime[R_BLOCKED]);
	ksft_print_msg("DMA: %lu landed where predicted, %lu blocked as predicted, %lu uncertain (stage-1 caches) of which %lu used an old translation; %lu reads checked\n",
		       st.landed, st.blocked, st.maybe, st.stale_used,
		       st.reads_checked);
	ksft_print_msg("vEVENTs: %lu predicted exactly, %lu lost markers, %lu from uncertain DMAs; none for %lu faulting DMAs of a device whose vDEVICE was gone\n",
		       st.ev_exact, st.ev_lost, st.ev_loose, st.ev_gone);
}

static void start_threads(unsigned long long seed)
{
	int i;

	for (i = 0; i < g_threads; i++) {
		struct th *t = &ths[i];
		uint64_t s = seed * 0x100000001b3ULL + i;

		t->idx = i;
		t->rng_op = splitmix64(&s);
		t->rng_arg = splitmix64(&s) ^ 0x5bd1e995;
		if (pthread_create(&t->tid, NULL, thread_main, t))
			ksft_exit_fail_msg("pthread_create\n");
	}
}

/* Wait for the threads; a thread stuck 300 s after the end fails the run */
static void join_threads(double deadline)
{
	int i, j;

	for (i = 0; i < g_threads; i++) {
		while (!ths[i].done && stress_now() < deadline + 300)
			usleep(100000);
		if (!ths[i].done) {
			ksft_print_msg("FAIL: seed %llu: thread %d is stuck for 300 s\n",
				       g_seed, i);
			for (j = 0; j < g_threads; j++)
				print_ring(&ths[j]);
			fflush(stdout);
			_exit(KSFT_FAIL);
		}
		pthread_join(ths[i].tid, NULL);
	}
}

/* One seed's run, in a process of its own: true if it passed */
static bool stress(unsigned long long seed)
{
	double t0, deadline;
	bool ok = true;
	int i, ret;

	g_seed = seed;
	for (i = 0; i < NOPS; i++) {
		op_total += op_weight[i];
		op_cumul[i] = op_total;
	}
	g_iommufd = open("/dev/iommu", O_RDWR);
	if (g_iommufd < 0) {
		ksft_print_msg("open /dev/iommu: %s\n", strerror(errno));
		return false;
	}
	for (i = 0; i < g_threads; i++) {
		ret = vm_setup(&ths[i].w, i);
		if (ret) {
			ksft_print_msg("VM %d setup: %s\n", i, strerror(-ret));
			return false;
		}
	}
	taint_fd = open("/proc/sys/kernel/tainted", O_RDONLY);
	taint0 = read_taint();
	signal(SIGSEGV, sig_fatal);
	signal(SIGBUS, sig_fatal);
	ksft_print_msg("seed %llu, %d thread(s), %d s, pid %d\n", seed,
		       g_threads, g_duration, getpid());
	fflush(stdout);

	t0 = stress_now();
	deadline = t0 + g_duration;
	start_threads(seed);
	while (!g_stop && stress_now() < deadline)
		usleep(100000);
	g_stop = 1;
	join_threads(deadline);
	report(stress_now() - t0);
	if (g_failed) {
		ksft_print_msg("%d unexpected results\n", g_failed);
		return false;
	}

	for (i = 0; i < g_threads && ok; i++) {
		ths[i].nops++;
		memset(cur(&ths[i]), 0, sizeof(struct ring_ent));
		cur(&ths[i])->n = ths[i].nops;
		ok = vm_teardown(&ths[i]);
	}
	close(g_iommufd);
	if (ok)
		ok = final_check();
	if (ok)
		ksft_print_msg("teardown: every object destroyed, no guest page left pinned\n");
	return ok;
}

/*
 * Whether the machine can run this: two edu devices (or as many as threads)
 * and a vSMMU allowed over them; *why says why not.
 */
static bool machine_ok(const char **why)
{
	static char buf[256];
	struct edu edu;
	char bdf[32];
	bool ok;
	int fd, i;

	*why = buf;
	for (i = 0; i < g_threads; i++) {
		if (edu_find(i, bdf, sizeof(bdf))) {
			snprintf(buf, sizeof(buf), "no edu device number %d", i);
			return false;
		}
	}
	fd = open("/dev/iommu", O_RDWR);
	if (fd < 0) {
		snprintf(buf, sizeof(buf), "no /dev/iommu: %s", strerror(errno));
		return false;
	}
	if (edu_open(&edu, 0, fd)) {
		snprintf(buf, sizeof(buf), "cannot open edu 0 through VFIO");
		close(fd);
		return false;
	}
	ok = e2e_vsmmu_allowed(edu.iommufd, edu.dev_id, why);
	edu_close(&edu);
	close(fd);
	return ok;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [--seed N[,N...]] [--duration SECONDS] [--threads 1|2]\n"
		"          [--keep-going: the other thread goes on after a failure]\n",
		argv0);
	exit(KSFT_FAIL);
}

static int parse_seeds(const char *arg, unsigned long long *seeds, int max)
{
	char *end;
	int n = 0;

	while (*arg && n < max) {
		seeds[n++] = strtoull(arg, &end, 0);
		if (end == arg || (*end && *end != ','))
			return -1;
		arg = *end ? end + 1 : end;
	}
	return n;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "duration", required_argument, NULL, 'd' },
		{ "threads", required_argument, NULL, 't' },
		{ "keep-going", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	unsigned long long seeds[16] = { 1 };
	int c, i, nseeds = 1;
	const char *env, *why;

	env = getenv("STRESS_SEED");
	if (env)
		nseeds = parse_seeds(env, seeds, 16);
	env = getenv("STRESS_DURATION");
	if (env)
		g_duration = atoi(env);
	env = getenv("STRESS_THREADS");
	if (env)
		g_threads = atoi(env);
	while ((c = getopt_long(argc, argv, "s:d:t:kh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			nseeds = parse_seeds(optarg, seeds, 16);
			break;
		case 'd':
			g_duration = atoi(optarg);
			break;
		case 't':
			g_threads = atoi(optarg);
			break;
		case 'k':
			g_keep_going = true;
			break;
		default:
			usage(argv[0]);
		}
	}
	if (nseeds < 1 || g_threads < 1 || g_threads > MAXTHREADS ||
	    g_duration < 1)
		usage(argv[0]);
	setvbuf(stdout, NULL, _IOLBF, 0);

	ksft_print_header();
	ksft_set_plan(nseeds);
	if (!machine_ok(&why)) {
		for (i = 0; i < nseeds; i++)
			ksft_test_result_skip("smmu stress seed %llu: %s\n",
					      seeds[i], why);
		ksft_finished();
	}
	/* Each seed in a process of its own: fresh state, and a crash is a result */
	for (i = 0; i < nseeds; i++) {
		int status = 0;
		pid_t pid;
		bool ok;

		fflush(stdout);
		pid = fork();
		if (pid < 0)
			ksft_exit_fail_msg("fork: %s\n", strerror(errno));
		if (!pid)
			_exit(stress(seeds[i]) ? 0 : 1);
		ok = waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		     !WEXITSTATUS(status);
		if (!ok)
			ksft_print_msg("seed %llu: status %#x\n", seeds[i], status);
		ksft_test_result(ok, "smmu stress seed %llu threads %d duration %d\n",
				 seeds[i], g_threads, g_duration);
	}
	ksft_finished();
}
