#!/usr/bin/env bash
# Build the kselftests the guest runs, statically for arm64, against the uAPI
# headers of the kernel just built (build/obj-test/usr/include).
#
#   selftests.sh OUTDIR
. "$(dirname "$0")/lib.sh"

OUT=$(realpath -m "${1:?usage: selftests.sh OUTDIR}")
KOUT=${KOUT:-$BUILD/obj-test$(checkers_suffix)}
LOG=$BUILD/logs/selftests-build.log
CROSS=$(cross_compile)

need_tools make "${CROSS}gcc"
[ -d "$KOUT/usr/include/linux" ] || die "no uAPI headers in $KOUT/usr/include; run 'make kernel' first"
mkdir -p "$OUT" "$(dirname "$LOG")"

# The end-to-end programs (tests/e2e), each on the library in tests/e2e/lib
E2E_PROGS="smmu_viommu smmu_s2 smmu_nested smmu_vevent smmu_msi smmu_bad_input
	smmu_two_edu cmdqv smmu_inv_bench"
PROGS="iommufd iommufd_fail_nth iommufd_bench iommufd_stress smmu_stress $E2E_PROGS cmdqv-probe"
# A failed build must not leave an older binary for a later run to trust.
for t in $PROGS; do
	rm -f "$OUT/$t"
done

# The kselftest harness's own build (lib.mk); objects stay out of the tree.
# tests/kselftest-timeout.h gives each case 300 s instead of 30 (see there).
TIMEOUT_H="-I$TREE/tools/testing/selftests -include $TOP/tests/kselftest-timeout.h"
note "building kselftests: iommu (log: $LOG)"
if ! make -C "$TREE/tools/testing/selftests/iommu" ARCH=arm64 \
	CROSS_COMPILE="$CROSS" CC="${CROSS}gcc" LDFLAGS=-static \
	KHDR_INCLUDES="-isystem $KOUT/usr/include $TIMEOUT_H" OUTPUT="$OUT" >"$LOG" 2>&1; then
	grep -E 'error' "$LOG" | head -n 20 >&2 || true
	die "kselftest build failed (log: $LOG)"
fi
# Our figures program, built on the same kselftest helpers (make bench).
note "building tests/bench/iommufd_bench"
if ! "${CROSS}gcc" -static -O2 -Wall -Wno-unused-function -Wno-unused-variable -isystem "$KOUT/usr/include" \
	-I"$TREE/tools/testing/selftests/iommu" -o "$OUT/iommufd_bench" \
	"$TOP/tests/bench/iommufd_bench.c" -lpthread >>"$LOG" 2>&1; then
	tail -n 20 "$LOG" >&2
	die "iommufd_bench build failed (log: $LOG)"
fi
# The seeded multi-threaded stress of /dev/iommu on the mock (make stress).
note "building tests/stress/iommufd_stress"
if ! "${CROSS}gcc" -static -O2 -Wall -Werror -Wno-unused-function -isystem "$KOUT/usr/include" \
	-I"$TREE/tools/testing/selftests/iommu" -o "$OUT/iommufd_stress" \
	"$TOP/tests/stress/iommufd_stress.c" -lpthread >>"$LOG" 2>&1; then
	tail -n 20 "$LOG" >&2
	die "iommufd_stress build failed (log: $LOG)"
fi
# The seeded stress of nesting on the emulated SMMU with the edu devices
# (make stress MODE=smmu): the e2e library, and the selftest's header for
# its final pin count.
note "building tests/stress/smmu_stress"
if ! "${CROSS}gcc" -static -O2 -Wall -Werror -isystem "$KOUT/usr/include" \
	-I"$TREE/tools/testing/selftests" -I"$TOP/tests/e2e/lib" \
	-I"$TREE/drivers/iommu/iommufd" -o "$OUT/smmu_stress" \
	"$TOP/tests/stress/smmu_stress.c" "$TOP/tests/e2e/lib/e2e.c" -lpthread \
	>>"$LOG" 2>&1; then
	tail -n 20 "$LOG" >&2
	die "smmu_stress build failed (log: $LOG)"
fi
# Our end-to-end programs: the VMM's ioctls on QEMU's edu device.
note "building tests/e2e:" $E2E_PROGS
for t in $E2E_PROGS; do
	if ! "${CROSS}gcc" -static -O2 -Wall -Werror -isystem "$KOUT/usr/include" \
		-I"$TREE/tools/testing/selftests" -I"$TOP/tests/e2e/lib" \
		-o "$OUT/$t" "$TOP/tests/e2e/$t.c" "$TOP/tests/e2e/lib/e2e.c" \
		>>"$LOG" 2>&1; then
		tail -n 20 "$LOG" >&2
		die "$t build failed (log: $LOG)"
	fi
done
# The host capability probe, which the end-to-end cases run first.
note "building probe/cmdqv-probe"
# (sysfs paths are bounded by snprintf; truncation is not an error there)
if ! "${CROSS}gcc" -static -O2 -Wall -Werror -Wno-format-truncation \
	-isystem "$KOUT/usr/include" -o "$OUT/cmdqv-probe" "$TOP/probe/cmdqv-probe.c" >>"$LOG" 2>&1; then
	tail -n 20 "$LOG" >&2
	die "cmdqv-probe build failed (log: $LOG)"
fi
for t in $PROGS; do
	file "$OUT/$t" | grep -q 'statically linked' ||
		die "$OUT/$t is not a static arm64 binary (log: $LOG)"
done
