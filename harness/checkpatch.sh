#!/usr/bin/env bash
# checkpatch.pl --strict (the base tree's own copy) on every patch of the
# series; exits non-zero if any patch has an error, warning or check.
. "$(dirname "$0")/lib.sh"

[ -x "$TREE/scripts/checkpatch.pl" ] || die "no work tree at $TREE; run 'make tree' first"
bad=0
for p in $(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$TOP/patches/series"); do
	if out=$(perl "$TREE/scripts/checkpatch.pl" --strict --no-tree -q "$TOP/patches/$p" 2>&1); then
		echo "ok   $p"
	else
		echo "FAIL $p"
		echo "$out" | sed 's/^/     /'
		bad=1
	fi
done
[ $bad = 0 ] || die "checkpatch --strict is not clean (above); fix in build/linux, then 'make export'"
