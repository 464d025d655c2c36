// SPDX-License-Identifier: GPL-2.0-only
/*
 * A seeded, multi-threaded (and forking) stress of /dev/iommu on the iommufd
 * selftest mock: IOAS, mappings, mock devices, nesting parents, vIOMMUs,
 * vDEVICEs, nested HWPTs, invalidations, vEVENTQs, HW queues, the mock
 * vIOMMU's mmap page, fault queues, fork() and close/reopen of the iommufd.
 *
 *   iommufd_stress [--seed N[,N...]] [--duration S] [--threads N]
 *                  [--procs N] [--keep-going]
 *                  [--skip-ops OP,...]
 *
 * (the same from the environment: STRESS_SEED, STRESS_DURATION,
 * STRESS_THREADS, STRESS_PROCS; arguments win). Each seed runs for the
 * duration, one after the other, each in a child process with --procs
 * processes (seeds N, N + 1000003, ...), each with its own iommufd and
 * --threads threads (default 4).
 *
 * Every thread draws its operations from a PRNG of its own, seeded from the
 * seed and the thread's index; a second PRNG, seeded the same way, draws the
 * operations' parameters. The same seed therefore gives every thread the same
 * sequence of operations; which objects they hit depends on the other threads.
 *
 * The threads share one table of the objects they made (kind, kernel ID,
 * parents), under a mutex, and operate on each other's objects; the ioctls
 * run outside the lock. Every result is checked against the errnos the uAPI
 * documents for the call in the state the table shows: a small allowed set
 * per call, each errno with its reason next to it. Because threads race, an
 * object may change between the lookup and the ioctl; each entry carries a
 * generation that a destroyer bumps when it claims it, so an op knows whether
 * what it used stayed intact, and only then is it strict. An unexpected
 * result prints the seed, the thread, the op and that thread's last
 * operations, and the program fails (with --keep-going it goes on to the
 * end, reporting up to 20 of them, and fails then).
 *
 * The end: everything is destroyed (the table must empty), the iommufd
 * closed, and a fresh one must allocate and destroy an IOAS and find no page
 * of the shared buffers still pinned (IOMMU_TEST_OP_MD_CHECK_REFS); the test
 * harness's kmemleak scan judges leaks.
 *
 * Output: KTAP (kselftest.h), one result per process, with per-op counts and
 * errnos, ops/s and the number of distinct object-graph states reached as
 * "# " lines.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "iommufd_utils.h"
#include "stress.h"

/* ---------------------------------------------------------------- setup */

#define MAXOBJ 256
#define MAXTHREADS 64
#define RING 32
#define NBUF 3

static unsigned long long g_seed;	/* this process's */
static int g_threads = 4;
static int g_duration = 60;
static int g_procs = 1;

static int ctx_fd = -1;			/* the iommufd; under ctx_lock */
static pthread_rwlock_t ctx_lock;	/* read: any op; write: close/reopen */
static pthread_mutex_t tlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t plock = PTHREAD_MUTEX_INITIALIZER;
static volatile int g_stop;
static volatile int g_failed;
static bool g_keep_going;	/* report every failure, do not stop */
/*
 * Steer clear of what the kernel is known to WARN about (see --help), so
 * that a run can judge everything else
 */

static struct {
	char *p;
	size_t len;
	const char *what;
} bufs[NBUF];

/* The ops, with their weights (out of about 500) */
#define OPS(X)                                                               \
	X(IOAS_ALLOC, 20) X(IOAS_DESTROY, 12) X(MAP, 32) X(UNMAP, 20)        \
	X(UNMAP_ALL, 4) X(COPY, 12) X(STDEV_ALLOC, 20) X(STDEV_DESTROY, 10)  \
	X(IDEV_DESTROY, 4) X(HWPT_ALLOC, 20) X(HWPT_DESTROY, 10)             \
	X(REPLACE, 24) X(VIOMMU_ALLOC, 20) X(VIOMMU_DESTROY, 12)             \
	X(VDEV_ALLOC, 20) X(VDEV_DESTROY, 12) X(NESTED_ALLOC, 20)            \
	X(NESTED_DESTROY, 12) X(INV_HWPT, 12) X(INV_VIOMMU, 12)              \
	X(VEVENTQ_ALLOC, 16) X(VEVENTQ_DESTROY, 12) X(TRIGGER_VEVENT, 24)    \
	X(VEVENTQ_READ, 16) X(HWQ_ALLOC, 16) X(HWQ_DESTROY, 12) X(MMAP, 12) \
	X(MMAP_TOUCH, 12) X(MUNMAP, 12) X(FAULT_ALLOC, 4)                    \
	X(FAULT_DESTROY, 4) X(IOPF, 8) X(FORK, 2) X(REOPEN, 1) X(ORPHAN, 12)

#define X_ENUM(n, w) OP_##n,
enum op { OPS(X_ENUM) NOPS };
#define X_NAME(n, w) #n,
static const char *const op_name[] = { OPS(X_NAME) };
#define X_W(n, w) w,
static const unsigned int op_weight[] = { OPS(X_W) };
static unsigned int op_cumul[NOPS];
static bool op_skipped[NOPS];
static unsigned int op_total;

/* Result buckets for the per-op counts */
static const int bucket_errno[] = { 0,      ENOENT, EBUSY,      EEXIST, EINVAL,
				    EIO,    ENXIO,  EOPNOTSUPP, ENOMEM };
static const char *const bucket_name[] = { "ok",     "ENOENT", "EBUSY",
					   "EEXIST", "EINVAL", "EIO",
					   "ENXIO",  "EOPNOTSUPP", "ENOMEM",
					   "skip" };
#define NBUCKET 10
#define B_SKIP 9

/* ---------------------------------------------------------------- table */

enum kind {
	K_FREE,
	K_PENDING,	/* reserved by an allocation in progress */
	K_IOAS,
	K_MAP,		/* an IOAS area: parent IOAS, iova, len */
	K_STDEV,	/* mock device: id = selftest object, id2 = idev */
	K_HWPT,		/* paging HWPT (nesting parent or not): parent IOAS */
	K_NESTED,	/* nested HWPT: parent vIOMMU or HWPT, parent2 fault */
	K_VIOMMU,	/* parent HWPT */
	K_VDEV,		/* parent vIOMMU, parent2 the mock device */
	K_VEVENTQ,	/* parent vIOMMU; fd */
	K_HWQ,		/* parent vIOMMU, parent2 the queue below; map */
	K_MMAP,		/* the vIOMMU's page mapped: parent vIOMMU */
	K_FAULT,	/* fault queue; fd */
	K_ORPHAN_MMAP,	/* a mapping left when its iommufd was closed */
	K_ORPHAN_FD,	/* a vEVENTQ/fault fd left when the iommufd was closed */
	NKIND
};
static const char *const kind_name[] = {
	"free", "pending", "ioas", "map", "stdev", "hwpt", "nested", "viommu",
	"vdev", "veventq", "hwq", "mmap", "fault", "orphan_mmap", "orphan_fd",
};
static const int kind_cap[NKIND] = {
	[K_IOAS] = 8,	 [K_MAP] = 48,	 [K_STDEV] = 8,	 [K_HWPT] = 8,
	[K_NESTED] = 12, [K_VIOMMU] = 6, [K_VDEV] = 8,	 [K_VEVENTQ] = 6,
	[K_HWQ] = 8,	 [K_MMAP] = 8,	 [K_FAULT] = 3,	 [K_ORPHAN_MMAP] = 16,
	[K_ORPHAN_FD] = 16,
};

struct obj {
	int kind;
	bool claimed;	/* one thread destroys it (or unmaps, munmaps) */
	bool dead;	/* gone or uncertain: never strict about it */
	bool tomb;	/* dead for sure: a tombstoned vDEVICE */
	int busy;	/* threads that need it to stay: no claim meanwhile */
	uint32_t gen;	/* bumped by every claim and by dying */
	uint64_t serial;
	uint32_t id, id2;
	int parent, parent2;
	uint64_t pserial, pserial2;
	int map;	/* HWQ: the K_MAP it pins */
	uint64_t mserial;
	int fd;
	bool fd_is_fault;
	int replacing;	/* replaces of the device in flight */
	/* What the device is attached to, when known for sure */
	bool att_known;
	int att;
	uint64_t attserial;
	uint64_t iova, len;
	void *addr;
	uint64_t mmap_off, mmap_len;
	uint32_t in_data;
	uint64_t virt_id;
	uint32_t index;
	bool nest_parent;
	bool hwq_ever;	/* IOAS: a HW queue pinned, or tried to, its memory */
	/*
	 * Attempt counters: bumped when an op that can change the answer of
	 * another starts and ends, with the number in flight; an op whose
	 * answer depends on them is exact only if none ran meanwhile.
	 */
	uint32_t sq[3];
	int inf[3];
};

enum { SQ_VDEV, SQ_VEVENTQ, SQ_HWQ, SQ_MAPS = SQ_VDEV, SQ_UNMAP_ALL = SQ_VEVENTQ };

static struct obj tbl[MAXOBJ];
/* Destroys of mock devices in flight (they tombstone vDEVICEs), and their count */
static uint32_t g_stdev_destroy_seq;
static int g_stdev_destroy_inflight;
static uint64_t serial_ctr;
static int kind_count[NKIND];
static int dead_count[NKIND];

/*
 * The exact expectations met (each a state in which only one result is
 * right), counted to show the run reached them
 */
enum strict {
	ST_DESTROY_PINNED,	/* destroy of a held object: EBUSY */
	ST_DESTROY_FD,		/* destroy of a queue whose fd is open: EBUSY */
	ST_IDEV_BUSY,		/* destroy of a bound idev: EBUSY */
	ST_UNMAP_PINNED,	/* unmap of an area a HW queue pins: EBUSY */
	ST_REPLACE_NO_VDEV,	/* attach to a vIOMMU's HWPT without vDEVICE */
	ST_HWQ_UNMAPPED,	/* HW queue on unmapped IOVA: ENOENT */
	ST_HWQ_ORDER,		/* HW queue index taken or out of order */
	ST_EEXIST,		/* second vDEVICE/vEVENTQ where one is: EEXIST */
	ST_BAD_PARENT,		/* vIOMMU/nested on a non-nesting parent */
	ST_BAD_ENTRY,		/* invalidation entry out of range: EINVAL */
	NSTRICT
};
static const char *const strict_name[] = {
	"destroy of a held object: EBUSY",
	"destroy of a vEVENTQ/fault queue with its fd open: EBUSY",
	"destroy of a bound idev: EBUSY",
	"unmap of an area a HW queue pins: EBUSY",
	"attach to a vIOMMU's nested HWPT without vDEVICE: ENOENT",
	"HW queue on unmapped IOVA: ENOENT",
	"HW queue index taken (EEXIST) or out of order (EIO)",
	"second vDEVICE or vEVENTQ: EEXIST",
	"vIOMMU or nested HWPT on a non-nesting parent: EINVAL",
	"invalidation entry out of range: EINVAL",
};
static unsigned long strict_cnt[NSTRICT];

/*
 * Distinct object-graph states: counts per kind, capped, hashed into a set
 * of 8 MiB, counted up to half of it (a 30-minute run reaches ~10^5)
 */
#define STATE_BITS 20
#define STATE_SET (1 << STATE_BITS)
static uint64_t state_set[STATE_SET];
static unsigned int n_states;

static void note_state(void)
{
	static const int kinds[] = { K_IOAS,   K_MAP,	  K_STDEV, K_HWPT,
				     K_NESTED, K_VIOMMU, K_VDEV,  K_VEVENTQ,
				     K_HWQ,    K_MMAP,	  K_FAULT };
	uint64_t key = 1, h;
	unsigned int i, n;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		n = kind_count[kinds[i]];
		if (kinds[i] == K_MAP)
			n = n ? 1 + (n > 4) + (n > 16) : 0;
		key = (key << 3) | (n > 7 ? 7 : n);
	}
	key = (key << 1) | !!(kind_count[K_ORPHAN_MMAP] + kind_count[K_ORPHAN_FD]);
	h = key * 0x9e3779b97f4a7c15ULL;
	for (i = h >> (64 - STATE_BITS); n_states < STATE_SET / 2;
	     i = (i + 1) % STATE_SET) {
		if (state_set[i] == key)
			return;
		if (!state_set[i]) {
			state_set[i] = key;
			n_states++;
			return;
		}
	}
}

static int slot_alloc(int kind)
{
	int i;

	if (kind_count[kind] >= kind_cap[kind])
		return -1;
	for (i = 0; i < MAXOBJ; i++) {
		if (tbl[i].kind != K_FREE)
			continue;
		memset(&tbl[i], 0, sizeof(tbl[i]));
		tbl[i].kind = K_PENDING;
		tbl[i].serial = ++serial_ctr;
		tbl[i].parent = tbl[i].parent2 = tbl[i].map = -1;
		tbl[i].fd = -1;
		/* counted from now on against the cap */
		kind_count[kind]++;
		return i;
	}
	return -1;
}

static void slot_publish(int s, int kind)
{
	tbl[s].kind = kind;
}

/* An allocation that failed */
static void slot_cancel(int s, int kind)
{
	kind_count[kind]--;
	tbl[s].kind = K_FREE;
}

static void slot_free(int s)
{
	if (tbl[s].dead && !tbl[s].tomb)
		dead_count[tbl[s].kind]--;
	kind_count[tbl[s].kind]--;
	tbl[s].kind = K_FREE;
}

static void mark_dead(int s)
{
	if (!tbl[s].dead)
		dead_count[tbl[s].kind]++;
	tbl[s].dead = true;
	tbl[s].gen++;
}

/*
 * The end of an allocation, under tlock: @made, slot @s becomes a @kind (dead
 * at once if what it was made from @raced away); otherwise it is given back.
 * Returns @made, so the caller fills in what the kernel answered.
 */
static bool slot_settle(int s, int kind, bool made, bool raced)
{
	if (!made) {
		slot_cancel(s, kind);
		return false;
	}
	slot_publish(s, kind);
	if (raced)
		mark_dead(s);
	return true;
}

static void claim(int s)
{
	int i;

	tbl[s].claimed = true;
	tbl[s].gen++;
	/* A device's destroy tombstones its vDEVICE: that one changes too */
	if (tbl[s].kind == K_STDEV)
		for (i = 0; i < MAXOBJ; i++)
			if (tbl[i].kind == K_VDEV && tbl[i].parent2 == s &&
			    tbl[i].pserial2 == tbl[s].serial)
				tbl[i].gen++;
}

