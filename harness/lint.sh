#!/usr/bin/env bash
# Static checks, before anything boots:
#  - the console-log judge on its fixtures (tests/harness);
#  - the uAPI header against mainline's (abi.sh: layouts and numbers);
#  - checkpatch.pl --strict on every patch;
#  - kernel-doc on every uAPI header the series touches (every item documented).
. "$(dirname "$0")/lib.sh"

"$TOP/harness/test-report.sh"
"$TOP/harness/checkpatch.sh"

[ -f "$TREE/.git/cmdqv-tree" ] || die "no work tree at $TREE; run 'make tree' first"
# kernel-doc warnings without file and line, so base and series compare.
kdoc_warnings() {
	perl "$TREE/scripts/kernel-doc" -none -Wall "$1" 2>&1 |
		sed -E 's/^[^:]+:[0-9]+: //' | sort -u
}

bad=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for h in $(git -C "$TREE" diff --name-only base HEAD -- 'include/uapi/*.h'); do
	git -C "$TREE" show "base:$h" >"$tmp/base.h" 2>/dev/null || : >"$tmp/base.h"
	# Only what the series adds counts; 6.12 has a few of its own.
	new=$(comm -13 <(kdoc_warnings "$tmp/base.h") <(kdoc_warnings "$TREE/$h"))
	if [ -n "$new" ]; then
		echo "FAIL kernel-doc $h"
		echo "$new" | sed 's/^/     /'
		bad=1
	else
		echo "ok   kernel-doc $h"
	fi
done
[ $bad = 0 ] || die "the series adds kernel-doc warnings to its uAPI headers (above)"

"$TOP/harness/abi.sh"

# The real-VMM stage's test driver is kernel code too
if "$TREE/scripts/checkpatch.pl" --strict --no-tree --quiet -f "$TOP/tests/vmm/edu_dma.c" >"$tmp/edu.log" 2>&1; then
	echo "ok   checkpatch tests/vmm/edu_dma.c"
else
	cat "$tmp/edu.log"
	die "checkpatch --strict: tests/vmm/edu_dma.c (above)"
fi
