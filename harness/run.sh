#!/usr/bin/env bash
# Boot the built kernel with the built tests and judge the console logs.
# Last line: "N passed, N failed"; exit status non-zero on any failure.
#
#   run.sh IMAGE TESTDIR "TESTS"    e.g. TESTS="kunit iommufd smmu_nested canwbs"
#
# TESTS names what the first boot runs, in order: "kunit" and test programs.
# "canwbs" adds a second boot whose IORT says the PCI root complex has CANWBS
# (QEMU's does not): the first boot prints QEMU's table, harness/iort-canwbs.sh
# upgrades it, and the second boot, with the table in its initrd, runs
# smmu_nested only. "vmm" adds the real-VMM stage's boot (harness/vmm.sh:
# QEMU 11.1 inside the guest). "conformance" runs mainline 7.3's own iommufd
# kselftests (harness/conformance.sh) in the first boot, judged against
# tests/conformance/expected-fail. All logs are judged together.
#
# KUNIT_GLOB: run only the KUnit suites matching it (kunit.filter_glob).
# KSFT_ARGS: arguments for every kselftest binary (e.g. "-f iommufd_ioas");
# for smmu_nested they replace its selection below.
# RUN_OUT: where the logs go (default build/run).
. "$(dirname "$0")/lib.sh"

IMAGE=$(realpath -m "${1:?usage: run.sh IMAGE TESTDIR TESTS}")
TESTDIR=$(realpath -m "${2:?usage: run.sh IMAGE TESTDIR TESTS}")
TESTS=${3:?usage: run.sh IMAGE TESTDIR TESTS}
BOOT=${BOOT:-acpi}
OUT=${RUN_OUT:-$BUILD/run}
LOG=$OUT/console.log
LOG2=$OUT/console-canwbs.log
LOG3=$OUT/console-vmm.log

# What smmu_nested runs in each boot (kselftest filters): QEMU's own IORT
# must refuse a vSMMU (no CANWBS); the upgraded one allows it, and the nested
# cases run there (see the top of tests/e2e/smmu_nested.c). Fixture
# smmu_inv_bench is never selected here: only make bench-smmu runs it.
E2E_QEMU="-f edu_s2 -r iort.qemu.memory_flags -f smmu_hw_info -r smmu_viommu.qemu.alloc"
E2E_CANWBS="-f edu_s2 -r iort.canwbs.memory_flags -f smmu_hw_info -r smmu_viommu.canwbs.alloc -f smmu_nested"
# Tegra241 CMDQV types, which QEMU's SMMU refuses, with and without CANWBS;
# and the host probe, which runs first (the order is the file's)
for v in qemu canwbs; do
	r="-r smmu_viommu.$v.cmdqv_type_refused -r smmu_viommu.$v.cmdqv_hw_queue_refused"
	r+=" -r probe.$v.report -r probe.$v.bad_input"
	if [ $v = qemu ]; then E2E_QEMU+=" $r"; else E2E_CANWBS+=" $r"; fi
done
# vEVENTQ, MSI behind a nested domain, bad input, a second device (one line)
E2E_CANWBS+=" -f smmu_vevent -f smmu_msi -f smmu_bad_input -f smmu_two_edu"
# A device-tree boot has no IORT to check.
[ "$BOOT" = dt ] && E2E_QEMU="-f edu_s2"