static void unclaim(int s)
{
	tbl[s].claimed = false;
}

static bool usable(int s);

/* A reference an op took to an entry, to judge later whether it held */
struct ref {
	int s;
	uint64_t serial;
	uint32_t gen;
	bool bad;	/* claimed or dead already when taken */
};

static struct ref mkref(int s)
{
	struct ref r = { .s = s };

	if (s < 0)
		return r;
	r.serial = tbl[s].serial;
	r.gen = tbl[s].gen;
	r.bad = !usable(s);
	return r;
}

/* Same object, never claimed nor dying since the reference was taken */
static bool intact(const struct ref *r)
{
	const struct obj *o;

	if (r->s < 0 || r->bad)
		return false;
	o = &tbl[r->s];
	return o->kind > K_PENDING && o->serial == r->serial &&
	       o->gen == r->gen && usable(r->s);
}

/* Is the entry still the one the reference names (whatever its state)? */
static bool same(int s, uint64_t serial)
{
	return s >= 0 && tbl[s].kind > K_PENDING && tbl[s].serial == serial;
}

static bool usable(int s)
{
	int d;

	if (tbl[s].claimed || tbl[s].dead)
		return false;
	/* A vDEVICE goes (tombstoned) with its device */
	if (tbl[s].kind == K_VDEV) {
		d = tbl[s].parent2;
		return same(d, tbl[s].pserial2) && !tbl[d].claimed;
	}
	return true;
}

/* ---------------------------------------------------------------- threads */

struct ring_ent {
	unsigned long n;
	int op;
	uint32_t a, b, c;
	int rc;		/* errno, 0, or -1 while in flight */
	bool raced;
	bool counted;	/* the op's first result is its count */
	char note[40];
};

struct th {
	int idx;
	pthread_t tid;
	uint64_t rng_op, rng_arg;
	unsigned long nops;
	struct ring_ent ring[RING];
	unsigned long counts[NOPS][NBUCKET];
	unsigned long others[NOPS];
	volatile int done;
};

static struct th ths[MAXTHREADS];

/*
 * Each thread's IOAS_UNMAP while it is in the kernel (under tlock): the
 * area it names, and that area's IOAS and range
 */
static struct {
	bool on;
	int s, p;
	uint64_t pserial, iova, len;
} unmapping[MAXTHREADS];

/* Every thread's results in the order they came, for a failure's report */
#define GRING 1024
static struct {
	int thread;
	struct ring_ent e;
} gring[GRING];
static unsigned long gring_n;

static void gring_add(struct th *t, struct ring_ent *e)
{
	unsigned long n = __atomic_fetch_add(&gring_n, 1, __ATOMIC_RELAXED);

	gring[n % GRING].thread = t->idx;
	gring[n % GRING].e = *e;
}

static void print_gring(void)
{
	unsigned long i, n = gring_n, first = n > GRING ? n - GRING : 0;

	ksft_print_msg("  all threads' last %lu results, oldest first:\n",
		       n - first);
	for (i = first; i < n; i++) {
		struct ring_ent *e = &gring[i % GRING].e;

		ksft_print_msg("    t%d #%lu %s(%u, %u, %u)%s -> %s %s\n",
			       gring[i % GRING].thread, e->n, op_name[e->op],
			       e->a, e->b, e->c, e->raced ? " raced" : "",
			       e->rc ? strerrorname_np(e->rc) : "ok", e->note);
	}
}

static void print_table(void)
{
	int i;

	ksft_print_msg("  the table:\n");
	for (i = 0; i < MAXOBJ; i++) {
		struct obj *o = &tbl[i];

		if (o->kind == K_FREE)
			continue;
		ksft_print_msg("    [%d] %s id %u/%u parent [%d]%s [%d]%s iova %#llx len %#llx virt %llu fd %d map [%d]%s%s%s busy %d\n",
			       i, kind_name[o->kind], o->id, o->id2, o->parent,
			       same(o->parent, o->pserial) ? "" : "(gone)",
			       o->parent2,
			       same(o->parent2, o->pserial2) ? "" : "(gone)",
			       (unsigned long long)o->iova,
			       (unsigned long long)o->len,
			       (unsigned long long)o->virt_id, o->fd, o->map,
			       o->claimed ? " claimed" : "",
			       o->dead ? " dead" : "", o->tomb ? " tomb" : "",
			       o->busy);
	}
}

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

static void rec(struct th *t, uint32_t a, uint32_t b, uint32_t c)
{
	struct ring_ent *e = cur(t);

	e->a = a;
	e->b = b;
	e->c = c;
}

static void rec_note(struct th *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cur(t)->note, sizeof(cur(t)->note), fmt, ap);
	va_end(ap);
}

static void print_ring(struct th *t)
{
	/* A worker's first op is #1; the teardown's is #0 */
	unsigned long i, first = t->nops >= RING ? t->nops - RING + 1 :
						  !!t->nops;

	ksft_print_msg("  thread %d, its last %lu operations (oldest first):\n",
		       t->idx, t->nops + 1 - first);
	for (i = first; i <= t->nops; i++) {
		struct ring_ent *e = &t->ring[i % RING];

		ksft_print_msg("    #%lu %s(%u, %u, %u)%s -> %s %s\n", e->n,
			       op_name[e->op], e->a, e->b, e->c,
			       e->raced ? " raced" : "",
			       e->rc < 0 ? "in flight" :
			       e->rc ? strerrorname_np(e->rc) : "ok", e->note);
	}
}

static void fail(struct th *t, const char *fmt, ...)
{
	va_list ap;
	char msg[512];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&plock);
	if (g_failed < 20) {
		ksft_print_msg("FAIL: seed %llu thread %d op #%lu %s: %s\n",
			       g_seed, t->idx, t->nops, op_name[cur(t)->op],
			       msg);
		print_ring(t);
		if (!g_failed) {
			print_gring();
			print_table();
		}
		fflush(stdout);
	}
	g_failed++;
	if (!g_keep_going)
		g_stop = 1;
	pthread_mutex_unlock(&plock);
}

/* A set of errnos (0: success), with the reason for each kept in comments */
struct eset {
	uint64_t b[2];
};

static void es_add(struct eset *e, int err)
{
	if (err >= 0 && err < 128)
		e->b[err / 64] |= 1ULL << (err % 64);
}

static bool es_has(const struct eset *e, int err)
{
	return err >= 0 && err < 128 && (e->b[err / 64] >> (err % 64)) & 1;
}

static void es_str(const struct eset *e, char *buf, size_t len)
{
	int i;

	buf[0] = 0;
	for (i = 0; i < 128; i++)
		if (es_has(e, i))
			snprintf(buf + strlen(buf), len - strlen(buf), "%s%s",
				 buf[0] ? "," : "", i ? strerrorname_np(i) : "0");
}

/* Count the result; fail if it is not allowed */
static bool check(struct th *t, int rc, const struct eset *ok, bool raced)
{
	struct ring_ent *e = cur(t);
	int i;

	if (!e->counted) {
		e->rc = rc;
		e->raced = raced;
		e->counted = true;
		gring_add(t, e);
		for (i = 0; i < NBUCKET - 1; i++)
			if (bucket_errno[i] == rc)
				break;
		if (i == NBUCKET - 1)
			t->others[e->op]++;
		else
			t->counts[e->op][i]++;
	}
	if (!es_has(ok, rc)) {
		char allowed[256];

		es_str(ok, allowed, sizeof(allowed));
		fail(t, "errno %d (%s), allowed here: {%s}%s", rc,
		     rc ? strerrorname_np(rc) : "success", allowed,
		     raced ? " (an object it used raced)" : "");
		return false;
	}
	return true;
}

static void skip(struct th *t)
{
	cur(t)->rc = 0;
	cur(t)->counted = true;
	snprintf(cur(t)->note, sizeof(cur(t)->note), "skipped");
	t->counts[cur(t)->op][B_SKIP]++;
}

static int xioctl(unsigned long req, void *arg)
{
	return ioctl(ctx_fd, req, arg) ? errno : 0;
}

static int destroy_id(uint32_t id)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };

	return xioctl(IOMMU_DESTROY, &cmd);
}

/*
 * Pick an entry of @kind at random. With @racy, now and then one that
 * another thread is destroying (the race the op is then lenient about);
 * otherwise only usable ones. Entries with busy users are never claimed.
 */
typedef bool (*filter_fn)(int s, const void *arg);

static int pick(struct th *t, int kind, bool racy, filter_fn f, const void *arg)
{
	int cand[MAXOBJ], n = 0, i;
	bool any_bad = racy && rndn(t, 16) == 0;

	for (i = 0; i < MAXOBJ; i++) {
		if (tbl[i].kind != kind)
			continue;
		if (!any_bad && !usable(i))
			continue;
		if (f && !f(i, arg))
			continue;
		cand[n++] = i;
	}
	return n ? cand[rndn(t, n)] : -1;
}

static int pick_claim(struct th *t, int kind, filter_fn f, const void *arg)
{
	int cand[MAXOBJ], n = 0, i;

	for (i = 0; i < MAXOBJ; i++) {
		if (tbl[i].kind != kind || tbl[i].claimed || tbl[i].busy)
			continue;
		if (f && !f(i, arg))
			continue;
		cand[n++] = i;
	}
	return n ? cand[rndn(t, n)] : -1;
}

/* Children that hold @s in the kernel: they make its destroy EBUSY */
static int pins_of(int s, struct ref *out, int max)
{
	int i, n = 0;

	for (i = 0; i < MAXOBJ && n < max; i++) {
		struct obj *o = &tbl[i];

		if (o->kind <= K_PENDING || !usable(i))
			continue;
		/* An area does not hold its IOAS; a vDEVICE not its device */
		if (o->parent == s && same(s, o->pserial) && o->kind != K_MAP)
			out[n++] = mkref(i);
		else if (o->parent2 == s && same(s, o->pserial2) &&
			 o->kind != K_VDEV)
			out[n++] = mkref(i);
	}
	return n;
}

/* ---------------------------------------------------------------- ops */

static int iommufd_open(void)
{
	return open("/dev/iommu", O_RDWR);
}

static void op_ioas_alloc(struct th *t)
{
	struct iommu_iova_range range = { .start = MOCK_APERTURE_START,
					  .last = MOCK_APERTURE_LAST };
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
	struct iommu_ioas_allow_iovas allow = {
		.size = sizeof(allow),
		.num_iovas = 1,
		.allowed_iovas = (uintptr_t)&range,
	};
	struct eset ok = {};
	int s, rc;

	pthread_mutex_lock(&tlock);
	s = slot_alloc(K_IOAS);
	pthread_mutex_unlock(&tlock);
	if (s < 0)
		return skip(t);
	rc = xioctl(IOMMU_IOAS_ALLOC, &cmd);
	rec(t, cmd.out_ioas_id, 0, 0);
	es_add(&ok, 0);		/* nothing can refuse a new IOAS */
	if (!check(t, rc, &ok, false) || rc)
		goto cancel;
	/*
	 * Only the mock domain's aperture: areas outside it would make every
	 * attach of a mock device to this IOAS EADDRINUSE. Not yet visible to
	 * any other thread: must work.
	 */
	allow.ioas_id = cmd.out_ioas_id;
	rc = xioctl(IOMMU_IOAS_ALLOW_IOVAS, &allow);
	if (!check(t, rc, &ok, false))
		goto cancel;
	pthread_mutex_lock(&tlock);
	tbl[s].id = cmd.out_ioas_id;
	slot_publish(s, K_IOAS);
	pthread_mutex_unlock(&tlock);
	return;
cancel:
	pthread_mutex_lock(&tlock);
	slot_cancel(s, K_IOAS);
	pthread_mutex_unlock(&tlock);
}

/* After a successful destroy: what goes with the object */
static void destroyed(int s)
{
	int i;

	for (i = 0; i < MAXOBJ; i++) {
		struct obj *o = &tbl[i];

		if (o->kind <= K_PENDING)
			continue;
		/* An IOAS takes its areas along */
		if (o->kind == K_MAP && o->parent == s &&
		    same(s, o->pserial)) {
			if (o->claimed || o->busy)
				mark_dead(i);
			else
				slot_free(i);
		}
		/*
		 * A mock device's vDEVICE is tombstoned: its ID stays ENOENT;
		 * known to be gone, it needs no leniency elsewhere
		 */
		if (o->kind == K_VDEV && o->parent2 == s &&
		    same(s, o->pserial2) && !o->dead) {
			o->dead = o->tomb = true;
			o->gen++;
		}
	}
	slot_free(s);
}

/*
 * A destroy changes what some allocations find: bump their counters when it
 * starts (@dir 1) and ends (@dir -1)
 */
static void destroy_bump(int s, int dir)
{
	struct obj *o = &tbl[s];
	int p = o->parent, q = o->parent2;

	switch (o->kind) {
	case K_VDEV:
		if (same(p, o->pserial)) {
			tbl[p].sq[SQ_VDEV]++;
			tbl[p].inf[SQ_VDEV] += dir;
		}
		if (same(q, o->pserial2)) {
			tbl[q].sq[SQ_VDEV]++;
			tbl[q].inf[SQ_VDEV] += dir;
		}
		break;
	case K_STDEV:
		g_stdev_destroy_seq++;
		g_stdev_destroy_inflight += dir;
		break;
	case K_VEVENTQ:
		if (same(p, o->pserial)) {
			tbl[p].sq[SQ_VEVENTQ]++;
			tbl[p].inf[SQ_VEVENTQ] += dir;
		}
		break;
	case K_HWQ:
		if (same(p, o->pserial)) {
			tbl[p].sq[SQ_HWQ]++;
			tbl[p].inf[SQ_HWQ] += dir;
		}
		break;
	}
}

/*
 * IOMMU_DESTROY of any object: 0, or EBUSY while something holds it (a child
 * object, an attached device, an open fd, a mapping, or simply another
 * thread's ioctl that is using it right now). Strict: success while a child
 * the table knows stayed intact all along is a kernel bug.
 */
