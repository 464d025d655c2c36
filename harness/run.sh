#!/usr/bin/env bash
# Boot the built kernel with the built tests and judge the console logs.
# Last line: "N passed, N failed"; exit status non-zero on any failure.
#
#   run.sh IMAGE TESTDIR "TESTS"    e.g. TESTS="kunit iommufd e2e canwbs"
#
# TESTS names what the first boot runs, in order: "kunit" and test programs;
# "e2e" names the end-to-end programs (below). "canwbs" adds a second boot
# whose IORT says the PCI root complex has CANWBS (QEMU's does not): the
# first boot prints QEMU's table, harness/iort-canwbs.sh upgrades it, and the
# second boot, with the table in its initrd, runs the end-to-end programs of
# TESTS again (all of them if TESTS names none). "bypass" adds one more boot
# like it with arm_smmu_v3.bypass_vcmdq=1: the host's own commands go through
# the SMMU's queue, the VMs' VINTFs work as before. "vmm" adds the real-VMM
# stage's boot (harness/vmm.sh: QEMU 11.1 inside the guest). "conformance"
# runs mainline 7.3's own iommufd kselftests (harness/conformance.sh) in the
# first boot, judged against tests/conformance/expected-fail. All logs are
# judged together.
#
# KUNIT_GLOB: run only the KUnit suites matching it (kunit.filter_glob).
# KUNIT_SLOW=1: the KUnit cases marked slow too (figures, for make bench).
# KSFT_ARGS: arguments for every kselftest binary (e.g. "-f iommufd_ioas").
# STRESS_SEED: the seed of the "stress" word's one-minute run (default 1).
# E2E: the end-to-end programs (default below).
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
LOG4=$OUT/console-bypass.log

# The end-to-end programs (tests/e2e/smmu_*.c), in the order they run. Each
# case finds out what its boot offers (IORT CANWBS, a vSMMU, a CMDQV) and
# skips with the reason otherwise, so every boot runs the same programs.
# smmu_viommu first: its probe cases see the devices as an admin would.
# smmu_inv_bench is not a test: only make bench-smmu runs it.
E2E=${E2E:-smmu_viommu smmu_s2 smmu_nested smmu_vevent smmu_msi smmu_bad_input smmu_two_edu cmdqv}

# The test machine (harness/boot.sh): MACHINE=cmdqv, QEMU's SMMUv3 with our
# emulated Tegra241 CMDQV beside it, in our QEMU ('make qemu'), so that every
# boot runs the kernel's CMDQV driver as on Grace; host:cmdqv judges each
# boot's trace. A device-tree boot cannot find a CMDQV (the kernel probes it
# through ACPI only): it gets QEMU's SMMUv3 alone (MACHINE=smmuv3).
[ "$BOOT" = dt ] && MACHINE=${MACHINE:-smmuv3}
export MACHINE=${MACHINE:-cmdqv}
if [ "$MACHINE" = cmdqv ]; then
	export QEMU=${QEMU:-$BUILD/qemu/qemu-system-aarch64}
	[ -x "$QEMU" ] || die "no $QEMU: MACHINE=cmdqv needs our QEMU ('make qemu')"
fi

# Judge a CMDQV machine's boot from the host side too (cmdqv-host.sh)
host_check() {
	[ "$MACHINE" = cmdqv ] || return 0
	"$TOP/harness/cmdqv-host.sh" "$@"
}
host_expect() {
	[ "$MACHINE" = cmdqv ] && echo " host:cmdqv"
	return 0
}

mkdir -p "$OUT"
canwbs=0
bypass=0
vmm=0
plan=$OUT/plan
expect=""
e2e=""
kargs=()
: >"$plan"