mkdir -p "$OUT"
canwbs=0
vmm=0
plan=$OUT/plan
expect=""
kargs=()
: >"$plan"
for t in $TESTS; do
	case $t in
	kunit)
		echo kunit >>"$plan"
		expect+=" kunit"
		;;
	canwbs)
		[ "$BOOT" = acpi ] ||
			die "the canwbs boot needs ACPI (an IORT); leave 'canwbs' out of TESTS with BOOT=$BOOT"
		canwbs=1
		;;
	conformance)
		for m in mainline_iommufd mainline_iommufd_fail_nth; do
			[ -x "$TESTDIR/$m" ] || die "no test program '$m' in $TESTDIR (harness/conformance.sh build $TESTDIR)"
			echo "kselftest $m" >>"$plan"
			expect+=" kselftest:$m"
		done
		;;
	vmm)
		[ "$BOOT" = acpi ] ||
			die "the real-VMM stage needs ACPI (QEMU's accelerated vSMMU is ACPI-only); leave 'vmm' out of TESTS with BOOT=$BOOT"
		vmm=1
		;;
	*)
		[ -x "$TESTDIR/$t" ] || die "no test program '$t' in $TESTDIR (TESTS=$TESTS)"
		args=${KSFT_ARGS:-}
		[ "$t" = smmu_nested ] && args=${KSFT_ARGS:-$E2E_QEMU}
		echo "kselftest $t $args" >>"$plan"
		expect+=" kselftest:$t"
		;;
	esac
done
if grep -qx kunit "$plan"; then
	[ -n "${KUNIT_GLOB:-}" ] && kargs+=("kunit.filter_glob=$KUNIT_GLOB")
else
	kargs+=(kunit.enable=0)
fi
if [ $canwbs = 1 ]; then
	[ -x "$TESTDIR/smmu_nested" ] || die "no test program 'smmu_nested' in $TESTDIR (the canwbs boot runs it)"
	echo "kselftest smmu_nested ${KSFT_ARGS:-$E2E_CANWBS}" >"$plan.canwbs"
fi

"$TOP/harness/initramfs.sh" "$OUT/initramfs.cpio.gz" "$TESTDIR" "$plan"
# A log left by an earlier run must never be judged as this one's, nor a
# table from an earlier run's QEMU be used.
rm -f "$LOG" "$LOG2" "$LOG3" "$OUT/iort.hex" "$OUT/IORT.aml" "$OUT/initramfs-canwbs.cpio"

show_tail() {
	if ! grep -aq '^@@@ cmdqv-done' "$1"; then
		echo "--- last lines of $1:"
		tail -n 25 "$1"
		echo "---"
	fi
}

"$TOP/harness/boot.sh" "$IMAGE" "$OUT/initramfs.cpio.gz" "$LOG" "${kargs[@]}"
show_tail "$LOG"
logs=("$LOG")
labels=""

if [ $canwbs = 1 ]; then
	logs+=("$LOG2")
	labels=";canwbs"
	expect+=";kselftest:smmu_nested"
	iort_hex "$LOG" "$OUT/iort.hex"
	if [ ! -s "$OUT/iort.hex" ]; then
		echo "@@@ cmdqv-no-boot the first boot printed no IORT (@@@ cmdqv-iort) to upgrade" >"$LOG2"
	elif ! "$TOP/harness/iort-canwbs.sh" "$OUT/iort.hex" "$OUT/IORT.aml" 2>"$OUT/iort-canwbs.err"; then
		echo "@@@ cmdqv-no-boot iort-canwbs.sh: $(tail -n 1 "$OUT/iort-canwbs.err")" >"$LOG2"
	else
		cat "$OUT/iort-canwbs.err" >&2
		"$TOP/harness/initramfs.sh" "$OUT/initramfs-canwbs.cpio" "$TESTDIR" \
			"$plan.canwbs" "$OUT/IORT.aml"
		"$TOP/harness/boot.sh" "$IMAGE" "$OUT/initramfs-canwbs.cpio" "$LOG2" kunit.enable=0
		show_tail "$LOG2"
	fi
fi
if [ $vmm = 1 ]; then
	logs+=("$LOG3")
	labels+=";vmm"
	expect+=";kselftest:real_vmm.sh"
	IORT=$OUT/IORT.aml RUN_OUT=$OUT/vmm "$TOP/harness/vmm.sh" boot "$IMAGE" "$LOG3" ||
		echo "@@@ cmdqv-no-boot harness/vmm.sh could not boot the stage (its error is above)" >>"$LOG3"
	show_tail "$LOG3"
fi
note "judging ${logs[*]}"
exec awk -v expect="${expect# }" -v labels="$labels" \
	-v xfail="$TOP/tests/conformance/expected-fail" -f "$TOP/harness/report.awk" "${logs[@]}"
