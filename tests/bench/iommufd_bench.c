// SPDX-License-Identifier: GPL-2.0-only
/*
 * Figures for the vIOMMU objects, measured in the test guest on the mock
 * IOMMU (iommufd selftest): what one mock vIOMMU and one vDEVICE cost in slab
 * memory, and how long allocating and destroying them takes, each next to a
 * reference that 6.12 already has (an IOAS) measured in the same run; HW
 * queues; and vEVENTs: throughput, latency and memory per queued event, next
 * to 6.12's I/O page fault queue.
 *
 * The test kernel carries KASAN, lockdep and kmemleak, so absolute figures
 * are those of a debug kernel; they are a baseline for later changes under
 * the same configuration, not production numbers.
 *
 * Built against the kernel tree's kselftest helpers (iommufd_utils.h).
 */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>
#include <time.h>

#include "iommufd_utils.h"

#define PAIRS 100000
#define OBJECTS 1000
#define MAX_CACHES 512

/* /proc/slabinfo: active objects and object size of each cache */
struct slab_snapshot {
	int n;
	struct {
		char name[64];
		unsigned long active;
		unsigned long objsize;
	} cache[MAX_CACHES];
};

static int slab_read(struct slab_snapshot *snap)
{
	char line[512];
	FILE *f;

	f = fopen("/proc/slabinfo", "r");
	if (!f)
		return -1;
	snap->n = 0;
	while (fgets(line, sizeof(line), f) && snap->n < MAX_CACHES) {
		unsigned long active, total, objsize;
		char name[64];

		if (line[0] == '#' || !strncmp(line, "slabinfo", 8))
			continue;
		if (sscanf(line, "%63s %lu %lu %lu", name, &active, &total,
			   &objsize) != 4)
			continue;
		strcpy(snap->cache[snap->n].name, name);
		snap->cache[snap->n].active = active;
		snap->cache[snap->n].objsize = objsize;
		snap->n++;
	}
	fclose(f);
	return 0;
}

/*
 * Print, per cache, the objects that appeared between two snapshots per
 * measured object, and the total in bytes per measured object. Caches that
 * grew by less than a tenth of an object per measured object are noise.
 */