static void destroy_claimed(struct th *t, int s, bool expect_busy)
{
	struct ref pins[MAXOBJ], dev = { .s = -1 };
	struct eset ok = {};
	bool raced, pinned = false;
	int npins, rc, i;
	uint32_t id = tbl[s].id, seq;

	npins = pins_of(s, pins, MAXOBJ);
	raced = tbl[s].dead;
	if (tbl[s].kind == K_VDEV)
		dev = mkref(tbl[s].parent2);
	seq = g_stdev_destroy_seq;
	destroy_bump(s, 1);
	pthread_mutex_unlock(&tlock);

	rec(t, id, npins, expect_busy);
	rc = destroy_id(id);

	pthread_mutex_lock(&tlock);
	destroy_bump(s, -1);
	for (i = 0; i < npins; i++)
		if (intact(&pins[i]))
			pinned = true;
	es_add(&ok, EBUSY);	/* in use, see above */
	if (!pinned && !expect_busy)
		es_add(&ok, 0);
	/*
	 * ENOENT: a dead entry's object may be gone already: a vDEVICE is
	 * tombstoned with its device, an allocation that raced may have
	 * hit an object another thread destroyed meanwhile.
	 */
	if (raced || tbl[s].dead)
		es_add(&ok, ENOENT);
	/*
	 * ENOENT: a vDEVICE whose device is being destroyed right now, which
	 * tombstones it
	 */
	if (tbl[s].kind == K_VDEV &&
	    (!intact(&dev) || seq != g_stdev_destroy_seq ||
	     g_stdev_destroy_inflight))
		es_add(&ok, ENOENT);
	if (pinned)
		rec_note(t, "pinned by a child");
	if (rc == EBUSY && (pinned || expect_busy))
		strict_cnt[expect_busy ? ST_DESTROY_FD : ST_DESTROY_PINNED]++;
	if (check(t, rc, &ok, raced) && (rc == 0 || rc == ENOENT))
		destroyed(s);
	else
		unclaim(s);
}

static void op_destroy_kind(struct th *t, int kind)
{
	int s;

	pthread_mutex_lock(&tlock);
	s = pick_claim(t, kind, NULL, NULL);
	if (s < 0) {
		pthread_mutex_unlock(&tlock);
		return skip(t);
	}
	claim(s);
	destroy_claimed(t, s, false);
	pthread_mutex_unlock(&tlock);
}

static void op_vdev_destroy(struct th *t)
{
	int s;

	pthread_mutex_lock(&tlock);
	s = pick_claim(t, K_VDEV, NULL, NULL);
	if (s < 0) {
		pthread_mutex_unlock(&tlock);
		return skip(t);
	}
	claim(s);
	destroy_claimed(t, s, false);
	pthread_mutex_unlock(&tlock);
}

static void pick_buffer(struct th *t, void **va, __u64 *len)
{
	unsigned int b = rndn(t, NBUF);
	size_t pages = bufs[b].len / PAGE_SIZE;
	size_t first = rndn(t, pages);
	size_t n = 1 + rndn(t, 32);

	if (first + n > pages)
		n = pages - first;
	*va = bufs[b].p + first * PAGE_SIZE;
	*len = n * PAGE_SIZE;
}

/*
 * A new area's entry in the IOAS @r names; dead (uncertain) if an UNMAP_ALL
 * of that IOAS ran meanwhile (@seq: its counter when the op started)
 */
static void publish_map(int s, const struct ref *r, uint32_t seq,
			uint64_t iova, uint64_t len)
{
	int p = r->s;

	tbl[s].parent = p;
	tbl[s].pserial = r->serial;
	tbl[s].iova = iova;
	tbl[s].len = len;
	slot_publish(s, K_MAP);
	if (!intact(r) || tbl[p].sq[SQ_UNMAP_ALL] != seq ||
	    tbl[p].inf[SQ_UNMAP_ALL])
		mark_dead(s);
}

/*
 * IOAS_MAP and the destination of IOAS_COPY hold their IOAS (busy): an ID
 * that another thread's destroy freed could go to a new IOAS before it is
 * restricted to the mock aperture (IOMMU_IOAS_ALLOW_IOVAS), and an area
 * there would make attaching mock devices to it EADDRINUSE.
 */
static void op_map(struct th *t)
{
	struct iommu_ioas_map cmd = {
		.size = sizeof(cmd),
		.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
	};
	struct eset ok = {};
	struct ref r;
	uint32_t seq;
	void *va;
	int s, i, rc;

	pthread_mutex_lock(&tlock);
	i = pick(t, K_IOAS, false, NULL, NULL);
	s = i < 0 ? -1 : slot_alloc(K_MAP);
	if (s < 0) {
		pthread_mutex_unlock(&tlock);
		return skip(t);
	}
	tbl[i].busy++;
	tbl[i].sq[SQ_MAPS]++;
	tbl[i].inf[SQ_MAPS]++;
	r = mkref(i);
	seq = tbl[i].sq[SQ_UNMAP_ALL];
	cmd.ioas_id = tbl[i].id;
	pthread_mutex_unlock(&tlock);

	pick_buffer(t, &va, &cmd.length);
	cmd.user_va = (uintptr_t)va;
	rec(t, cmd.ioas_id, 0, cmd.length >> 12);
	rc = xioctl(IOMMU_IOAS_MAP, &cmd);
	if (!rc)
		rec_note(t, "iova %#llx", (unsigned long long)cmd.iova);

	pthread_mutex_lock(&tlock);
	tbl[i].busy--;
	tbl[i].sq[SQ_MAPS]++;
	tbl[i].inf[SQ_MAPS]--;
	es_add(&ok, 0);		/* IOVA from the 2 GiB aperture: always room */
	if (check(t, rc, &ok, false) && !rc)
		publish_map(s, &r, seq, cmd.iova, cmd.length);
	else
		slot_cancel(s, K_MAP);
	pthread_mutex_unlock(&tlock);
}

/* An area whose IOAS is in the table and can be held (busy) meanwhile */
static bool f_map_ioas_ok(int s, const void *arg)
{
	int p = tbl[s].parent;

	return same(p, tbl[s].pserial) && tbl[p].kind == K_IOAS && usable(p);
}

static bool pinned_by_hwq(int m)
{
	int i;

	for (i = 0; i < MAXOBJ; i++)
		if (tbl[i].kind == K_HWQ && usable(i) && tbl[i].map == m &&
		    same(m, tbl[i].mserial))
			return true;
	return false;
}

/*
 * A raced unmap worked on a range whose area may have gone before it ran: a
 * map or copy since may have put another area there, which the unmap took
 * down (the IOVA allocator reuses the lowest free IOVA). Forget the areas of
 * IOAS @p in that range, and have the maps and copies still running on @p
 * publish theirs as dead (as after an UNMAP_ALL). While such an unmap is
 * still in the kernel, unmap_overlaps() makes the uses of those areas
 * lenient instead.
 */
static void forget_range(int s, int p, uint64_t iova, uint64_t len)
{
	int i;

	for (i = 0; i < MAXOBJ; i++)
		if (i != s && tbl[i].kind == K_MAP && tbl[i].parent == p &&
		    same(p, tbl[i].pserial) && tbl[i].iova < iova + len &&
		    iova < tbl[i].iova + tbl[i].len && !pinned_by_hwq(i))
			mark_dead(i);
	tbl[p].sq[SQ_UNMAP_ALL]++;
}

/*
 * Whether an unmap in the kernel right now may take area @m down: an
 * UNMAP_ALL of its IOAS (which finds @m by itself only when it ends), or
 * another thread's unmap of a range that overlaps @m (only a stale entry's
 * range can overlap another area).
 */
static bool unmap_overlaps(const struct th *t, int m)
{
	int i, p = tbl[m].parent;

	if (tbl[p].inf[SQ_UNMAP_ALL])
		return true;
	for (i = 0; i < MAXTHREADS; i++)
		if (i != t->idx && unmapping[i].on && unmapping[i].s != m &&
		    unmapping[i].p == p && unmapping[i].pserial == tbl[m].pserial &&
		    unmapping[i].iova < tbl[m].iova + tbl[m].len &&
		    tbl[m].iova < unmapping[i].iova + unmapping[i].len)
			return true;
	return false;
}

static void op_unmap(struct th *t)
{
	struct iommu_ioas_unmap cmd = { .size = sizeof(cmd) };
	struct eset ok = {};
	bool was_dead, was_pinned, still_pinned, raced;
	uint32_t seq;
	int s, p, rc;

	pthread_mutex_lock(&tlock);
	/*
	 * A dead area (after an UNMAP_ALL that was EBUSY, or mapped while one
	 * ran) may or may not be there: it is forgotten, never unmapped. An
	 * unmap of its range would take down every area inside the range
	 * (another that took its IOVA since, say) before failing.
	 */
	for (s = 0; s < MAXOBJ; s++)
		if (tbl[s].kind == K_MAP && tbl[s].dead && !tbl[s].claimed &&
		    !tbl[s].busy)
			slot_free(s);
	s = pick_claim(t, K_MAP, f_map_ioas_ok, NULL);
	if (s < 0) {
		pthread_mutex_unlock(&tlock);
		return skip(t);
	}
	claim(s);
	p = tbl[s].parent;
	tbl[p].busy++;
	seq = tbl[p].sq[SQ_UNMAP_ALL];
	was_dead = tbl[s].dead;
	was_pinned = pinned_by_hwq(s);
	cmd.ioas_id = tbl[p].id;
	cmd.iova = tbl[s].iova;
	cmd.length = tbl[s].len;
	unmapping[t->idx] = (typeof(unmapping[0])){
		.on = true, .s = s, .p = p, .pserial = tbl[s].pserial,
		.iova = cmd.iova, .len = cmd.length,
	};
	pthread_mutex_unlock(&tlock);

	rec(t, cmd.ioas_id, cmd.iova >> 12, cmd.length >> 12);
	rc = xioctl(IOMMU_IOAS_UNMAP, &cmd);

	pthread_mutex_lock(&tlock);
	unmapping[t->idx].on = false;
	still_pinned = pinned_by_hwq(s);
	raced = was_dead || tbl[s].dead || tbl[p].sq[SQ_UNMAP_ALL] != seq ||
		tbl[p].inf[SQ_UNMAP_ALL] || unmap_overlaps(t, s);
	if (!(was_pinned && still_pinned))
		es_add(&ok, 0);
	/*
	 * EBUSY: an area a HW queue pins (or one is pinning right now),
	 * until the queue is destroyed
	 */
	if (tbl[p].hwq_ever || raced)
		es_add(&ok, EBUSY);
	/* ENOENT: unmapped already (UNMAP_ALL), or never there (dead entry) */
	if (raced)
		es_add(&ok, ENOENT);
	if (was_pinned && still_pinned) {
		rec_note(t, "pinned by a HW queue");
		strict_cnt[ST_UNMAP_PINNED] += rc == EBUSY;
	}
	if (check(t, rc, &ok, raced) && !rc && !raced &&
	    cmd.length != tbl[s].len)
		fail(t, "unmapped %llu bytes, not %llu",
		     (unsigned long long)cmd.length,
		     (unsigned long long)tbl[s].len);
	if (raced)
		forget_range(s, p, tbl[s].iova, tbl[s].len);
	tbl[p].busy--;
	if (rc == EBUSY) {
		unclaim(s);
		/*
		 * Not a HW queue's pin: another unmap was taking the area (or
		 * one in the range) down, and may have finished
		 */
		if (raced && !still_pinned)
			mark_dead(s);
	} else {
		slot_free(s);
	}
	pthread_mutex_unlock(&tlock);
}

static void op_unmap_all(struct th *t)
{
	struct iommu_ioas_unmap cmd = { .size = sizeof(cmd), .iova = 0,
					.length = UINT64_MAX };
	int mine[MAXOBJ], oth[MAXOBJ], n = 0, s, i, rc, others = 0;
	uint64_t oth_serial[MAXOBJ];
	struct eset ok = {};
	bool pinned = false;
	uint32_t maps_seq, ua_seq;
	int maps_inf;

	pthread_mutex_lock(&tlock);
	s = pick(t, K_IOAS, false, NULL, NULL);
	if (s < 0) {
		pthread_mutex_unlock(&tlock);
		return skip(t);
	}
	tbl[s].busy++;
	ua_seq = ++tbl[s].sq[SQ_UNMAP_ALL];
	tbl[s].inf[SQ_UNMAP_ALL]++;
	for (i = 0; i < MAXOBJ; i++)
		if (tbl[i].kind == K_MAP && tbl[i].parent == s &&
		    same(s, tbl[i].pserial) && !tbl[i].claimed &&
		    !tbl[i].busy) {
			claim(i);
			mine[n++] = i;
			if (pinned_by_hwq(i))
				pinned = true;
		} else if (tbl[i].kind == K_MAP && tbl[i].parent == s &&
			   same(s, tbl[i].pserial)) {
			oth_serial[others] = tbl[i].serial;
			oth[others++] = i;
		}
	maps_seq = tbl[s].sq[SQ_MAPS];
	maps_inf = tbl[s].inf[SQ_MAPS];
	cmd.ioas_id = tbl[s].id;
	pthread_mutex_unlock(&tlock);

	rec(t, cmd.ioas_id, n, pinned);
	rc = xioctl(IOMMU_IOAS_UNMAP, &cmd);

	pthread_mutex_lock(&tlock);
	/*
	 * EBUSY: an area a HW queue pins (the areas before it are unmapped);
	 * or one that another thread's unmap is taking down, or a map or copy
	 * is still filling, right now; or one another UNMAP_ALL had half
	 * taken down while this one ran (it may have finished since)
	 */
	if (tbl[s].hwq_ever || tbl[s].inf[SQ_UNMAP_ALL] > 1 ||
	    tbl[s].sq[SQ_UNMAP_ALL] != ua_seq || others ||
	    maps_seq != tbl[s].sq[SQ_MAPS] || maps_inf ||
	    tbl[s].inf[SQ_MAPS])
		es_add(&ok, EBUSY);
	/*
	 * ENOENT: a map or copy into the IOAS placed an area at an IOVA the
	 * unmap had passed already, reaching past where it had got to: the
	 * kernel's walk (iopt_unmap_iova_range) takes it for an area that
	 * straddles the range. A kernel quirk, see the report.
	 */
	if (maps_seq != tbl[s].sq[SQ_MAPS] || maps_inf || tbl[s].inf[SQ_MAPS])
		es_add(&ok, ENOENT);
	/*
	 * Success unless a HW queue the table knows pins an area all along,
	 * which makes it EBUSY.
	 */
	for (i = 0; i < n; i++)
		if (pinned_by_hwq(mine[i]))
			break;
	if (!pinned || i == n)
		es_add(&ok, 0);
	check(t, rc, &ok, false);
	for (i = 0; i < n; i++) {
		if (!rc) {
			slot_free(mine[i]);
		} else {
			/* Some unmapped, some not: which is unknown */
			unclaim(mine[i]);
			if (!pinned_by_hwq(mine[i]))
				mark_dead(mine[i]);
		}
	}
	/*
	 * The areas another thread was using meanwhile (unmapping, copying
	 * from, pinning) may be gone too, whatever that thread's call
	 * returned: an unmap of one that got EBUSY because this walk had it
	 * half taken down must not take it for still mapped.
	 */
	for (i = 0; i < others; i++)
		if (same(oth[i], oth_serial[i]) && !pinned_by_hwq(oth[i]))
			mark_dead(oth[i]);
	tbl[s].busy--;
	tbl[s].sq[SQ_UNMAP_ALL]++;
	tbl[s].inf[SQ_UNMAP_ALL]--;
	pthread_mutex_unlock(&tlock);
}