# A test program in the first boot's plan; an end-to-end one (smmu_*, cmdqv) is
# kept for the CANWBS boot's too
add_prog() {
	[ -x "$TESTDIR/$1" ] || die "no test program '$1' in $TESTDIR (TESTS=$TESTS)"
	echo "kselftest $1 ${KSFT_ARGS:-}" >>"$plan"
	expect+=" kselftest:$1"
	case $1 in
	smmu_* | cmdqv) e2e+=" $1" ;;
	esac
}

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
	bypass)
		[ "$BOOT" = acpi ] && [ "$MACHINE" = cmdqv ] ||
			die "the bypass boot needs the CMDQV machine (BOOT=acpi MACHINE=cmdqv)"
		bypass=1
		;;
	conformance)
		for m in mainline_iommufd mainline_iommufd_fail_nth; do
			[ -x "$TESTDIR/$m" ] || die "no test program '$m' in $TESTDIR (harness/conformance.sh build $TESTDIR)"
			echo "kselftest $m" >>"$plan"
			expect+=" kselftest:$m"
		done
		;;
	stress)
		# A minute of the seeded stress on the mock, one thread: the
		# kernel sees exactly the seed's sequence (STRESS_SEED, default
		# 1), so a failure here repeats; make stress runs the threaded
		# and long ones.
		[ -x "$TESTDIR/iommufd_stress" ] ||
			die "no test program 'iommufd_stress' in $TESTDIR (TESTS=$TESTS)"
		echo "kselftest iommufd_stress --seed ${STRESS_SEED:-1} --duration 60 --threads 1" >>"$plan"
		expect+=" kselftest:iommufd_stress"
		;;
	vmm)
		[ "$BOOT" = acpi ] ||
			die "the real-VMM stage needs ACPI (QEMU's accelerated vSMMU is ACPI-only); leave 'vmm' out of TESTS with BOOT=$BOOT"
		vmm=1
		;;
	e2e)
		for p in $E2E; do
			add_prog "$p"
		done
		;;
	*)
		add_prog "$t"
		;;
	esac
done
# The KUnit tests built as modules in IMAGE's own build (its modules.order):
# /init loads them after boot (the Tegra241 CMDQV's need failslab set first)
kunit_modules() {
	local kdir m
	kdir=$(dirname "$IMAGE")/../../..
	[ -f "$kdir/modules.order" ] || return 0
	{ grep -E '[-_]test\.o$' "$kdir/modules.order" || true; } | while read -r m; do
		echo "$kdir/${m%.o}.ko"
	done
}

if grep -qx kunit "$plan"; then
	kmods=$(kunit_modules | tr '\n' ' ')
	[ -n "${KUNIT_GLOB:-}" ] && kargs+=("kunit.filter_glob=$KUNIT_GLOB")
	# Cases marked slow give figures, not verdicts (make bench runs them)
	[ "${KUNIT_SLOW:-0}" = 1 ] || kargs+=("kunit.filter=speed>slow")
else
	kargs+=(kunit.enable=0)
fi
expect2=""
if [ $canwbs = 1 ] || [ $bypass = 1 ]; then
	: >"$plan.canwbs"
	for p in ${e2e:-$E2E}; do
		[ -x "$TESTDIR/$p" ] || die "no test program '$p' in $TESTDIR (the canwbs boot runs it)"
		echo "kselftest $p ${KSFT_ARGS:-}" >>"$plan.canwbs"
		expect2+=" kselftest:$p"
	done
fi

KMODS=${kmods:-} "$TOP/harness/initramfs.sh" "$OUT/initramfs.cpio.gz" "$TESTDIR" "$plan"
# A log left by an earlier run must never be judged as this one's, nor a
# table from an earlier run's QEMU be used.
rm -f "$LOG" "$LOG2" "$LOG3" "$LOG4" "$OUT/iort.hex" "$OUT/IORT.aml" "$OUT/initramfs-canwbs.cpio"

show_tail() {
	if ! grep -aq '^@@@ cmdqv-done' "$1"; then
		echo "--- last lines of $1:"
		tail -n 25 "$1"
		echo "---"
	fi
}