static void slab_report(const char *what, const struct slab_snapshot *before,
			const struct slab_snapshot *after, unsigned int count)
{
	double total = 0;
	int i, j;

	for (i = 0; i < after->n; i++) {
		double per;

		for (j = 0; j < before->n; j++)
			if (!strcmp(before->cache[j].name, after->cache[i].name))
				break;
		if (j == before->n)
			continue;
		per = ((double)after->cache[i].active -
		       (double)before->cache[j].active) / count;
		if (per < 0.1)
			continue;
		total += per * after->cache[i].objsize;
		ksft_print_msg("%s: %-24s %5.2f objects x %4lu bytes\n", what,
			       after->cache[i].name, per,
			       after->cache[i].objsize);
	}
	ksft_print_msg("%s: %.0f slab bytes per object in all\n", what, total);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

FIXTURE(bench)
{
	int fd;
	uint32_t ioas_id;
	uint32_t stdev_id;
	uint32_t device_id;
	uint32_t s2_hwpt_id;
	uint32_t viommu_id;
};

FIXTURE_SETUP(bench)
{
	self->fd = open("/dev/iommu", O_RDWR);
	ASSERT_NE(-1, self->fd);
	test_ioctl_ioas_alloc(&self->ioas_id);
	test_cmd_mock_domain(self->ioas_id, &self->stdev_id, NULL,
			     &self->device_id);
	test_cmd_hwpt_alloc(self->device_id, self->ioas_id,
			    IOMMU_HWPT_ALLOC_NEST_PARENT, &self->s2_hwpt_id);
	test_cmd_viommu_alloc(self->device_id, self->s2_hwpt_id,
			      IOMMU_VIOMMU_TYPE_SELFTEST, NULL, 0,
			      &self->viommu_id);
}

FIXTURE_TEARDOWN(bench)
{
	teardown_iommufd(self->fd, _metadata);
}

TEST_F_TIMEOUT(bench, vdevice_pairs, 900)
{
	uint32_t id;
	double t0, t_vdev, t_same, t_ioas;
	int i;

	/* A new virtual ID each time, as for devices coming and going */
	t0 = now();
	for (i = 0; i != PAIRS; i++) {
		test_cmd_vdevice_alloc(self->viommu_id, self->device_id, i,
				       &id);
		test_ioctl_destroy(id);
	}
	t_vdev = now() - t0;

	/* The same one: no xarray node to allocate in the vIOMMU's table */
	t0 = now();
	for (i = 0; i != PAIRS; i++) {
		test_cmd_vdevice_alloc(self->viommu_id, self->device_id, 0x99,
				       &id);
		test_ioctl_destroy(id);
	}
	t_same = now() - t0;

	t0 = now();
	for (i = 0; i != PAIRS; i++) {
		test_ioctl_ioas_alloc(&id);
		test_ioctl_destroy(id);
	}
	t_ioas = now() - t0;

	ksft_print_msg("%d VDEVICE_ALLOC+DESTROY pairs: %.2f s, %.1f us/pair\n",
		       PAIRS, t_vdev, t_vdev * 1e6 / PAIRS);
	ksft_print_msg("%d VDEVICE_ALLOC+DESTROY pairs, one virt_id: %.2f s, %.1f us/pair\n",
		       PAIRS, t_same, t_same * 1e6 / PAIRS);
	ksft_print_msg("%d IOAS_ALLOC+DESTROY pairs (reference): %.2f s, %.1f us/pair\n",
		       PAIRS, t_ioas, t_ioas * 1e6 / PAIRS);
}

TEST_F_TIMEOUT(bench, viommu_memory, 300)
{
	static struct slab_snapshot before, after;
	uint32_t ids[OBJECTS];
	int i;

	ASSERT_EQ(0, slab_read(&before));
	for (i = 0; i != OBJECTS; i++)
		test_cmd_viommu_alloc(self->device_id, self->s2_hwpt_id,
				      IOMMU_VIOMMU_TYPE_SELFTEST, NULL, 0,
				      &ids[i]);
	ASSERT_EQ(0, slab_read(&after));
	slab_report("vIOMMU", &before, &after, OBJECTS);
	for (i = 0; i != OBJECTS; i++)
		test_ioctl_destroy(ids[i]);

	ASSERT_EQ(0, slab_read(&before));
	for (i = 0; i != OBJECTS; i++)
		test_ioctl_ioas_alloc(&ids[i]);
	ASSERT_EQ(0, slab_read(&after));
	slab_report("IOAS (reference)", &before, &after, OBJECTS);
	for (i = 0; i != OBJECTS; i++)
		test_ioctl_destroy(ids[i]);
}

TEST_F_TIMEOUT(bench, vdevice_memory, 300)
{
	static struct slab_snapshot before, after;
	uint32_t device_ids[OBJECTS];
	uint32_t vdev_ids[OBJECTS];
	double t0, t_dev;
	int i;

	/* One vDEVICE per device: the devices first, outside the measure */
	t0 = now();
	for (i = 0; i != OBJECTS; i++)
		test_cmd_mock_domain(self->ioas_id, NULL, NULL,
				     &device_ids[i]);
	t_dev = now() - t0;
	ksft_print_msg("%d mock devices bound and attached: %.2f s\n", OBJECTS,
		       t_dev);

	ASSERT_EQ(0, slab_read(&before));
	for (i = 0; i != OBJECTS; i++)
		test_cmd_vdevice_alloc(self->viommu_id, device_ids[i], i,
				       &vdev_ids[i]);
	ASSERT_EQ(0, slab_read(&after));
	slab_report("vDEVICE", &before, &after, OBJECTS);
	for (i = 0; i != OBJECTS; i++)
		test_ioctl_destroy(vdev_ids[i]);
}

/* A field of /proc/self/status in kB, e.g. "VmPin:" (pinned_vm) */
static long status_kb(const char *field)
{
	char line[256];
	long kb = -1;
	FILE *f;

	f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, strlen(field)))
			kb = strtol(line + strlen(field), NULL, 10);
	fclose(f);
	return kb;
}

static void print_pins(const char *when)
{
	ksft_print_msg("%-32s VmPin %ld kB, VmLck %ld kB\n", when,
		       status_kb("VmPin:"), status_kb("VmLck:"));
}

#define QUEUE_PAIRS 10000

