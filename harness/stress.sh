#!/usr/bin/env bash
# Boot the test kernel and run the seeded multi-threaded stress of /dev/iommu
# on the iommufd selftest mock (tests/stress/iommufd_stress.c) for DURATION
# seconds, judged like every other run: its KTAP result, and any KASAN,
# lockdep, WARN, hang or kmemleak report in the boot fails it.
#
#   stress.sh IMAGE TESTDIR
#
# DURATION: seconds of stress (default 1800); SEED: the PRNG seed (default:
# the time, printed), or seeds "1,2,3" run one after the other, DURATION
# each; THREADS (default 4); PROCS: processes, each with its own iommufd and
# threads (default 1). KSFT_ARGS are appended to the
# program's arguments (they win). TIMEOUT (boot.sh's, for the whole guest)
# defaults to DURATION plus time to boot, tear down, scan and dump the log.
# RUN_OUT: where the logs go (default build/run-stress); MACHINE (default
# smmuv3, see below).
. "$(dirname "$0")/lib.sh"

IMAGE=${1:?usage: stress.sh IMAGE TESTDIR}
TESTDIR=${2:?usage: stress.sh IMAGE TESTDIR}
DURATION=${DURATION:-1800}
SEED=${SEED:-$(date +%s)}
THREADS=${THREADS:-4}
PROCS=${PROCS:-1}

case $DURATION$THREADS$PROCS${SEED//,/} in
*[!0-9]*) die "DURATION, SEED, THREADS and PROCS must be numbers (SEED: N or N,N,...)" ;;
esac
IFS=, read -ra seeds <<<"$SEED"

[ -x "$TESTDIR/iommufd_stress" ] || die "no $TESTDIR/iommufd_stress: run 'make selftests'"

# Each seed's run stops at DURATION and then waits up to 300 s for a stuck
# thread and tears down; the guest also boots (up to BOOT_TIMEOUT, 180 s),
# scans for leaks and dumps its log.
export TIMEOUT=${TIMEOUT:-$((${#seeds[@]} * (DURATION + 400) + 600))}
export KSFT_ARGS="--seed $SEED --duration $DURATION --threads $THREADS --procs $PROCS${KSFT_ARGS:+ $KSFT_ARGS}"
export RUN_OUT=${RUN_OUT:-$BUILD/run-stress}
# The mock needs no CMDQV, and the host-side CMDQV check (cmdqv-host.sh)
# expects SMMU command traffic that only real devices (the e2e programs)
# cause: QEMU's plain SMMUv3 machine unless MACHINE says otherwise.
export MACHINE=${MACHINE:-smmuv3}
note "stress: $KSFT_ARGS (guest timeout ${TIMEOUT}s, logs in $RUN_OUT)"
exec "$TOP/harness/run.sh" "$IMAGE" "$TESTDIR" iommufd_stress
