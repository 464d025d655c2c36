#!/usr/bin/env bash
# The judge is tested too: each tests/harness/NAME.log is a console log whose
# first line is "# expect: SECTIONS…"; report.awk's output and exit status
# must equal NAME.expect. A NAME.boot2 next to it is the log of a second boot
# judged with it ("# expect: …" then "# label: LABEL" as its first lines),
# and a NAME.xfail the expected-failure list of mainline's kselftests.
. "$(dirname "$0")/lib.sh"

bad=0
for log in "$TOP"/tests/harness/*.log; do
	name=$(basename "$log" .log)
	logs=("$log")
	expect=$(sed -n '1s/^# expect: //p' "$log")
	labels=""
	if [ -f "${log%.log}.boot2" ]; then
		logs+=("${log%.log}.boot2")
		expect+=";$(sed -n '1s/^# expect: //p' "${log%.log}.boot2")"
		labels=";$(sed -n '2s/^# label: //p' "${log%.log}.boot2")"
	fi
	xfail=""
	[ -f "${log%.log}.xfail" ] && xfail=${log%.log}.xfail
	got=$({
		awk -v expect="$expect" -v labels="$labels" -v xfail="$xfail" \
			-f "$TOP/harness/report.awk" "${logs[@]}" && rc=0 || rc=$?
		echo "exit $rc"
	})
	if diff -u "${log%.log}.expect" <(echo "$got") >/dev/null; then
		echo "ok   report.awk on $name"
	else
		echo "FAIL report.awk on $name"
		{ diff -u "${log%.log}.expect" <(echo "$got") || true; } | sed 's/^/     /'
		bad=1
	fi
done
[ $bad = 0 ] || die "the console-log judge (harness/report.awk) misjudges a fixture (above)"