static void op_copy(struct th *t)
{
	struct iommu_ioas_copy cmd = {
		.size = sizeof(cmd),
		.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
	};
	struct ref rm, rdst;
	struct eset ok = {};
	uint64_t pages, first, n;
	int m, d, s, rc, src;
	uint32_t seq;
	bool raced;

	pthread_mutex_lock(&tlock);
	m = pick(t, K_MAP, true, f_map_ioas_ok, NULL);
	d = pick(t, K_IOAS, false, NULL, NULL);
	s = (m < 0 || d < 0) ? -1 : slot_alloc(K_MAP);
	if (s < 0) {
		pthread_mutex_unlock(&tlock);
		return skip(t);
	}
	src = tbl[m].parent;
	rm = mkref(m);
	rdst = mkref(d);
	tbl[src].busy++;
	tbl[d].busy++;
	tbl[d].sq[SQ_MAPS]++;
	tbl[d].inf[SQ_MAPS]++;
	seq = tbl[d].sq[SQ_UNMAP_ALL];
	pages = tbl[m].len / PAGE_SIZE;
	first = rndn(t, pages);
	n = 1 + rndn(t, pages - first);
	cmd.src_ioas_id = tbl[src].id;
	cmd.src_iova = tbl[m].iova + first * PAGE_SIZE;
	cmd.length = n * PAGE_SIZE;
	cmd.dst_ioas_id = tbl[d].id;
	pthread_mutex_unlock(&tlock);

	rec(t, cmd.src_ioas_id, cmd.dst_ioas_id, n);
	rec_note(t, "src %#llx", (unsigned long long)cmd.src_iova);
	rc = xioctl(IOMMU_IOAS_COPY, &cmd);
	if (!rc)
		rec_note(t, "src %#llx dst %#llx",
			 (unsigned long long)cmd.src_iova,
			 (unsigned long long)cmd.dst_iova);

	pthread_mutex_lock(&tlock);
	tbl[src].busy--;
	tbl[d].busy--;
	tbl[d].sq[SQ_MAPS]++;
	tbl[d].inf[SQ_MAPS]--;
	raced = !intact(&rm) || unmap_overlaps(t, m);
	es_add(&ok, 0);
	/* the source area was unmapped meanwhile (or was dead) */
	if (raced)
		es_add(&ok, ENOENT);
	if (check(t, rc, &ok, raced) && !rc)
		publish_map(s, &rdst, seq, cmd.dst_iova, cmd.length);
	else
		slot_cancel(s, K_MAP);
	pthread_mutex_unlock(&tlock);
}

/* A new mock device, attached to an IOAS (automatic domain) or a HWPT */
static void op_stdev_alloc(struct th *t)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN,
	};
	struct eset ok = {};
	struct ref r;
	int s, p, rc;

	pthread_mutex_lock(&tlock);
	p = rndn(t, 3) ? pick(t, K_IOAS, true, NULL, NULL) :
			 pick(t, K_HWPT, true, NULL, NULL);
	s = p < 0 ? -1 : slot_alloc(K_STDEV);
	if (s < 0) {
		pthread_mutex_unlock(&tlock);
		return skip(t);
	}
	r = mkref(p);
	cmd.id = tbl[p].id;
	pthread_mutex_unlock(&tlock);

	rec(t, cmd.id, 0, 0);
	rc = ioctl(ctx_fd, IOMMU_TEST_CMD, &cmd) ? errno : 0;

	pthread_mutex_lock(&tlock);
	es_add(&ok, 0);
	/*
	 * The IOAS/HWPT was destroyed meanwhile: ENOENT; or its ID went to an
	 * object of another type: EINVAL (attach to what is not a page table).
	 */
	if (!intact(&r)) {
		es_add(&ok, ENOENT);
		es_add(&ok, EINVAL);
		/* the ID went to an IOAS of a forked child: areas below the
		 * mock aperture */
		es_add(&ok, EADDRINUSE);
	}
	if (check(t, rc, &ok, !intact(&r)) && !rc) {
		tbl[s].id = cmd.mock_domain.out_stdev_id;
		tbl[s].id2 = cmd.mock_domain.out_idev_id;
		/* on the IOAS's automatic domain or the HWPT */
		tbl[s].att_known = intact(&r);
		tbl[s].att = p;
		tbl[s].attserial = r.serial;
		rec(t, cmd.id, tbl[s].id, tbl[s].id2);
		slot_publish(s, K_STDEV);
	} else {
		slot_cancel(s, K_STDEV);
	}
	pthread_mutex_unlock(&tlock);
}

/*
 * IOMMU_DESTROY of a device's idev ID: the selftest's binding holds it, so it
 * is always EBUSY. The device is held (busy) meanwhile: the idev ID is not
 * tombstoned when the device goes, and a stale one could name, and destroy,
 * another thread's new object.
 */
static void op_idev_destroy(struct th *t)
{
	struct eset ok = {};
	int s, rc;
	uint32_t id;

	pthread_mutex_lock(&tlock);
	s = pick(t, K_STDEV, false, NULL, NULL);
	if (s < 0) {
		pthread_mutex_unlock(&tlock);
		return skip(t);
	}
	tbl[s].busy++;
	id = tbl[s].id2;
	pthread_mutex_unlock(&tlock);

	rec(t, id, 0, 0);
	rc = destroy_id(id);

	pthread_mutex_lock(&tlock);
	tbl[s].busy--;
	es_add(&ok, EBUSY);	/* bound: the binder holds a users reference */
	check(t, rc, &ok, false);
	strict_cnt[ST_IDEV_BUSY] += rc == EBUSY;
	pthread_mutex_unlock(&tlock);
}

static void op_hwpt_alloc(struct th *t)
{
	struct iommu_hwpt_alloc cmd = { .size = sizeof(cmd) };
	struct ref rd, rp;
	struct eset ok = {};
	int s, d, p, rc;
	bool raced;

	pthread_mutex_lock(&tlock);
	d = pick(t, K_STDEV, true, NULL, NULL);
	p = pick(t, K_IOAS, true, NULL, NULL);
	s = (d < 0 || p < 0) ? -1 : slot_alloc(K_HWPT);
	if (s < 0) {
		pthread_mutex_unlock(&tlock);
		return skip(t);
	}
	rd = mkref(d);
	rp = mkref(p);
	cmd.dev_id = tbl[d].id2;
	cmd.pt_id = tbl[p].id;
	cmd.flags = rndn(t, 4) ? IOMMU_HWPT_ALLOC_NEST_PARENT : 0;
	pthread_mutex_unlock(&tlock);

	rec(t, cmd.dev_id, cmd.pt_id, cmd.flags);
	rc = xioctl(IOMMU_HWPT_ALLOC, &cmd);

	pthread_mutex_lock(&tlock);
	raced = !intact(&rd) || !intact(&rp);
	es_add(&ok, 0);
	if (!intact(&rd))
		es_add(&ok, ENOENT);	/* the device was destroyed */
	if (!intact(&rp)) {
		/* pt_id names no object: EINVAL */
		es_add(&ok, EINVAL);
		/*
		 * pt_id went to a HWPT or vIOMMU: a nested allocation without
		 * data: EOPNOTSUPP
		 */
		es_add(&ok, EOPNOTSUPP);
		/* the ID went to an IOAS of a forked child: areas below the
		 * mock aperture */
		es_add(&ok, EADDRINUSE);
	}
	if (slot_settle(s, K_HWPT, check(t, rc, &ok, raced) && !rc, raced)) {
		tbl[s].id = cmd.out_hwpt_id;
		tbl[s].parent = p;
		tbl[s].pserial = rp.serial;
		tbl[s].nest_parent = cmd.flags & IOMMU_HWPT_ALLOC_NEST_PARENT;
	}
	pthread_mutex_unlock(&tlock);
}

/* Is there a vDEVICE of device @d on vIOMMU @v (any state)? */
static bool vdev_of(int d, int v, bool usable_only)
{
	int i;

	for (i = 0; i < MAXOBJ; i++)
		if (tbl[i].kind == K_VDEV && tbl[i].parent2 == d &&
		    same(d, tbl[i].pserial2) && tbl[i].parent == v &&
		    same(v, tbl[i].pserial) && (!usable_only || usable(i)))
			return true;
	return false;
}

static void op_replace(struct th *t)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
	};
	struct eset ok = {};
	struct ref rd, rp;
	int d, p, v = -1, kind, rc;
	bool had_vdev = false, has_vdev, raced, on_it, others_ran;
	int inf0 = 0, replacing_others;
	uint32_t seq = 0, rseq;

	pthread_mutex_lock(&tlock);
	d = pick(t, K_STDEV, true, NULL, NULL);
	switch (rndn(t, 4)) {
	case 0:
		kind = K_IOAS;
		break;
	case 1:
		kind = K_HWPT;
		break;
	default:
		kind = K_NESTED;
		break;
	}
	p = pick(t, kind, true, NULL, NULL);
	if (d < 0 || p < 0) {
		pthread_mutex_unlock(&tlock);
		return skip(t);
	}
	rd = mkref(d);
	rp = mkref(p);
	if (kind == K_NESTED && tbl[p].parent >= 0 &&
	    tbl[tbl[p].parent].kind == K_VIOMMU &&
	    same(tbl[p].parent, tbl[p].pserial)) {
		v = tbl[p].parent;
		had_vdev = vdev_of(d, v, true);
		seq = tbl[d].sq[SQ_VDEV];
		inf0 = tbl[d].inf[SQ_VDEV];
	}
	cmd.id = tbl[d].id;
	cmd.mock_domain_replace.pt_id = tbl[p].id;
	replacing_others = tbl[d].replacing;
	tbl[d].replacing++;
	rseq = ++tbl[d].sq[1];
	/*
	 * A replace by the HWPT the device is on already is a no-op: success,
	 * vDEVICE or not. Known unless another replace of the device ran.
	 */
	on_it = !tbl[d].att_known || replacing_others ||
		(tbl[d].att == p && tbl[d].attserial == rp.serial);
	pthread_mutex_unlock(&tlock);

	rec(t, cmd.id, cmd.mock_domain_replace.pt_id, kind);
	rc = ioctl(ctx_fd, IOMMU_TEST_CMD, &cmd) ? errno : 0;

	pthread_mutex_lock(&tlock);
	raced = !intact(&rd) || !intact(&rp) || tbl[p].dead;
	/* another replace of it started or ended meanwhile */
	others_ran = tbl[d].sq[1] != rseq || tbl[d].replacing > 1;
	if (others_ran)
		on_it = true;
	if (same(rd.s, rd.serial)) {
		tbl[d].sq[1]++;
		tbl[d].replacing--;
		/*
		 * A failed replace leaves the device where it was; with
		 * another replace of it in flight at any time during this one,
		 * either may have reached the kernel last
		 */
		if (raced || replacing_others || others_ran ||
		    tbl[d].replacing) {
			tbl[d].att_known = false;
		} else if (!rc) {
			tbl[d].att_known = true;
			tbl[d].att = p;
			tbl[d].attserial = rp.serial;
		}
	}
	if (!raced && v >= 0) {
		/*
		 * A nested HWPT of a mock vIOMMU: ENOENT for a device without
		 * a vDEVICE there (as a real vIOMMU, for a device the guest
		 * does not know). Exact when no vDEVICE of the device came or
		 * went meanwhile; lenient while the table has a vDEVICE on an
		 * uncertain vIOMMU.
		 */
		has_vdev = vdev_of(d, v, true);
		if (on_it)
			es_add(&ok, 0);
		if (tbl[d].sq[SQ_VDEV] != seq || inf0 ||
		    tbl[d].inf[SQ_VDEV] || dead_count[K_VDEV] ||
		    had_vdev != has_vdev ||
		    !same(v, tbl[p].pserial)) {
			es_add(&ok, 0);
			es_add(&ok, ENOENT);
		} else if (has_vdev) {
			es_add(&ok, 0);
		} else {
			es_add(&ok, ENOENT);
			rec_note(t, "no vDEVICE: ENOENT");
			if (!on_it)
				strict_cnt[ST_REPLACE_NO_VDEV] += rc == ENOENT;
		}
	} else {
		es_add(&ok, 0);
	}
	if (raced) {
		/* the device or the page table went meanwhile */
		es_add(&ok, ENOENT);
		/* pt_id reused by an object that is no page table */
		es_add(&ok, EINVAL);
		/*
		 * pt_id reused by an IOAS a forked child made, whose areas
		 * lie below the mock aperture
		 */
		es_add(&ok, EADDRINUSE);
		es_add(&ok, 0);
	}
	check(t, rc, &ok, raced);
	pthread_mutex_unlock(&tlock);
}