"$TOP/harness/boot.sh" "$IMAGE" "$OUT/initramfs.cpio.gz" "$LOG" "${kargs[@]}"
show_tail "$LOG"
# With no end-to-end program in the first boot, nothing made the host send
# SMMU commands after the CMDQV came up (make bench, TESTS=kunit)
if [ -n "$e2e" ]; then
	host_check "$LOG"
else
	host_check "$LOG" quiet
fi
expect+=$(host_expect)
logs=("$LOG")
labels=""

# The CANWBS table for the second (and the bypass) boot, from the first
# boot's; on failure, why, for each log that needed it
canwbs_table() {
	local l
	iort_hex "$LOG" "$OUT/iort.hex"
	if [ ! -s "$OUT/iort.hex" ]; then
		for l; do
			echo "@@@ cmdqv-no-boot the first boot printed no IORT (@@@ cmdqv-iort) to upgrade" >"$l"
		done
		return 1
	elif ! "$TOP/harness/iort-canwbs.sh" "$OUT/iort.hex" "$OUT/IORT.aml" 2>"$OUT/iort-canwbs.err"; then
		for l; do
			echo "@@@ cmdqv-no-boot iort-canwbs.sh: $(tail -n 1 "$OUT/iort-canwbs.err")" >"$l"
		done
		return 1
	fi
	cat "$OUT/iort-canwbs.err" >&2
	"$TOP/harness/initramfs.sh" "$OUT/initramfs-canwbs.cpio" "$TESTDIR" \
		"$plan.canwbs" "$OUT/IORT.aml"
}

table_logs=()
[ $canwbs = 1 ] && table_logs+=("$LOG2")
[ $bypass = 1 ] && table_logs+=("$LOG4")
table=1
[ ${#table_logs[@]} = 0 ] || canwbs_table "${table_logs[@]}" || table=0
if [ $canwbs = 1 ]; then
	logs+=("$LOG2")
	labels+=";canwbs"
	expect+=";${expect2# }$(host_expect)"
	if [ $table = 1 ]; then
		"$TOP/harness/boot.sh" "$IMAGE" "$OUT/initramfs-canwbs.cpio" "$LOG2" kunit.enable=0
		show_tail "$LOG2"
		host_check "$LOG2"
	fi
fi
# The host's commands through the SMMU's own queue, not VINTF0's
if [ $bypass = 1 ]; then
	logs+=("$LOG4")
	labels+=";bypass"
	expect+=";${expect2# } host:cmdqv"
	if [ $table = 1 ]; then
		"$TOP/harness/boot.sh" "$IMAGE" "$OUT/initramfs-canwbs.cpio" "$LOG4" kunit.enable=0 \
			arm_smmu_v3.bypass_vcmdq=1
		show_tail "$LOG4"
		host_check "$LOG4" bypass
	fi
fi
if [ $vmm = 1 ]; then
	logs+=("$LOG3")
	labels+=";vmm"
	expect+=";kselftest:real_vmm.sh"
	# The stage's own CANWBS table comes from a short boot of its machine,
	# unless the first boot was on that machine too (it is, unless
	# VMM_MACHINE names another).
	vmm_machine=${VMM_MACHINE:-$MACHINE}
	[ "$vmm_machine" = cmdqv ] && expect+=" host:cmdqv"
	iort=$OUT/IORT.aml
	[ "$vmm_machine" = "$MACHINE" ] || iort=""
	MACHINE=$vmm_machine IORT=$iort RUN_OUT=$OUT/vmm \
		"$TOP/harness/vmm.sh" boot "$IMAGE" "$LOG3" ||
		echo "@@@ cmdqv-no-boot harness/vmm.sh could not boot the stage (its error is above)" >>"$LOG3"
	show_tail "$LOG3"
fi
note "judging ${logs[*]}"
exec awk -v expect="${expect# }" -v labels="$labels" \
	-v xfail="$TOP/tests/conformance/expected-fail" -f "$TOP/harness/report.awk" "${logs[@]}"
