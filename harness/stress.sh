#!/usr/bin/env bash
# Boot the test kernel and run a seeded multi-threaded stress for DURATION
# seconds, judged like every other run: its KTAP result, and any KASAN,
# lockdep, WARN, hang or kmemleak report in the boot fails it.
#
#   stress.sh IMAGE TESTDIR
#
# MODE=mock (default): /dev/iommu on the iommufd selftest mock
# (tests/stress/iommufd_stress.c). MODE=smmu: nesting on the emulated SMMUv3
# with the two edu devices doing DMA (tests/stress/smmu_stress.c), in the
# CANWBS boot, the only one whose IORT lets a VM have a vSMMU there (the
# first boot, which prints QEMU's IORT for it, runs nothing).
#
# DURATION: seconds of stress (default 1800); SEED: the PRNG seed (default:
# the time, printed), or seeds "1,2,3" run one after the other, DURATION
# each; THREADS (default 4; MODE=smmu: 2, one per edu); PROCS: processes,
# each with its own iommufd and threads (default 1; MODE=mock only).
# KSFT_ARGS are appended to the program's arguments (they win). TIMEOUT
# (boot.sh's, for the whole guest) defaults to DURATION plus time to boot,
# tear down, scan and dump the log. RUN_OUT: where the logs go (default
# build/run-stress, MODE=smmu build/run-stress-smmu); MACHINE (default
# smmuv3, see below).
. "$(dirname "$0")/lib.sh"

IMAGE=${1:?usage: stress.sh IMAGE TESTDIR}
TESTDIR=${2:?usage: stress.sh IMAGE TESTDIR}
MODE=${MODE:-mock}
DURATION=${DURATION:-1800}
SEED=${SEED:-$(date +%s)}
PROCS=${PROCS:-1}
case $MODE in
mock)
	prog=iommufd_stress
	THREADS=${THREADS:-4}
	;;
smmu)
	prog=smmu_stress
	THREADS=${THREADS:-2}
	# One thread per edu device, each the VMM of a VM of its own
	[ "$PROCS" = 1 ] || die "MODE=smmu runs one process (PROCS=1)"
	;;
*) die "MODE must be mock or smmu, not '$MODE'" ;;
esac

case $DURATION$THREADS$PROCS${SEED//,/} in
*[!0-9]*) die "DURATION, SEED, THREADS and PROCS must be numbers (SEED: N or N,N,...)" ;;
esac
IFS=, read -ra seeds <<<"$SEED"

[ -x "$TESTDIR/$prog" ] || die "no $TESTDIR/$prog: run 'make selftests'"

# Each seed's run stops at DURATION and then waits up to 300 s for a stuck
# thread and tears down; the guest also boots (up to BOOT_TIMEOUT, 180 s),
# scans for leaks and dumps its log.
export TIMEOUT=${TIMEOUT:-$((${#seeds[@]} * (DURATION + 400) + 600))}
args="--seed $SEED --duration $DURATION --threads $THREADS"
[ "$MODE" = mock ] && args+=" --procs $PROCS"
export KSFT_ARGS="$args${KSFT_ARGS:+ $KSFT_ARGS}"
if [ "$MODE" = mock ]; then
	export RUN_OUT=${RUN_OUT:-$BUILD/run-stress}
else
	export RUN_OUT=${RUN_OUT:-$BUILD/run-stress-smmu}
fi
# Neither mode needs a CMDQV (MODE=smmu drives the vSMMU through the
# SMMU's own queue), and the host-side CMDQV check (cmdqv-host.sh) expects
# SMMU command traffic that only the e2e programs cause: QEMU's plain
# SMMUv3 machine unless MACHINE says otherwise.
export MACHINE=${MACHINE:-smmuv3}
note "stress ($MODE): $KSFT_ARGS (guest timeout ${TIMEOUT}s, logs in $RUN_OUT)"
[ "$MODE" = mock ] && exec "$TOP/harness/run.sh" "$IMAGE" "$TESTDIR" iommufd_stress
# The CANWBS boot runs the end-to-end programs E2E names; the first boot
# runs none and is judged too (its log is console.log, the stress's
# console-canwbs.log).
E2E=$prog exec "$TOP/harness/run.sh" "$IMAGE" "$TESTDIR" canwbs