static void op_viommu_alloc(struct th *t)
{
	struct iommu_viommu_selftest data = {};
	struct iommu_viommu_alloc cmd = {
		.size = sizeof(cmd),
		.type = IOMMU_VIOMMU_TYPE_SELFTEST,
	};
	struct eset ok = {};
	struct ref rd, rh;
	int s, d, h, rc;
	bool raced, with_data = rndn(t, 4);

	pthread_mutex_lock(&tlock);
	d = pick(t, K_STDEV, true, NULL, NULL);
	h = pick(t, K_HWPT, true, NULL, NULL);
	s = (d < 0 || h < 0) ? -1 : slot_alloc(K_VIOMMU);
	if (s < 0) {
		pthread_mutex_unlock(&tlock);
		return skip(t);
	}
	rd = mkref(d);
	rh = mkref(h);
	cmd.dev_id = tbl[d].id2;
	cmd.hwpt_id = tbl[h].id;
	data.in_data = rnd(t);
	if (with_data) {
		cmd.data_uptr = (uintptr_t)&data;
		cmd.data_len = sizeof(data);
	}
	pthread_mutex_unlock(&tlock);

	rec(t, cmd.dev_id, cmd.hwpt_id, with_data);
	rc = xioctl(IOMMU_VIOMMU_ALLOC, &cmd);

	pthread_mutex_lock(&tlock);
	raced = !intact(&rd) || !intact(&rh);
	if (raced) {
		/* the device or the HWPT went, or its ID names another type */
		es_add(&ok, ENOENT);
		/* the ID went to a paging HWPT that is no nesting parent */
		es_add(&ok, EINVAL);
		es_add(&ok, 0);
	} else if (tbl[h].nest_parent) {
		es_add(&ok, 0);
	} else {
		es_add(&ok, EINVAL);	/* the HWPT is not a nesting parent */
		strict_cnt[ST_BAD_PARENT] += rc == EINVAL;
	}
	if (slot_settle(s, K_VIOMMU, check(t, rc, &ok, raced) && !rc, raced)) {
		if (with_data &&
		    (data.out_data != data.in_data ||
		     data.out_mmap_length != 2 * PAGE_SIZE ||
		     !data.out_mmap_offset ||
		     data.out_mmap_offset % PAGE_SIZE))
			fail(t, "vIOMMU data: out_data %#x (in %#x), mmap %#llx+%#llx",
			     data.out_data, data.in_data,
			     (unsigned long long)data.out_mmap_offset,
			     (unsigned long long)data.out_mmap_length);
		tbl[s].id = cmd.out_viommu_id;
		tbl[s].parent = h;
		tbl[s].pserial = rh.serial;
		tbl[s].in_data = data.in_data;
		if (with_data) {
			tbl[s].mmap_off = data.out_mmap_offset;
			tbl[s].mmap_len = data.out_mmap_length;
		}
	}
	pthread_mutex_unlock(&tlock);
}

/* A vDEVICE on (viommu, virt_id) or of the device (any state)? */
static bool vdev_conflict(int v, int d, uint64_t virt_id)
{
	int i;

	for (i = 0; i < MAXOBJ; i++) {
		struct obj *o = &tbl[i];

		if (o->kind != K_VDEV)
			continue;
		if (o->parent2 == d && same(d, o->pserial2) && !o->dead)
			return true;
		if (o->parent == v && same(v, o->pserial) &&
		    o->virt_id == virt_id && !o->dead)
			return true;
	}
	return false;
}

/*
 * For a failure's report: is an unexpected EEXIST the device's (it has a
 * vDEVICE somewhere) or the virtual ID's? Ask again with an ID the program
 * never uses, and give back what that made.
 */
static void vdev_probe_eexist(struct th *t, const struct iommu_vdevice_alloc *cmd)
{
	struct iommu_vdevice_alloc probe = *cmd;
	int rc;

	probe.virt_id = 1000 + t->idx;
	rc = xioctl(IOMMU_VDEVICE_ALLOC, &probe);
	if (!rc)
		destroy_id(probe.out_vdevice_id);
	rec_note(t, "again with virt_id %llu: %s", (unsigned long long)probe.virt_id,
		 rc ? strerror(rc) : "ok (the virtual ID was taken)");
}

static void op_vdev_alloc(struct th *t)
{
	struct iommu_vdevice_alloc cmd = { .size = sizeof(cmd) };
	struct eset ok = {};
	struct ref rv, rd;
	int s, v, d, rc;
	uint32_t seq_d, seq_v, seq_g;
	bool conflict, raced;

	pthread_mutex_lock(&tlock);
	v = pick(t, K_VIOMMU, true, NULL, NULL);
	d = pick(t, K_STDEV, true, NULL, NULL);
	s = (v < 0 || d < 0) ? -1 : slot_alloc(K_VDEV);
	if (s < 0) {
		pthread_mutex_unlock(&tlock);
		return skip(t);
	}
	rv = mkref(v);
	rd = mkref(d);
	cmd.viommu_id = tbl[v].id;
	cmd.dev_id = tbl[d].id2;
	cmd.virt_id = rndn(t, 8);
	conflict = vdev_conflict(v, d, cmd.virt_id);
	seq_d = ++tbl[d].sq[SQ_VDEV];
	seq_v = ++tbl[v].sq[SQ_VDEV];
	tbl[d].inf[SQ_VDEV]++;
	tbl[v].inf[SQ_VDEV]++;
	seq_g = g_stdev_destroy_seq;
	pthread_mutex_unlock(&tlock);

	rec(t, cmd.viommu_id, cmd.dev_id, cmd.virt_id);
	rc = xioctl(IOMMU_VDEVICE_ALLOC, &cmd);

	pthread_mutex_lock(&tlock);
	raced = !intact(&rv) || !intact(&rd);
	/*
	 * EEXIST: the device has a vDEVICE already, or the vIOMMU one with
	 * that virtual ID; exact unless another allocation for the same
	 * device or vIOMMU ran meanwhile, or a vDEVICE of uncertain parents
	 * exists.
	 */
	if (conflict || vdev_conflict(v, d, cmd.virt_id) || raced ||
	    tbl[d].sq[SQ_VDEV] != seq_d || tbl[v].sq[SQ_VDEV] != seq_v ||
	    tbl[d].inf[SQ_VDEV] > 1 || tbl[v].inf[SQ_VDEV] > 1 ||
	    g_stdev_destroy_seq != seq_g || g_stdev_destroy_inflight ||
	    dead_count[K_VDEV])
		es_add(&ok, EEXIST);
	if (!conflict || raced || dead_count[K_VDEV] ||
	    tbl[d].sq[SQ_VDEV] != seq_d || tbl[v].sq[SQ_VDEV] != seq_v ||
	    tbl[d].inf[SQ_VDEV] > 1 || tbl[v].inf[SQ_VDEV] > 1 ||
	    g_stdev_destroy_seq != seq_g || g_stdev_destroy_inflight)
		es_add(&ok, 0);
	else
		strict_cnt[ST_EEXIST] += rc == EEXIST;
	/* the vIOMMU or the device went (a device being unbound included) */
	if (raced)
		es_add(&ok, ENOENT);
	if (rc == EEXIST && !es_has(&ok, EEXIST))
		vdev_probe_eexist(t, &cmd);
	tbl[d].inf[SQ_VDEV]--;
	tbl[v].inf[SQ_VDEV]--;
	tbl[d].sq[SQ_VDEV]++;
	tbl[v].sq[SQ_VDEV]++;
	if (slot_settle(s, K_VDEV, check(t, rc, &ok, raced) && !rc, raced)) {
		tbl[s].id = cmd.out_vdevice_id;
		tbl[s].parent = v;
		tbl[s].pserial = rv.serial;
		tbl[s].parent2 = d;
		tbl[s].pserial2 = rd.serial;
		tbl[s].virt_id = cmd.virt_id;
	}
	pthread_mutex_unlock(&tlock);
}

static bool f_fd_open(int s, const void *arg)
{
	return tbl[s].fd >= 0;
}

static void op_nested_alloc(struct th *t)
{
	struct iommu_hwpt_selftest data = { .iotlb = IOMMU_TEST_IOTLB_DEFAULT };
	struct iommu_hwpt_alloc cmd = {
		.size = sizeof(cmd),
		.data_type = IOMMU_HWPT_DATA_SELFTEST,
		.data_len = sizeof(data),
		.data_uptr = (uintptr_t)&data,
	};
	struct ref rd, rp, rf = { .s = -1 };
	struct eset ok = {};
	int s, d, p, f = -1, rc;
	bool on_viommu = rndn(t, 3), raced;

	pthread_mutex_lock(&tlock);
	d = pick(t, K_STDEV, true, NULL, NULL);
	p = on_viommu ? pick(t, K_VIOMMU, true, NULL, NULL) :
			pick(t, K_HWPT, true, NULL, NULL);
	if (!rndn(t, 5))
		f = pick(t, K_FAULT, true, NULL, NULL);
	s = (d < 0 || p < 0) ? -1 : slot_alloc(K_NESTED);
	if (s < 0) {
		pthread_mutex_unlock(&tlock);
		return skip(t);
	}
	rd = mkref(d);
	rp = mkref(p);
	cmd.dev_id = tbl[d].id2;
	cmd.pt_id = tbl[p].id;
	if (f >= 0) {
		rf = mkref(f);
		cmd.flags = IOMMU_HWPT_FAULT_ID_VALID;
		cmd.fault_id = tbl[f].id;
	}
	pthread_mutex_unlock(&tlock);

	rec(t, cmd.dev_id, cmd.pt_id, cmd.fault_id);
	rc = xioctl(IOMMU_HWPT_ALLOC, &cmd);

	pthread_mutex_lock(&tlock);
	raced = !intact(&rd) || !intact(&rp) || (f >= 0 && !intact(&rf));
	if (raced) {
		es_add(&ok, 0);
		es_add(&ok, ENOENT);	/* device or fault queue went */
		es_add(&ok, EINVAL);	/* pt_id went, or names another type */
		/* pt_id now an IOAS: a paging HWPT with nested data */
		es_add(&ok, EOPNOTSUPP);
	} else if (on_viommu || tbl[p].nest_parent) {
		es_add(&ok, 0);
	} else {
		es_add(&ok, EINVAL);	/* the parent is no nesting parent */
		strict_cnt[ST_BAD_PARENT] += rc == EINVAL;
	}
	if (slot_settle(s, K_NESTED, check(t, rc, &ok, raced) && !rc, raced)) {
		tbl[s].id = cmd.out_hwpt_id;
		tbl[s].parent = p;
		tbl[s].pserial = rp.serial;
		if (f >= 0) {
			tbl[s].parent2 = f;
			tbl[s].pserial2 = rf.serial;
		}
	}
	pthread_mutex_unlock(&tlock);
}

static void op_inv_hwpt(struct th *t)
{
	struct iommu_hwpt_invalidate_selftest inv[4];
	struct iommu_hwpt_invalidate cmd = {
		.size = sizeof(cmd),
		.data_type = IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
		.entry_len = sizeof(inv[0]),
		.data_uptr = (uintptr_t)inv,
	};
	struct eset ok = {};
	unsigned int n, i, bad = ~0U;
	struct ref r;
	int s, rc;

	pthread_mutex_lock(&tlock);
	s = pick(t, K_NESTED, true, NULL, NULL);
	if (s < 0) {
		pthread_mutex_unlock(&tlock);
		return skip(t);
	}
	r = mkref(s);
	cmd.hwpt_id = tbl[s].id;
	pthread_mutex_unlock(&tlock);

	n = rndn(t, 5);
	for (i = 0; i < n; i++) {
		inv[i].flags = rndn(t, 4) ? 0 : IOMMU_TEST_INVALIDATE_FLAG_ALL;
		inv[i].iotlb_id = rndn(t, MOCK_NESTED_DOMAIN_IOTLB_NUM);
	}
	if (n && !rndn(t, 8)) {
		bad = rndn(t, n);
		inv[bad].flags = 0;
		inv[bad].iotlb_id = MOCK_NESTED_DOMAIN_IOTLB_ID_MAX + 1;
	}
	cmd.entry_num = n;
	if (!n)
		cmd.data_uptr = 0;
	rec(t, cmd.hwpt_id, n, bad);
	rc = xioctl(IOMMU_HWPT_INVALIDATE, &cmd);

	pthread_mutex_lock(&tlock);
	if (bad == ~0U)
		es_add(&ok, 0);
	else
		es_add(&ok, EINVAL);	/* an iotlb_id above the mock's */
	if (!intact(&r)) {
		es_add(&ok, ENOENT);	/* the HWPT went */
		/* its ID went to an object that is neither (or whose array
		 * layout differs): EINVAL; a vIOMMU: EINVAL for the entry */
		es_add(&ok, EINVAL);
		es_add(&ok, 0);
	}
	strict_cnt[ST_BAD_ENTRY] += bad != ~0U && rc == EINVAL && intact(&r);
	if (check(t, rc, &ok, !intact(&r)) && intact(&r) &&
	    cmd.entry_num != (bad == ~0U ? n : bad))
		fail(t, "entry_num %u written back, expected %u",
		     cmd.entry_num, bad == ~0U ? n : bad);
	pthread_mutex_unlock(&tlock);
}

static bool f_vdev_of(int s, const void *arg)
{
	int v = *(const int *)arg;

	return tbl[s].parent == v && same(v, tbl[s].pserial) && usable(s);
}

