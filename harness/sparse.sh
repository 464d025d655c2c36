#!/usr/bin/env bash
# sparse (make C=2) over the directories the series touches, with the test
# config. Prints sparse's warnings; exits non-zero if there are any in files
# the series changed.
. "$(dirname "$0")/lib.sh"

KOUT=${KOUT:-$BUILD/obj-test}
CROSS=$(cross_compile)
need_tools sparse
[ -f "$KOUT/.config" ] || die "no configured kernel in $KOUT; run 'make kernel' first"
files=$(git -C "$TREE" diff --name-only base HEAD -- '*.c')
# Only directories the test config builds (intel/ is not built for arm64).
dirs=$(for f in $files; do
	d=$(dirname "$f")
	if [ -d "$KOUT/$d" ]; then echo "$d"; fi
done | sort -u)
[ -n "$dirs" ] || { note "the series changes no .c file"; exit 0; }
log=$BUILD/logs/sparse.log
# Directory targets leave their parents' modules.order unbuilt, so make may
# fail after the checks: -k, and what matters is that every file was checked.
make -k -C "$TREE" O="$KOUT" ARCH=arm64 CROSS_COMPILE="$CROSS" C=2 \
	-j"$(nproc)" $(for d in $dirs; do echo "$d/"; done) >"$log" 2>&1 || true
for f in $files; do
	d=$(dirname "$f")
	[ -d "$KOUT/$d" ] || continue
	[ -f "$KOUT/${f%.c}.o" ] || continue
	grep -q "CHECK .*/$f\$" "$log" ||
		die "sparse did not check $f (log: $log)"
done
hits=$(grep -E '^[^ ]+\.[ch]:[0-9]+:[0-9]+: (warning|error):' "$log" |
	grep -F -f <(printf '%s\n' $files) || true)
grep -E ': (warning|error):' "$log" || true
[ -z "$hits" ] || die "sparse warnings in files the series changes (above)"
note "sparse: no warnings in the files the series changes"