TEST_F_TIMEOUT(bench, hw_queue_pairs, 600)
{
	static const size_t sizes[] = { 4096, 65536 };
	__u64 iova = MOCK_APERTURE_START;
	size_t huge_size = 2 * 1024 * 1024;
	uint32_t id, ids[2];
	double t0, t;
	void *huge;
	int i, s;

	/* A 2 MiB huge page: physically contiguous, for any queue size */
	huge = mmap(NULL, huge_size, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	ASSERT_NE(MAP_FAILED, huge);
	print_pins("before IOAS_MAP");
	test_ioctl_ioas_map_fixed(huge, huge_size, iova);
	print_pins("after IOAS_MAP of 2 MiB");

	for (s = 0; s != 2; s++) {
		t0 = now();
		for (i = 0; i != QUEUE_PAIRS; i++) {
			test_cmd_hw_queue_alloc(self->viommu_id, 0, iova,
						sizes[s], &id);
			test_ioctl_destroy(id);
		}
		t = now() - t0;
		ksft_print_msg("%d HW_QUEUE_ALLOC+DESTROY pairs, %zu KiB queue: %.2f s, %.1f us/pair\n",
			       QUEUE_PAIRS, sizes[s] / 1024, t,
			       t * 1e6 / QUEUE_PAIRS);
	}

	test_cmd_hw_queue_alloc(self->viommu_id, 0, iova, 65536, &ids[0]);
	test_cmd_hw_queue_alloc(self->viommu_id, 1, iova + 65536, 65536,
				&ids[1]);
	print_pins("with two 64 KiB queues");
	test_ioctl_destroy(ids[1]);
	test_ioctl_destroy(ids[0]);
	print_pins("after their destroy");
	test_ioctl_ioas_unmap(iova, huge_size);
	print_pins("after IOAS_UNMAP");
	munmap(huge, huge_size);
}

/*
 * A vDEVICE for the fixture's device and a nested HWPT it is attached to, so
 * that IOMMU_TEST_OP_TRIGGER_VEVENT reports its events.
 */
static void vevent_setup(struct __test_metadata *_metadata,
			 FIXTURE_DATA(bench) *self)
{
	struct iommu_hwpt_selftest data = { .iotlb = IOMMU_TEST_IOTLB_DEFAULT };
	uint32_t vdev_id, nested_id;

	test_cmd_vdevice_alloc(self->viommu_id, self->device_id, 0x99,
			       &vdev_id);
	test_cmd_hwpt_alloc_nested(self->device_id, self->viommu_id, 0,
				   &nested_id, IOMMU_HWPT_DATA_SELFTEST, &data,
				   sizeof(data));
	test_cmd_mock_domain_replace(self->stdev_id, nested_id);
}

#define EVENTS 100000
#define BATCH 64

TEST_F_TIMEOUT(bench, vevent_throughput, 900)
{
	struct iommu_hwpt_selftest data = { .iotlb = IOMMU_TEST_IOTLB_DEFAULT };
	struct mock_vevent evs[BATCH];
	uint32_t veventq_id, fault_id, fault_fd, iopf_hwpt_id;
	uint32_t stdev2_id, device2_id;
	double t0, t;
	int efd;
	int i, j;

	vevent_setup(_metadata, self);

	/* The cost of the ioctl alone: a report that finds no queue */
	t0 = now();
	for (i = 0; i != EVENTS; i++)
		ASSERT_EQ(-1, _test_cmd_trigger_vevent(self->fd,
						       self->device_id));
	t = now() - t0;
	ksft_print_msg("%d triggers without a queue (dropped): %.2f s, %.1f us each\n",
		       EVENTS, t, t * 1e6 / EVENTS);

	test_cmd_veventq_alloc(self->viommu_id, BATCH, &veventq_id, &efd);
	t0 = now();
	for (i = 0; i != EVENTS; i++) {
		test_cmd_trigger_vevent(self->device_id);
		ASSERT_EQ(sizeof(evs[0]), read(efd, evs, sizeof(evs[0])));
	}
	t = now() - t0;
	ksft_print_msg("%d vEVENTs, trigger + read of one: %.2f s, %.0f events/s, %.1f us each\n",
		       EVENTS, t, EVENTS / t, t * 1e6 / EVENTS);

	t0 = now();
	for (i = 0; i != EVENTS / BATCH; i++) {
		for (j = 0; j != BATCH; j++)
			test_cmd_trigger_vevent(self->device_id);
		ASSERT_EQ(sizeof(evs), read(efd, evs, sizeof(evs)));
	}
	t = now() - t0;
	ksft_print_msg("%d vEVENTs, %d triggers + one read: %.2f s, %.0f events/s\n",
		       EVENTS / BATCH * BATCH, BATCH, t,
		       EVENTS / BATCH * BATCH / t);
	EXPECT_EQ(0, close(efd));
	test_ioctl_destroy(veventq_id);

	/*
	 * Reference, 6.12's own event queue: an I/O page fault triggered,
	 * read and responded to, on a second device.
	 */
	test_cmd_mock_domain(self->ioas_id, &stdev2_id, NULL, &device2_id);
	test_ioctl_fault_alloc(&fault_id, &fault_fd);
	test_cmd_hwpt_alloc_iopf(device2_id, self->s2_hwpt_id, fault_id,
				 IOMMU_HWPT_FAULT_ID_VALID, &iopf_hwpt_id,
				 IOMMU_HWPT_DATA_SELFTEST, &data, sizeof(data));
	test_cmd_mock_domain_replace(stdev2_id, iopf_hwpt_id);
	t0 = now();
	for (i = 0; i != EVENTS; i++)
		test_cmd_trigger_iopf(device2_id, fault_fd);
	t = now() - t0;
	ksft_print_msg("(reference) %d IOPFs, trigger + read + response: %.2f s, %.0f faults/s, %.1f us each\n",
		       EVENTS, t, EVENTS / t, t * 1e6 / EVENTS);
	close(fault_fd);
}

struct latency_reader {
	int efd;
	int count;
	int done;
	double *t_read;
};

/* Wait for each event in poll(), read it, note when it arrived */
static void *latency_reader_thread(void *arg)
{
	struct latency_reader *r = arg;
	struct pollfd pfd = { .fd = r->efd, .events = POLLIN };
	struct mock_vevent ev;
	int i;

	for (i = 0; i != r->count; i++) {
		if (poll(&pfd, 1, 5000) != 1 ||
		    read(r->efd, &ev, sizeof(ev)) != sizeof(ev))
			return (void *)1;
		r->t_read[ev.hdr.sequence] = now();
		__atomic_store_n(&r->done, i + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

#define LATENCY_EVENTS 10000

TEST_F_TIMEOUT(bench, vevent_latency, 600)
{
	static double t_trigger[LATENCY_EVENTS], t_read[LATENCY_EVENTS];
	static double lat[LATENCY_EVENTS];
	struct latency_reader r = { .count = LATENCY_EVENTS, .t_read = t_read };
	uint32_t veventq_id;
	pthread_t thread;
	void *ret;
	int i;

	vevent_setup(_metadata, self);
	test_cmd_veventq_alloc(self->viommu_id, 16, &veventq_id, &r.efd);
	ASSERT_EQ(0, pthread_create(&thread, NULL, latency_reader_thread, &r));

	/* One event at a time, each after the reader got the previous one */
	for (i = 0; i != LATENCY_EVENTS; i++) {
		while (__atomic_load_n(&r.done, __ATOMIC_ACQUIRE) < i)
			usleep(50);
		t_trigger[i] = now();
		test_cmd_trigger_vevent(self->device_id);
	}
	ASSERT_EQ(0, pthread_join(thread, &ret));
	ASSERT_EQ(NULL, ret);

	for (i = 0; i != LATENCY_EVENTS; i++)
		lat[i] = (t_read[i] - t_trigger[i]) * 1e6;
	qsort(lat, LATENCY_EVENTS, sizeof(lat[0]), cmp_double);
	ksft_print_msg("vEVENT trigger -> poll wake-up -> read, %d events: median %.1f us, p90 %.1f us, p99 %.1f us, max %.1f us\n",
		       LATENCY_EVENTS, lat[LATENCY_EVENTS / 2],
		       lat[LATENCY_EVENTS * 9 / 10],
		       lat[LATENCY_EVENTS * 99 / 100], lat[LATENCY_EVENTS - 1]);
	EXPECT_EQ(0, close(r.efd));
	test_ioctl_destroy(veventq_id);
}

#define QUEUED_EVENTS 100000

TEST_F_TIMEOUT(bench, vevent_memory, 600)
{
	static struct slab_snapshot before, after;
	uint32_t veventq_id;
	int efd, i;

	vevent_setup(_metadata, self);
	test_cmd_veventq_alloc(self->viommu_id, 1U << 19, &veventq_id, &efd);
	ASSERT_EQ(0, slab_read(&before));
	for (i = 0; i != QUEUED_EVENTS; i++)
		test_cmd_trigger_vevent(self->device_id);
	ASSERT_EQ(0, slab_read(&after));
	slab_report("queued vEVENT (4-byte payload)", &before, &after,
		    QUEUED_EVENTS);
	/* Closed with every event still queued: all freed with the queue */
	EXPECT_EQ(0, close(efd));
	test_ioctl_destroy(veventq_id);
}

TEST_HARNESS_MAIN