static void op_inv_viommu(struct th *t)
{
	struct iommu_viommu_invalidate_selftest inv[4];
	struct iommu_hwpt_invalidate cmd = {
		.size = sizeof(cmd),
		.data_type = IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
		.entry_len = sizeof(inv[0]),
		.data_uptr = (uintptr_t)inv,
	};
	struct ref r, rv[4];
	struct eset ok = {};
	unsigned int n, i, bad = ~0U;
	bool vdevs_ok = true;
	int v, rc;

	pthread_mutex_lock(&tlock);
	v = pick(t, K_VIOMMU, true, NULL, NULL);
	if (v < 0) {
		pthread_mutex_unlock(&tlock);
		return skip(t);
	}
	r = mkref(v);
	n = rndn(t, 5);
	for (i = 0; i < n; i++) {
		int d = pick(t, K_VDEV, false, f_vdev_of, &v);

		if (d < 0) {
			n = i;
			break;
		}
		rv[i] = mkref(d);
		inv[i].vdev_id = tbl[d].virt_id;
		inv[i].flags = rndn(t, 3) ? 0 : IOMMU_TEST_INVALIDATE_FLAG_ALL;
		inv[i].cache_id = rndn(t, MOCK_DEV_CACHE_NUM);
	}
	cmd.hwpt_id = tbl[v].id;
	pthread_mutex_unlock(&tlock);

	if (n && !rndn(t, 8)) {
		bad = rndn(t, n);
		inv[bad].cache_id = MOCK_DEV_CACHE_ID_MAX + 1;
	}
	cmd.entry_num = n;
	if (!n)
		cmd.data_uptr = 0;
	rec(t, cmd.hwpt_id, n, bad);
	rc = xioctl(IOMMU_HWPT_INVALIDATE, &cmd);

	pthread_mutex_lock(&tlock);
	for (i = 0; i < n; i++)
		if (!intact(&rv[i]))
			vdevs_ok = false;
	if (bad != ~0U)
		es_add(&ok, EINVAL);	/* a cache_id above the mock's */
	else if (vdevs_ok)
		es_add(&ok, 0);
	if (!vdevs_ok) {
		/* a named vDEVICE went: EINVAL (or a new one took its ID) */
		es_add(&ok, EINVAL);
		es_add(&ok, 0);
	}
	if (!intact(&r)) {
		es_add(&ok, ENOENT);	/* the vIOMMU went */
		es_add(&ok, EINVAL);	/* its ID now names another type */
		es_add(&ok, 0);
	}
	if (check(t, rc, &ok, !intact(&r) || !vdevs_ok) && !rc &&
	    cmd.entry_num != n)
		fail(t, "entry_num %u written back after success, expected %u",
		     cmd.entry_num, n);
	strict_cnt[ST_BAD_ENTRY] += bad != ~0U && rc == EINVAL && intact(&r);
	if (rc == EINVAL && bad != ~0U && intact(&r) && vdevs_ok &&
	    cmd.entry_num != bad)
		fail(t, "entry_num %u written back, expected %u",
		     cmd.entry_num, bad);
	pthread_mutex_unlock(&tlock);
}

static bool f_veventq_on(int s, const void *arg)
{
	int v = *(const int *)arg;

	return tbl[s].parent == v && same(v, tbl[s].pserial);
}

static bool veventq_exists(int v)
{
	int i;

	for (i = 0; i < MAXOBJ; i++)
		if (tbl[i].kind == K_VEVENTQ && f_veventq_on(i, &v))
			return true;
	return false;
}

static void op_veventq_alloc(struct th *t)
{
	struct iommu_veventq_alloc cmd = {
		.size = sizeof(cmd),
		.type = IOMMU_VEVENTQ_TYPE_SELFTEST,
	};
	struct eset ok = {};
	bool existed, raced, others;
	struct ref r;
	int s, v, rc;
	uint32_t seq;

	pthread_mutex_lock(&tlock);
	v = pick(t, K_VIOMMU, true, NULL, NULL);
	s = v < 0 ? -1 : slot_alloc(K_VEVENTQ);
	if (s < 0) {
		pthread_mutex_unlock(&tlock);
		return skip(t);
	}
	r = mkref(v);
	existed = veventq_exists(v);
	seq = ++tbl[v].sq[SQ_VEVENTQ];
	tbl[v].inf[SQ_VEVENTQ]++;
	cmd.viommu_id = tbl[v].id;
	cmd.veventq_depth = 1 + rndn(t, 8);
	pthread_mutex_unlock(&tlock);

	rec(t, cmd.viommu_id, cmd.veventq_depth, 0);
	rc = xioctl(IOMMU_VEVENTQ_ALLOC, &cmd);

	pthread_mutex_lock(&tlock);
	raced = !intact(&r);
	tbl[v].inf[SQ_VEVENTQ]--;
	/*
	 * One queue per type and vIOMMU: EEXIST while there is one, exact
	 * unless another allocation on the vIOMMU ran meanwhile or a queue
	 * of uncertain vIOMMU exists.
	 */
	others = tbl[v].sq[SQ_VEVENTQ] != seq || tbl[v].inf[SQ_VEVENTQ];
	if (existed || veventq_exists(v) || raced || others ||
	    dead_count[K_VEVENTQ])
		es_add(&ok, EEXIST);
	if (!existed || raced || others || dead_count[K_VEVENTQ])
		es_add(&ok, 0);
	else
		strict_cnt[ST_EEXIST] += rc == EEXIST;
	tbl[v].sq[SQ_VEVENTQ]++;
	if (raced)
		es_add(&ok, ENOENT);	/* the vIOMMU went */
	if (slot_settle(s, K_VEVENTQ, check(t, rc, &ok, raced) && !rc, raced)) {
		tbl[s].id = cmd.out_veventq_id;
		tbl[s].fd = cmd.out_veventq_fd;
		tbl[s].parent = v;
		tbl[s].pserial = r.serial;
	}
	pthread_mutex_unlock(&tlock);
}

/*
 * Destroy a vEVENTQ or fault queue: with its fd open it is EBUSY (the fd
 * holds it); so usually the fd is closed first, and then EBUSY only while
 * another thread's duplicate of the fd (a reader) is still open.
 */
static void op_queue_destroy(struct th *t, int kind)
{
	int s;

	pthread_mutex_lock(&tlock);
	s = pick_claim(t, kind, NULL, NULL);
	if (s < 0) {
		pthread_mutex_unlock(&tlock);
		return skip(t);
	}
	claim(s);
	if (tbl[s].fd >= 0 && rndn(t, 4)) {
		close(tbl[s].fd);
		tbl[s].fd = -1;
	}
	rec_note(t, "fd %s", tbl[s].fd >= 0 ? "open" : "closed");
	destroy_claimed(t, s, tbl[s].fd >= 0);
	pthread_mutex_unlock(&tlock);
}

static void op_trigger_vevent(struct th *t)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_TRIGGER_VEVENT,
	};
	struct eset ok = {};
	int d, rc;

	pthread_mutex_lock(&tlock);
	d = pick(t, K_STDEV, true, NULL, NULL);
	if (d < 0) {
		pthread_mutex_unlock(&tlock);
		return skip(t);
	}
	cmd.trigger_vevent.dev_id = tbl[d].id2;
	pthread_mutex_unlock(&tlock);

	rec(t, cmd.trigger_vevent.dev_id, 0, 0);
	rc = ioctl(ctx_fd, IOMMU_TEST_CMD, &cmd) ? errno : 0;
	es_add(&ok, 0);		/* queued (or counted as lost) */
	/*
	 * ENOENT: the device is not attached to a nested HWPT of a vIOMMU,
	 * or has no vDEVICE there, or went: attachments change all the time
	 */
	es_add(&ok, ENOENT);
	es_add(&ok, EOPNOTSUPP);	/* that vIOMMU has no vEVENTQ */
	/*
	 * ENOMEM: the event is allocated with GFP_NOWAIT (reporting runs in
	 * the driver's interrupt path); the queue then records a lost event
	 */
	es_add(&ok, ENOMEM);
	check(t, rc, &ok, false);
}

/* Duplicate a queue's fd under the table lock: a close cannot reuse it */
static int dup_queue_fd(struct th *t, int kind, int *slot)
{
	int s, fd;

	pthread_mutex_lock(&tlock);
	s = pick(t, kind, true, f_fd_open, NULL);
	fd = s < 0 ? -1 : dup(tbl[s].fd);
	*slot = s;
	pthread_mutex_unlock(&tlock);
	return fd;
}

/* Read what a vEVENTQ fd has and check the records' framing */
static void read_veventq(struct th *t, int fd)
{
	char buf[16 * sizeof(struct mock_vevent)];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct eset ok = {};
	ssize_t n, off;
	int rc;

	if (poll(&pfd, 1, 0) < 0)
		return fail(t, "poll: %s", strerror(errno));
	if (pfd.revents & ~(POLLIN | POLLRDNORM))
		return fail(t, "poll revents %#x", pfd.revents);
	n = read(fd, buf, 1 + rndn(t, sizeof(buf)));
	rc = n < 0 ? errno : 0;
	es_add(&ok, 0);
	/* a buffer too small for a header, or for the first event: EINVAL */
	es_add(&ok, EINVAL);
	if (!check(t, rc, &ok, false) || n <= 0)
		return;
	rec_note(t, "read %zd", n);
	for (off = 0; off < n;) {
		struct iommufd_vevent_header *h = (void *)(buf + off);

		if (n - off < (ssize_t)sizeof(*h))
			return fail(t, "a partial header at %zd of %zd", off, n);
		if (h->flags == IOMMU_VEVENTQ_FLAG_LOST_EVENTS) {
			off += sizeof(*h);
		} else if (h->flags == 0) {
			off += sizeof(struct mock_vevent);
			if (off > n)
				return fail(t, "a partial event in %zd", n);
		} else {
			return fail(t, "header flags %#x", h->flags);
		}
	}
}

static void op_veventq_read(struct th *t)
{
	int s, fd = dup_queue_fd(t, K_VEVENTQ, &s);

	if (fd < 0)
		return skip(t);
	rec(t, s, fd, 0);
	read_veventq(t, fd);
	close(fd);
}

/* A usable vIOMMU whose HWPT and IOAS are in the table */
static bool f_viommu_chain(int s, const void *arg)
{
	int h = tbl[s].parent, i;

	if (!usable(s) || !same(h, tbl[s].pserial) || !usable(h))
		return false;
	i = tbl[h].parent;
	return same(i, tbl[h].pserial) && tbl[i].kind == K_IOAS && usable(i);
}

static bool f_map_in(int s, const void *arg)
{
	int i = *(const int *)arg;

	return tbl[s].parent == i && same(i, tbl[s].pserial);
}

static int hwq_at(int v, uint32_t index)
{
	int i;

	for (i = 0; i < MAXOBJ; i++)
		if (tbl[i].kind == K_HWQ && tbl[i].parent == v &&
		    same(v, tbl[i].pserial) && tbl[i].index == index)
			return i;
	return -1;
}

static void op_hwq_alloc(struct th *t)
{
	struct iommu_hw_queue_alloc cmd = {
		.size = sizeof(cmd),
		.type = IOMMU_HW_QUEUE_TYPE_SELFTEST,
	};
	bool unmapped = false, raced, had0, had1;
	struct eset ok = {};
	struct ref rm = { .s = -1 };
	int s, v, io, m, rc;
	uint32_t seq;

	pthread_mutex_lock(&tlock);
	v = pick(t, K_VIOMMU, false, f_viommu_chain, NULL);
	s = v < 0 ? -1 : slot_alloc(K_HWQ);
	if (s < 0) {
		pthread_mutex_unlock(&tlock);
		return skip(t);
	}
	/* Held: neither the vIOMMU nor (so) its HWPT and IOAS can go */
	tbl[v].busy++;
	io = tbl[tbl[v].parent].parent;
	tbl[io].hwq_ever = true;
	m = pick(t, K_MAP, true, f_map_in, &io);
	had0 = hwq_at(v, 0) >= 0;
	had1 = hwq_at(v, 1) >= 0;
	cmd.index = had0 ? 1 : 0;
	if (!rndn(t, 4))
		cmd.index = rndn(t, IOMMU_TEST_HW_QUEUE_MAX);
	if (m < 0 || !rndn(t, 10)) {
		/* The aperture's last page: never mapped (IOVAs go upwards) */
		unmapped = true;
		cmd.nesting_parent_iova = (uint64_t)MOCK_APERTURE_LAST + 1 - PAGE_SIZE;
	} else {
		rm = mkref(m);
		cmd.nesting_parent_iova =
			tbl[m].iova + rndn(t, tbl[m].len / PAGE_SIZE) * PAGE_SIZE;
	}
	cmd.length = rndn(t, 2) ? PAGE_SIZE : 64 * (1 + rndn(t, PAGE_SIZE / 64));
	seq = ++tbl[v].sq[SQ_HWQ];
	tbl[v].inf[SQ_HWQ]++;
	cmd.viommu_id = tbl[v].id;
	pthread_mutex_unlock(&tlock);

	rec(t, cmd.viommu_id, cmd.index, cmd.nesting_parent_iova >> 12);
	rc = xioctl(IOMMU_HW_QUEUE_ALLOC, &cmd);

	pthread_mutex_lock(&tlock);
	tbl[v].inf[SQ_HWQ]--;
	raced = !unmapped && (!intact(&rm) || unmap_overlaps(t, m));
	if (unmapped) {
		es_add(&ok, ENOENT);	/* nothing mapped there in the IOAS */
		strict_cnt[ST_HWQ_UNMAPPED] += rc == ENOENT;
	} else {
		bool others = tbl[v].sq[SQ_HWQ] != seq || tbl[v].inf[SQ_HWQ];
		bool has0 = hwq_at(v, 0) >= 0, has1 = hwq_at(v, 1) >= 0;

		/* the area was unmapped meanwhile */
		if (raced)
			es_add(&ok, ENOENT);
		/* EEXIST: a queue of that index exists */
		if (others || (cmd.index ? had1 || has1 : had0 || has0))
			es_add(&ok, EEXIST);
		/* EIO: index 1 before index 0 (allocated in order) */
		if (cmd.index == 1 && (others || !had0 || !has0))
			es_add(&ok, EIO);
		/*
		 * EBUSY: queue 0 is there for the driver but still being
		 * allocated or already being destroyed (no queue depends on
		 * one that may be freed under it)
		 */
		if (cmd.index == 1 && others)
			es_add(&ok, EBUSY);
		if (others || (cmd.index ? !had1 && !has1 && had0 && has0 :
					   !had0 && !has0))
			es_add(&ok, 0);
		else
			strict_cnt[ST_HWQ_ORDER] += rc == EEXIST || rc == EIO;
	}
	if (check(t, rc, &ok, raced) && !rc) {
		tbl[s].id = cmd.out_hw_queue_id;
		tbl[s].parent = v;
		tbl[s].pserial = tbl[v].serial;
		tbl[s].index = cmd.index;
		slot_publish(s, K_HWQ);
		if (intact(&rm)) {
			tbl[s].map = m;
			tbl[s].mserial = rm.serial;
		}
		if (cmd.index == 1) {
			int q0 = hwq_at(v, 0);

			if (q0 >= 0) {
				tbl[s].parent2 = q0;
				tbl[s].pserial2 = tbl[q0].serial;
			}
		}
	} else {
		slot_cancel(s, K_HWQ);
	}
	tbl[v].sq[SQ_HWQ]++;
	tbl[v].busy--;
	pthread_mutex_unlock(&tlock);
}

static bool f_has_page(int s, const void *arg)
{
	return tbl[s].mmap_len != 0;
}

