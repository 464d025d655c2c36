#!/usr/bin/env bash
# The judge is tested too: each tests/harness/NAME.log is a console log whose
# first line is "# expect: SECTIONS…"; report.awk's output and exit status
# must equal NAME.expect.
. "$(dirname "$0")/lib.sh"

bad=0
for log in "$TOP"/tests/harness/*.log; do
	name=$(basename "$log" .log)
	expect=$(sed -n '1s/^# expect: //p' "$log")
	got=$({
		awk -v expect="$expect" -f "$TOP/harness/report.awk" "$log" && rc=0 || rc=$?
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
