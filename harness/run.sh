#!/usr/bin/env bash
# Boot the built kernel with the built tests and judge the console log.
# Last line: "N passed, N failed"; exit status non-zero on any failure.
#
#   run.sh IMAGE TESTDIR "TESTS"    e.g. TESTS="kunit iommufd iommufd_fail_nth"
#
# KUNIT_GLOB: run only the KUnit suites matching it (kunit.filter_glob).
# KSFT_ARGS: arguments for every kselftest binary (e.g. "-f iommufd_ioas").
. "$(dirname "$0")/lib.sh"

IMAGE=$(realpath -m "${1:?usage: run.sh IMAGE TESTDIR TESTS}")
TESTDIR=$(realpath -m "${2:?usage: run.sh IMAGE TESTDIR TESTS}")
TESTS=${3:?usage: run.sh IMAGE TESTDIR TESTS}
OUT=$BUILD/run
LOG=$OUT/console.log

mkdir -p "$OUT"
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
	*)
		[ -x "$TESTDIR/$t" ] || die "no test program '$t' in $TESTDIR (TESTS=$TESTS)"
		echo "kselftest $t ${KSFT_ARGS:-}" >>"$plan"
		expect+=" kselftest:$t"
		;;
	esac
done
if grep -qx kunit "$plan"; then
	[ -n "${KUNIT_GLOB:-}" ] && kargs+=("kunit.filter_glob=$KUNIT_GLOB")
else
	kargs+=(kunit.enable=0)
fi

"$TOP/harness/initramfs.sh" "$OUT/initramfs.cpio.gz" "$TESTDIR" "$plan"
# A log left by an earlier run must never be judged as this one's.
rm -f "$LOG"
"$TOP/harness/boot.sh" "$IMAGE" "$OUT/initramfs.cpio.gz" "$LOG" "${kargs[@]}"
if ! grep -aq '^@@@ cmdqv-done' "$LOG"; then
	echo "--- last lines of $LOG:"
	tail -n 25 "$LOG"
	echo "---"
fi
note "judging $LOG"
exec awk -v expect="$expect" -f "$TOP/harness/report.awk" "$LOG"