static void op_mmap(struct th *t)
{
	struct eset ok = {};
	struct ref r;
	uint32_t *page;
	uint64_t off, len;
	int s, v, rc;
	uint32_t id;

	pthread_mutex_lock(&tlock);
	v = pick(t, K_VIOMMU, true, f_has_page, NULL);
	s = v < 0 ? -1 : slot_alloc(K_MMAP);
	if (s < 0) {
		pthread_mutex_unlock(&tlock);
		return skip(t);
	}
	r = mkref(v);
	off = tbl[v].mmap_off;
	len = tbl[v].mmap_len;
	id = tbl[v].id;
	pthread_mutex_unlock(&tlock);

	rec(t, id, off >> 12, len >> 12);
	page = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, ctx_fd, off);
	rc = page == MAP_FAILED ? errno : 0;

	pthread_mutex_lock(&tlock);
	es_add(&ok, 0);
	/* the vIOMMU went (its offset with it), or is being destroyed */
	if (!intact(&r))
		es_add(&ok, ENXIO);
	if (check(t, rc, &ok, !intact(&r)) && !rc) {
		tbl[s].addr = page;
		tbl[s].len = len;
		tbl[s].parent = v;
		tbl[s].pserial = r.serial;
		tbl[s].in_data = tbl[v].in_data;
		slot_publish(s, K_MMAP);
		if (!intact(&r))
			mark_dead(s);
		else if (page[0] != tbl[s].in_data)
			fail(t, "the vIOMMU page holds %#x, not %#x", page[0],
			     tbl[s].in_data);
	} else {
		slot_cancel(s, K_MMAP);
	}
	pthread_mutex_unlock(&tlock);
}

/* Read and write the mock vIOMMU's two pages through a live mapping */
static void touch_page(struct th *t, int s)
{
	volatile uint32_t *page = tbl[s].addr;
	uint32_t v = rnd(t);

	if (!tbl[s].dead && page[0] != tbl[s].in_data)
		fail(t, "the vIOMMU page holds %#x, not %#x", page[0],
		     tbl[s].in_data);
	page[1] = v;
	if (page[1] != v)
		fail(t, "the vIOMMU page did not keep a write");
	page[PAGE_SIZE / 4 + rndn(t, PAGE_SIZE / 4)] = v;
}

static void op_mmap_touch(struct th *t)
{
	int s;

	pthread_mutex_lock(&tlock);
	s = pick(t, K_MMAP, false, NULL, NULL);
	if (s < 0) {
		pthread_mutex_unlock(&tlock);
		return skip(t);
	}
	tbl[s].busy++;	/* no munmap meanwhile */
	pthread_mutex_unlock(&tlock);
	rec(t, s, 0, 0);
	touch_page(t, s);
	cur(t)->rc = 0;
	cur(t)->counted = true;
	t->counts[OP_MMAP_TOUCH][0]++;
	pthread_mutex_lock(&tlock);
	tbl[s].busy--;
	pthread_mutex_unlock(&tlock);
}

static void op_munmap(struct th *t)
{
	struct eset ok = {};
	int s, rc;

	pthread_mutex_lock(&tlock);
	s = pick_claim(t, K_MMAP, NULL, NULL);
	if (s < 0) {
		pthread_mutex_unlock(&tlock);
		return skip(t);
	}
	claim(s);
	pthread_mutex_unlock(&tlock);
	rec(t, s, 0, 0);
	rc = munmap(tbl[s].addr, tbl[s].len) ? errno : 0;
	es_add(&ok, 0);
	check(t, rc, &ok, false);
	pthread_mutex_lock(&tlock);
	slot_free(s);
	pthread_mutex_unlock(&tlock);
}

static void op_fault_alloc(struct th *t)
{
	struct iommu_fault_alloc cmd = { .size = sizeof(cmd) };
	struct eset ok = {};
	int s, rc;

	pthread_mutex_lock(&tlock);
	s = slot_alloc(K_FAULT);
	pthread_mutex_unlock(&tlock);
	if (s < 0)
		return skip(t);
	rc = xioctl(IOMMU_FAULT_QUEUE_ALLOC, &cmd);
	rec(t, cmd.out_fault_id, cmd.out_fault_fd, 0);
	es_add(&ok, 0);
	pthread_mutex_lock(&tlock);
	if (check(t, rc, &ok, false) && !rc) {
		tbl[s].id = cmd.out_fault_id;
		tbl[s].fd = cmd.out_fault_fd;
		tbl[s].fd_is_fault = true;
		slot_publish(s, K_FAULT);
	} else {
		slot_cancel(s, K_FAULT);
	}
	pthread_mutex_unlock(&tlock);
}

/* Read the faults a fault fd has and answer each */
static void serve_faults(struct th *t, int fd)
{
	struct iommu_hwpt_pgfault faults[8];
	struct iommu_hwpt_page_response resp;
	struct eset ok = {};
	ssize_t n, i;
	int rc;

	n = read(fd, faults, sizeof(faults));
	rc = n < 0 ? errno : 0;
	es_add(&ok, 0);
	if (!check(t, rc, &ok, false) || n <= 0)
		return;
	if (n % sizeof(faults[0]))
		return fail(t, "read %zd bytes of faults", n);
	for (i = 0; i < n / (ssize_t)sizeof(faults[0]); i++) {
		struct eset wok = {};

		resp.cookie = faults[i].cookie;
		resp.code = IOMMUFD_PAGE_RESP_SUCCESS;
		rc = write(fd, &resp, sizeof(resp)) < 0 ? errno : 0;
		es_add(&wok, 0);
		/*
		 * EINVAL: no such cookie any more: the HWPT was detached from
		 * the device meanwhile, which answers its faults itself
		 */
		es_add(&wok, EINVAL);
		check(t, rc, &wok, false);
	}
}

static void op_iopf(struct th *t)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_TRIGGER_IOPF,
		.trigger_iopf = {
			.pasid = 0,	/* IOMMU_NO_PASID: the device's domain */
			.grpid = 1,
			.perm = IOMMU_PGFAULT_PERM_READ,
			.addr = MOCK_APERTURE_START,
		},
	};
	struct eset ok = {};
	struct ref r;
	int d, rc, fd, f;

	pthread_mutex_lock(&tlock);
	d = pick(t, K_STDEV, true, NULL, NULL);
	if (d < 0) {
		pthread_mutex_unlock(&tlock);
		return skip(t);
	}
	r = mkref(d);
	cmd.trigger_iopf.dev_id = tbl[d].id2;
	cmd.trigger_iopf.grpid = rnd(t) & 0xff;
	pthread_mutex_unlock(&tlock);

	rec(t, cmd.trigger_iopf.dev_id, 0, 0);
	rc = ioctl(ctx_fd, IOMMU_TEST_CMD, &cmd) ? errno : 0;
	pthread_mutex_lock(&tlock);
	/* reported whatever the device is attached to (or answered) */
	es_add(&ok, 0);
	if (!intact(&r))
		es_add(&ok, ENOENT);	/* the device went */
	check(t, rc, &ok, !intact(&r));
	pthread_mutex_unlock(&tlock);

	fd = dup_queue_fd(t, K_FAULT, &f);
	if (fd >= 0) {
		serve_faults(t, fd);
		close(fd);
	}
}

/*
 * fork() with live mappings: the child touches the buffers (pinned by IOAS
 * areas, some private: copied at fork) and, now and then, maps its copy of a
 * buffer into a new IOAS of the shared iommufd and leaves it there; then
 * _exit(). Only system calls in the child: the other threads may hold locks.
 */
static void op_fork(struct th *t)
{
	int status, b = rndn(t, NBUF), map = rndn(t, 2);
	struct eset ok = {};
	pid_t pid;
	int rc;

	rec(t, b, map, 0);
	pid = fork();
	if (pid < 0) {
		es_add(&ok, EAGAIN);	/* the process limit */
		check(t, errno, &ok, false);
		return;
	}
	if (!pid) {
		struct iommu_ioas_alloc a = { .size = sizeof(a) };
		struct iommu_ioas_map m = {
			.size = sizeof(m),
			.flags = IOMMU_IOAS_MAP_READABLE |
				 IOMMU_IOAS_MAP_WRITEABLE,
		};
		size_t i;

		for (i = 0; i < bufs[b].len; i += PAGE_SIZE)
			bufs[b].p[i]++;
		if (!map)
			_exit(0);
		if (ioctl(ctx_fd, IOMMU_IOAS_ALLOC, &a))
			_exit(10);
		m.ioas_id = a.out_ioas_id;
		m.user_va = (uintptr_t)bufs[b].p;
		m.length = bufs[b].len;
		if (ioctl(ctx_fd, IOMMU_IOAS_MAP, &m))
			_exit(11);
		for (i = 0; i < bufs[b].len; i += PAGE_SIZE)
			bufs[b].p[i]++;
		_exit(0);
	}
	rc = waitpid(pid, &status, 0) < 0 ? errno : 0;
	es_add(&ok, 0);
	if (check(t, rc, &ok, false) &&
	    (!WIFEXITED(status) || WEXITSTATUS(status)))
		fail(t, "child: status %#x (10: IOAS_ALLOC, 11: IOAS_MAP failed)",
		     status);
}

/*
 * Close the iommufd and open a new one, with no ioctl in flight (the write
 * side of ctx_lock), but with mappings of vIOMMU pages and vEVENTQ/fault fds
 * left: they hold the old context, which is released when the last of them
 * goes, in whichever thread drops it.
 */
static void op_reopen(struct th *t)
{
	int i, nfd = 0, nmm = 0, fd;
	struct eset ok = {};

	pthread_rwlock_unlock(&ctx_lock);
	pthread_rwlock_wrlock(&ctx_lock);
	pthread_mutex_lock(&tlock);
	for (i = 0; i < MAXOBJ; i++) {
		struct obj *o = &tbl[i];

		if (o->kind <= K_PENDING)
			continue;
		if (o->claimed || o->busy)
			fail(t, "entry %d claimed or busy with no op running", i);
		if (o->kind == K_MMAP || (o->fd >= 0 && (o->kind == K_VEVENTQ ||
							 o->kind == K_FAULT))) {
			bool is_mmap = o->kind == K_MMAP;

			if (o->dead)
				dead_count[o->kind]--;
			kind_count[o->kind]--;
			o->kind = is_mmap ? K_ORPHAN_MMAP : K_ORPHAN_FD;
			kind_count[o->kind]++;
			if (o->dead)
				dead_count[o->kind]++;
			o->parent = o->parent2 = -1;
			is_mmap ? nmm++ : nfd++;
		} else if (o->kind != K_ORPHAN_MMAP && o->kind != K_ORPHAN_FD) {
			slot_free(i);
		}
	}
	rec(t, ctx_fd, nmm, nfd);
	close(ctx_fd);
	fd = iommufd_open();
	es_add(&ok, 0);
	check(t, fd < 0 ? errno : 0, &ok, false);
	ctx_fd = fd;
	pthread_mutex_unlock(&tlock);
	pthread_rwlock_unlock(&ctx_lock);
	pthread_rwlock_rdlock(&ctx_lock);
}

static void cleanup_orphan(struct th *t, int s)
{
	struct eset ok = {};

	es_add(&ok, 0);
	if (tbl[s].kind == K_ORPHAN_MMAP) {
		touch_page(t, s);
		check(t, munmap(tbl[s].addr, tbl[s].len) ? errno : 0, &ok,
		      false);
	} else {
		if (tbl[s].fd_is_fault)
			serve_faults(t, tbl[s].fd);
		else
			read_veventq(t, tbl[s].fd);
		check(t, close(tbl[s].fd) ? errno : 0, &ok, false);
	}
}

static void op_orphan(struct th *t)
{
	int s;

	pthread_mutex_lock(&tlock);
	s = pick_claim(t, rndn(t, 2) ? K_ORPHAN_MMAP : K_ORPHAN_FD, NULL, NULL);
	if (s < 0) {
		pthread_mutex_unlock(&tlock);
		return skip(t);
	}
	claim(s);
	pthread_mutex_unlock(&tlock);
	rec(t, s, tbl[s].kind, 0);
	cleanup_orphan(t, s);
	pthread_mutex_lock(&tlock);
	slot_free(s);
	pthread_mutex_unlock(&tlock);
}

static void run_op(struct th *t, int op)
{
	switch (op) {
	case OP_IOAS_ALLOC: return op_ioas_alloc(t);
	case OP_IOAS_DESTROY: return op_destroy_kind(t, K_IOAS);
	case OP_MAP: return op_map(t);
	case OP_UNMAP: return op_unmap(t);
	case OP_UNMAP_ALL: return op_unmap_all(t);
	case OP_COPY: return op_copy(t);
	case OP_STDEV_ALLOC: return op_stdev_alloc(t);
	case OP_STDEV_DESTROY: return op_destroy_kind(t, K_STDEV);
	case OP_IDEV_DESTROY: return op_idev_destroy(t);
	case OP_HWPT_ALLOC: return op_hwpt_alloc(t);
	case OP_HWPT_DESTROY: return op_destroy_kind(t, K_HWPT);
	case OP_REPLACE: return op_replace(t);
	case OP_VIOMMU_ALLOC: return op_viommu_alloc(t);
	case OP_VIOMMU_DESTROY: return op_destroy_kind(t, K_VIOMMU);
	case OP_VDEV_ALLOC: return op_vdev_alloc(t);
	case OP_VDEV_DESTROY: return op_vdev_destroy(t);
	case OP_NESTED_ALLOC: return op_nested_alloc(t);
	case OP_NESTED_DESTROY: return op_destroy_kind(t, K_NESTED);
	case OP_INV_HWPT: return op_inv_hwpt(t);
	case OP_INV_VIOMMU: return op_inv_viommu(t);
	case OP_VEVENTQ_ALLOC: return op_veventq_alloc(t);
	case OP_VEVENTQ_DESTROY: return op_queue_destroy(t, K_VEVENTQ);
	case OP_TRIGGER_VEVENT: return op_trigger_vevent(t);
	case OP_VEVENTQ_READ: return op_veventq_read(t);
	case OP_HWQ_ALLOC: return op_hwq_alloc(t);
	case OP_HWQ_DESTROY: return op_destroy_kind(t, K_HWQ);
	case OP_MMAP: return op_mmap(t);
	case OP_MMAP_TOUCH: return op_mmap_touch(t);
	case OP_MUNMAP: return op_munmap(t);
	case OP_FAULT_ALLOC: return op_fault_alloc(t);
	case OP_FAULT_DESTROY: return op_queue_destroy(t, K_FAULT);
	case OP_IOPF: return op_iopf(t);
	case OP_FORK: return op_fork(t);
	case OP_REOPEN: return op_reopen(t);
	case OP_ORPHAN: return op_orphan(t);
	}
}

