// SPDX-License-Identifier: GPL-2.0-only
/*
 * smmu_vevent: the guest's faults reach its vEVENTQ, by vSID and faulting
 * address, once each; the host's (stage 2) stay in the host's log, and so
 * do the guest's while it has no queue. The device is on a guest stage 1
 * (vsmmu_setup(), a nested HWPT from a vSTE pointing at the guest's CD).
 * Needs a machine that allows a vSMMU: elsewhere every case skips.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "e2e.h"

/* A stage-1 IOVA mapped to an IPA the IOAS does not map */
#define S1_S2_HOLE		0x0a348000UL
#define IPA_HOLE		(GMEM_IOVA + GMEM_SIZE + 2 * SZ_1M)

/* The host's event dumps are rate limited: 10 per 5 s (DEFAULT_RATELIMIT_*) */
#define HOST_EVT_RATELIMIT_US	6000000LL

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
	snprintf(mark, sizeof(mark), "smmu_vevent: mark %d.%ld\n", getpid(),
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

FIXTURE(smmu_vevent) {
	struct vsmmu vm;
	__u32 psid;
	__u32 hwpt_id;
	__u32 veventq_id;
	int veventq_fd;
	int kmsg;
};

FIXTURE_SETUP(smmu_vevent)
{
	const char *why;

	self->veventq_fd = -1;
	self->kmsg = -1;
	ASSERT_EQ(0, edu_open(&self->vm.edu, 0, -1));
	if (!e2e_vsmmu_allowed(self->vm.edu.iommufd, self->vm.edu.dev_id, &why))
		SKIP(return, "%s", why);
	ASSERT_EQ(0, vsmmu_setup(&self->vm));
	ASSERT_EQ(0, edu_sid(&self->vm.edu, &self->psid));
	/* Forwarded events must show the vSID, not this */
	ASSERT_NE(VSID, self->psid);
	ASSERT_EQ(0, nested_attach(&self->vm.edu, self->vm.viommu_id,
				   vste_s1(&self->vm.mem), VSTE1_S1,
				   &self->hwpt_id));
}

FIXTURE_TEARDOWN(smmu_vevent)
{
	if (self->kmsg >= 0)
		close(self->kmsg);
	if (self->veventq_fd >= 0)
		close(self->veventq_fd);
	vsmmu_teardown(&self->vm);
}

static int vevent_queue(FIXTURE_DATA(smmu_vevent) *self, __u32 depth)
{
	return veventq_alloc(&self->vm.edu, self->vm.viommu_id,
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

	ASSERT_EQ(0, edu_dma(&self->vm.edu, S1_HOLE, 0, 4, EDU_DMA_TO_RAM));
	ASSERT_EQ(1, vevents_wait(self->veventq_fd, ev, 4));
	ASSERT_VEVENT(&ev[0], 0, EVT_ID_TRANSLATION_FAULT, S1_HOLE);
	ASSERT_EQ(0, ev[0].evt[1] & EVT1_RNW);
	ASSERT_EQ(0, wait_readable(self->veventq_fd, GRACE_MS));

	ASSERT_EQ(0, edu_dma(&self->vm.edu, S1_HOLE + 0x80, 0, 4,
			     EDU_DMA_FROM_RAM));
	ASSERT_EQ(1, vevents_wait(self->veventq_fd, ev, 4));
	ASSERT_VEVENT(&ev[0], 1, EVT_ID_TRANSLATION_FAULT, S1_HOLE + 0x80);
	ASSERT_NE(0, ev[0].evt[1] & EVT1_RNW);
	ASSERT_EQ(0, wait_readable(self->veventq_fd, GRACE_MS));

	ASSERT_EQ(0, host_evts(self->kmsg, S1_HOLE, NULL));
	ASSERT_EQ(0, host_evts(self->kmsg, S1_HOLE + 0x80, NULL));
	ASSERT_GMEM(&self->vm.mem);
}

/* DMAs the two stages translate raise no event */
TEST_F(smmu_vevent, mapped_no_event)
{
	ASSERT_EQ(0, vevent_queue(self, 64));
	ASSERT_EQ(0, nested_copy(&self->vm.edu, &self->vm.mem, S1_DST + 0x40,
				 G_PAGE_A + 0x40, 64));
	ASSERT_GMEM(&self->vm.mem);
	ASSERT_EQ(0, wait_readable(self->veventq_fd, GRACE_MS));
}

/*
 * The guest maps the IOVA to an IPA the IOAS does not map: the stage 2
 * faults, the host's business. No vEVENT; the host logs it, by physical SID.
 */
TEST_F(smmu_vevent, s2_fault)
{
	struct host_evt he;

	s1_map(&self->vm.mem, G_L1, G_L2, G_L3, S1_S2_HOLE, IPA_HOLE);
	ASSERT_EQ(0, vevent_queue(self, 64));
	ASSERT_EQ(0, host_evt_ratelimit_wait());
	self->kmsg = kmsg_open_end();
	ASSERT_LE(0, self->kmsg);

	ASSERT_EQ(0, edu_dma(&self->vm.edu, S1_S2_HOLE, 0, 4,
			     EDU_DMA_TO_RAM));
	ASSERT_EQ(1, host_evts_wait(self->kmsg, S1_S2_HOLE, 1, &he));
	ASSERT_EQ(EVT_ID_TRANSLATION_FAULT, he.id);
	ASSERT_EQ(self->psid, EVT0_SID(he.evt[0]));
	ASSERT_NE(0, he.evt[1] & EVT1_S2);
	ASSERT_EQ(0, wait_readable(self->veventq_fd, GRACE_MS));
	ASSERT_GMEM(&self->vm.mem);
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
	ASSERT_EQ(0, edu_dma(&self->vm.edu, S1_HOLE, 0, 16, EDU_DMA_TO_RAM));
	ASSERT_EQ(1, wait_readable(self->veventq_fd, EVT_WAIT_MS));
	/* All four reported before the first is read */
	usleep(GRACE_MS * 1000);
	ASSERT_EQ(3, vevents_read(self->veventq_fd, ev, 8));
	ASSERT_VEVENT(&ev[0], 0, EVT_ID_TRANSLATION_FAULT, S1_HOLE);
	ASSERT_VEVENT(&ev[1], 1, EVT_ID_TRANSLATION_FAULT, S1_HOLE + 4);
	ASSERT_EQ(IOMMU_VEVENTQ_FLAG_LOST_EVENTS, ev[2].hdr.flags);
	ASSERT_EQ(3, ev[2].hdr.sequence);
	ASSERT_EQ(0, wait_readable(self->veventq_fd, GRACE_MS));

	ASSERT_EQ(0, edu_dma(&self->vm.edu, S1_HOLE + 0x100, 0, 4,
			     EDU_DMA_TO_RAM));
	ASSERT_EQ(1, vevents_wait(self->veventq_fd, ev, 8));
	ASSERT_VEVENT(&ev[0], 4, EVT_ID_TRANSLATION_FAULT, S1_HOLE + 0x100);
	ASSERT_GMEM(&self->vm.mem);
}

/*
 * edu writes to the stage-1 hole: the host logs the fault (F_TRANSLATION, by
 * physical SID), once the rate limit's interval has passed; from then on
 * self->kmsg reads the host's log.
 */
static void host_logs_fault(struct __test_metadata *_metadata,
			    FIXTURE_DATA(smmu_vevent) *self, struct host_evt *he)
{
	ASSERT_EQ(0, host_evt_ratelimit_wait());
	self->kmsg = kmsg_open_end();
	ASSERT_LE(0, self->kmsg);
	ASSERT_EQ(0, edu_dma(&self->vm.edu, S1_HOLE, 0, 4, EDU_DMA_TO_RAM));
	ASSERT_EQ(1, host_evts_wait(self->kmsg, S1_HOLE, 1, he));
	ASSERT_EQ(EVT_ID_TRANSLATION_FAULT, he->id);
	ASSERT_EQ(self->psid, EVT0_SID(he->evt[0]));
}

/* Without a vEVENTQ, the guest's fault is logged by the host */
TEST_F(smmu_vevent, no_queue_host_log)
{
	struct host_evt he;

	host_logs_fault(_metadata, self, &he);
	ASSERT_EQ(0, he.evt[1] & EVT1_S2);
	ASSERT_GMEM(&self->vm.mem);
}

/*
 * The VMM destroys edu's vDEVICE while edu stays on the guest's stage 1:
 * the guest hears nothing of a device it has no vDEVICE for (the vSID could
 * be another device's by now), and the host logs the fault by physical SID.
 * A new vDEVICE with the same vSID gives the faults back to the guest.
 */
TEST_F(smmu_vevent, vdevice_gone)
{
	struct vevent ev[4];
	struct host_evt he;

	ASSERT_EQ(0, vevent_queue(self, 64));
	ASSERT_EQ(0, iommufd_destroy(self->vm.edu.iommufd, self->vm.vdev_id));
	host_logs_fault(_metadata, self, &he);
	ASSERT_EQ(0, wait_readable(self->veventq_fd, GRACE_MS));

	ASSERT_EQ(0, vdevice_alloc(&self->vm.edu, self->vm.viommu_id, VSID,
				   &self->vm.vdev_id));
	ASSERT_EQ(0, edu_dma(&self->vm.edu, S1_HOLE + 0x80, 0, 4,
			     EDU_DMA_TO_RAM));
	ASSERT_EQ(1, vevents_wait(self->veventq_fd, ev, 4));
	ASSERT_VEVENT(&ev[0], 0, EVT_ID_TRANSLATION_FAULT, S1_HOLE + 0x80);
	ASSERT_EQ(0, host_evts(self->kmsg, S1_HOLE + 0x80, NULL));
	ASSERT_GMEM(&self->vm.mem);
}

/* VEVENTQ_ALLOC's errnos on a vSMMU, and one queue per type */
TEST_F(smmu_vevent, alloc_errnos)
{
	struct edu *edu = &self->vm.edu;
	__u32 viommu_id = self->vm.viommu_id;
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

TEST_HARNESS_MAIN
