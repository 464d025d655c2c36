/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Force-included (gcc -include) into the kselftest programs the harness
 * builds from the kernel trees (ours and mainline's), before their own
 * code. The kselftest harness kills a case after TEST_TIMEOUT_DEFAULT, 30 s,
 * a budget meant for real machines. Under TCG on a 2-core machine a few of
 * iommufd's cases need more (dirty tracking of 128 MiB took longer than 30 s
 * on some machines with Debian's QEMU too, and so did fail_nth's
 * map_two_domains). The tests themselves stay unchanged; only the harness's
 * patience changes, and a case that hangs still ends, at 300 s.
 */
#include <kselftest_harness.h>

#undef TEST_TIMEOUT_DEFAULT
#define TEST_TIMEOUT_DEFAULT 300