static int draw_op(struct th *t)
{
	return stress_draw_op(&t->rng_op, op_cumul, NOPS, op_total);
}

/*
 * /proc/sys/kernel/tainted after every op: a kernel WARN (or worse) shows
 * there at once, and the op that ran, or the ops that ran concurrently, are
 * reported with it
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
	fail(t, "the kernel got tainted (%#lx, was %#lx: a WARN or worse) during this op or a concurrent one; see its log",
	     now, taint0);
}

static void *thread_main(void *arg)
{
	struct th *t = arg;

	pthread_rwlock_rdlock(&ctx_lock);
	while (!g_stop) {
		struct ring_ent *e;
		int op = draw_op(t);

		t->nops++;
		e = cur(t);
		memset(e, 0, sizeof(*e));
		e->n = t->nops;
		e->op = op;
		e->rc = -1;
		run_op(t, op);
		/* every op alone, every 4th with company (it costs a syscall) */
		if (g_threads == 1 || !(t->nops % 4))
			check_taint(t);
		if (g_stop)
			break;
		pthread_mutex_lock(&tlock);
		note_state();
		pthread_mutex_unlock(&tlock);
		/* Let a waiting close/reopen in */
		if (!(t->nops % 16)) {
			pthread_rwlock_unlock(&ctx_lock);
			pthread_rwlock_rdlock(&ctx_lock);
		}
	}
	pthread_rwlock_unlock(&ctx_lock);
	t->done = 1;
	return NULL;
}

/* ---------------------------------------------------------------- teardown */

/*
 * Destroy what the table holds, leaves first: an object whose destroy is
 * EBUSY waits for its children. Nothing runs concurrently; a destroy that
 * stays EBUSY with no child left in the table is a failure.
 */
static bool teardown(struct th *t)
{
	int round, i, left = 0;
	struct eset ok = {};

	es_add(&ok, 0);
	for (i = 0; i < MAXOBJ; i++) {
		struct obj *o = &tbl[i];

		if (o->kind == K_MMAP || o->kind == K_ORPHAN_MMAP) {
			touch_page(t, i);
			check(t, munmap(o->addr, o->len) ? errno : 0, &ok, false);
			slot_free(i);
		} else if (o->kind == K_ORPHAN_FD) {
			cleanup_orphan(t, i);
			slot_free(i);
		} else if ((o->kind == K_VEVENTQ || o->kind == K_FAULT) &&
			   o->fd >= 0) {
			close(o->fd);
			o->fd = -1;
		}
	}
	for (round = 0; round < 64; round++) {
		left = 0;
		for (i = 0; i < MAXOBJ; i++) {
			struct obj *o = &tbl[i];
			struct ref pins[MAXOBJ];
			int rc;

			if (o->kind <= K_PENDING)
				continue;
			if (o->kind == K_MAP) {
				slot_free(i);	/* goes with its IOAS */
				continue;
			}
			left++;
			if (!o->dead && pins_of(i, pins, MAXOBJ))
				continue;
			rc = destroy_id(o->id);
			if (!rc || (rc == ENOENT && o->dead)) {
				destroyed(i);
				left--;
			} else if (rc != EBUSY) {
				fail(t, "teardown: destroy of %s %u: %s",
				     kind_name[o->kind], o->id, strerror(rc));
				return false;
			}
		}
		if (!left)
			break;
	}
	if (left) {
		for (i = 0; i < MAXOBJ; i++)
			if (tbl[i].kind > K_PENDING)
				ksft_print_msg("left: %s id %u%s\n",
					       kind_name[tbl[i].kind], tbl[i].id,
					       tbl[i].dead ? " (dead)" : "");
		fail(t, "teardown: %d objects stay EBUSY with no child", left);
		return false;
	}
	return true;
}

/* After everything: a new iommufd works and no buffer page is pinned */
static bool final_check(struct th *t)
{
	struct iommu_ioas_alloc a = { .size = sizeof(a) };
	int fd, i, rc, tries;

	fd = iommufd_open();
	if (fd < 0) {
		fail(t, "reopen /dev/iommu: %s", strerror(errno));
		return false;
	}
	if (ioctl(fd, IOMMU_IOAS_ALLOC, &a) ||
	    _test_ioctl_destroy(fd, a.out_ioas_id)) {
		fail(t, "IOAS alloc/destroy on a new iommufd: %s",
		     strerror(errno));
		return false;
	}
	for (i = 0; i < NBUF; i++) {
		struct iommu_test_cmd cmd = {
			.size = sizeof(cmd),
			.op = IOMMU_TEST_OP_MD_CHECK_REFS,
			.check_refs = { .length = bufs[i].len,
					.uptr = (uintptr_t)bufs[i].p,
					.refs = 0 },
		};

		/* The release of the last context may still be on its way */
		for (tries = 0; tries < 50; tries++) {
			rc = ioctl(fd, IOMMU_TEST_CMD, &cmd) ? errno : 0;
			if (rc != EIO)
				break;
			usleep(100000);
		}
		if (rc) {
			fail(t, "%s buffer: MD_CHECK_REFS: %s (pages still pinned)",
			     bufs[i].what, strerror(rc));
			return false;
		}
	}
	close(fd);
	return true;
}

/* ---------------------------------------------------------------- main */

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

static void *xmmap(size_t len, int flags, size_t align)
{
	char *p = mmap(NULL, len + align, PROT_READ | PROT_WRITE,
		       flags | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		ksft_exit_fail_msg("mmap: %s\n", strerror(errno));
	if (align) {
		char *a = (char *)(((uintptr_t)p + align - 1) & ~(align - 1));

		if (a != p)
			munmap(p, a - p);
		munmap(a + len, p + align - a);
		p = a;
	}
	memset(p, 0x5a, len);
	return p;
}

/* One stressing process: returns true if it passed */
static bool stress(unsigned long long seed)
{
	unsigned long total_ops = 0, sum[NOPS][NBUCKET] = {}, others[NOPS] = {};
	struct th *main_th = &ths[MAXTHREADS - 1];
	pthread_rwlockattr_t attr;
	double t0, t1, deadline;
	int i, j, b;
	bool ok = true;

	g_seed = seed;
	PAGE_SIZE = sysconf(_SC_PAGESIZE);
	bufs[0].p = xmmap(1 << 20, MAP_PRIVATE, 0);
	bufs[0].len = 1 << 20;
	bufs[0].what = "private";
	bufs[1].p = xmmap(1 << 20, MAP_SHARED, 0);
	bufs[1].len = 1 << 20;
	bufs[1].what = "shared";
	bufs[2].p = xmmap(2 << 20, MAP_PRIVATE, 2 << 20);
	bufs[2].len = 2 << 20;
	bufs[2].what = "private 2M-aligned";
	madvise(bufs[2].p, bufs[2].len, MADV_HUGEPAGE);

	for (i = 0; i < NOPS; i++) {
		op_total += op_skipped[i] ? 0 : op_weight[i];
		op_cumul[i] = op_total;
	}
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr,
				      PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&ctx_lock, &attr);

	taint_fd = open("/proc/sys/kernel/tainted", O_RDONLY);
	taint0 = read_taint();
	ctx_fd = iommufd_open();
	if (ctx_fd < 0) {
		ksft_print_msg("open /dev/iommu: %s\n", strerror(errno));
		return false;
	}
	signal(SIGSEGV, sig_fatal);
	signal(SIGBUS, sig_fatal);

	ksft_print_msg("seed %llu, %d threads, %d s, pid %d\n", seed,
		       g_threads, g_duration, getpid());
	fflush(stdout);
	t0 = stress_now();
	for (i = 0; i < g_threads; i++) {
		struct th *t = &ths[i];
		uint64_t s = seed * 0x100000001b3ULL + i;

		t->idx = i;
		t->rng_op = splitmix64(&s);
		t->rng_arg = splitmix64(&s) ^ 0x5bd1e995;
		if (pthread_create(&t->tid, NULL, thread_main, t))
			ksft_exit_fail_msg("pthread_create\n");
	}
	deadline = t0 + g_duration;
	while (!g_stop && stress_now() < deadline)
		usleep(100000);
	g_stop = 1;
	/* A thread stuck in the kernel: say where, after a grace period */
	for (i = 0; i < g_threads; i++) {
		while (!ths[i].done && stress_now() < deadline + 300)
			usleep(100000);
		if (!ths[i].done) {
			pthread_mutex_lock(&plock);
			ksft_print_msg("FAIL: seed %llu: thread %d is stuck for 300 s\n",
				       seed, i);
			for (j = 0; j < g_threads; j++)
				print_ring(&ths[j]);
			fflush(stdout);
			_exit(KSFT_FAIL);
		}
		pthread_join(ths[i].tid, NULL);
	}
	t1 = stress_now();

	for (i = 0; i < g_threads; i++) {
		total_ops += ths[i].nops;
		for (j = 0; j < NOPS; j++) {
			for (b = 0; b < NBUCKET; b++)
				sum[j][b] += ths[i].counts[j][b];
			others[j] += ths[i].others[j];
		}
	}
	ksft_print_msg("%lu ops in %.1f s: %.1f ops/s; %s%u distinct object-graph states\n",
		       total_ops, t1 - t0, total_ops / (t1 - t0),
		       n_states == STATE_SET / 2 ? "at least " : "", n_states);
	for (j = 0; j < NOPS; j++) {
		char line[256];
		unsigned long n = others[j];

		line[0] = 0;
		for (b = 0; b < NBUCKET; b++) {
			n += sum[j][b];
			if (sum[j][b])
				snprintf(line + strlen(line),
					 sizeof(line) - strlen(line), " %s %lu",
					 bucket_name[b], sum[j][b]);
		}
		if (others[j])
			snprintf(line + strlen(line), sizeof(line) - strlen(line),
				 " other %lu", others[j]);
		ksft_print_msg("  %-16s %7lu:%s\n", op_name[j], n, line);
	}

	for (j = 0; j < NSTRICT; j++)
		ksft_print_msg("  exact: %-58s %lu\n", strict_name[j],
			       strict_cnt[j]);

	if (g_failed) {
		ksft_print_msg("%d unexpected results\n", g_failed);
		return false;
	}
	/* The end: everything destroyed, the iommufd closed, nothing left */
	memset(main_th, 0, sizeof(*main_th));
	main_th->idx = -1;
	main_th->ring[0].op = OP_IOAS_DESTROY;
	ok = teardown(main_th);
	close(ctx_fd);
	if (ok)
		ok = final_check(main_th);
	if (ok)
		ksft_print_msg("teardown: every object destroyed, no page left pinned\n");
	return ok && !g_failed;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [--seed N[,N...]] [--duration SECONDS] [--threads N] [--procs N]\n"
		"          [--keep-going: report up to 20 failures, do not stop at the first]\n"
		"          [--skip-ops OP,...: never draw these ops]\n",
		argv0);
	exit(KSFT_FAIL);
}

/* --skip-ops OP,OP,...: never draw these (their weight goes to nothing) */
static void skip_ops(const char *list)
{
	char buf[512], *tok, *save;
	int op;

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		for (op = 0; op < NOPS; op++)
			if (!strcasecmp(tok, op_name[op]))
				break;
		if (op == NOPS) {
			fprintf(stderr, "unknown op %s\n", tok);
			exit(KSFT_FAIL);
		}
		op_skipped[op] = true;
	}
}

/* The seeds to run one after the other: "N" or "N,M,..." */
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
		{ "procs", required_argument, NULL, 'p' },
		{ "keep-going", no_argument, NULL, 'k' },
		{ "skip-ops", required_argument, NULL, 'x' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	unsigned long long seeds[16] = { 1 };
	int c, p, i, nseeds = 1;
	pid_t pids[64];
	const char *env;

	if ((env = getenv("STRESS_SEED")))
		nseeds = parse_seeds(env, seeds, 16);
	if ((env = getenv("STRESS_DURATION")))
		g_duration = atoi(env);
	if ((env = getenv("STRESS_THREADS")))
		g_threads = atoi(env);
	if ((env = getenv("STRESS_PROCS")))
		g_procs = atoi(env);
	while ((c = getopt_long(argc, argv, "s:d:t:p:kx:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': nseeds = parse_seeds(optarg, seeds, 16); break;
		case 'd': g_duration = atoi(optarg); break;
		case 't': g_threads = atoi(optarg); break;
		case 'p': g_procs = atoi(optarg); break;
		case 'k': g_keep_going = true; break;
		case 'x': skip_ops(optarg); break;
		default: usage(argv[0]);
		}
	}
	if (nseeds < 1 || g_threads < 1 || g_threads > MAXTHREADS - 1 ||
	    g_duration < 1 || g_procs < 1 || g_procs > 64)
		usage(argv[0]);
	setvbuf(stdout, NULL, _IOLBF, 0);

	/*
	 * One result per seed and process. Each run is a child process of its
	 * own: fresh state, and a crash is a "not ok", not a lost plan. The
	 * seeds run one after the other, the processes of one seed together
	 * (process p's seed is the seed + p * 1000003).
	 */
	ksft_print_header();
	ksft_set_plan(nseeds * g_procs);
	for (i = 0; i < nseeds; i++) {
		for (p = 0; p < g_procs; p++) {
			fflush(stdout);
			pids[p] = fork();
			if (pids[p] < 0)
				ksft_exit_fail_msg("fork: %s\n", strerror(errno));
			if (!pids[p])
				_exit(stress(seeds[i] + p * 1000003ULL) ? 0 : 1);
		}
		for (p = 0; p < g_procs; p++) {
			int status = 0;
			bool ok = waitpid(pids[p], &status, 0) == pids[p] &&
				  WIFEXITED(status) && !WEXITSTATUS(status);

			if (!ok)
				ksft_print_msg("process %d (seed %llu): status %#x\n",
					       p, seeds[i] + p * 1000003ULL,
					       status);
			ksft_test_result(ok, "stress seed %llu threads %d duration %d\n",
					 seeds[i] + p * 1000003ULL, g_threads,
					 g_duration);
		}
	}
	ksft_finished();
}
