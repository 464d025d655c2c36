#!/usr/bin/env bash
# Does the series still apply on Debian's newest 6.12? For each base pinned
# in configs/bases (or the ones named), ask its suite for the newest
# linux-source-6.12 and compare it with the pin. A newer one (or, with
# ALWAYS=1, the pinned one) is unpacked into build/base-check/NAME and the
# series applied patch by patch, each reported as applying cleanly, with an
# offset, with fuzz, or not at all. FULL=1 then builds the test kernel and
# the tests on it and runs make check's boots (harness/run.sh). The pins are
# never changed: moving one is an edit of configs/bases.
#
#   base-check.sh [NAME…]           e.g. base-check.sh trixie
#
# Last line: "N up to date, N newer (applies), N newer (does not apply)".
. "$(dirname "$0")/lib.sh"

OUT=$BUILD/base-check
SERIES=$TOP/patches/series
need_tools apt-get apt-cache dpkg-deb patch

# The newest version of package $2 that suite $1 has (empty if none)
newest_in_suite() {
	local suite=$1 pkg=$2 v best=""
	for v in $(apt_suite "$suite" apt-cache show "$pkg" 2>/dev/null | sed -n 's/^Version: //p'); do
		if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then
			best=$v
		fi
	done
	echo "$best"
}

# The series on tree $1, patch by patch, one line each; fails if any patch
# does not apply
apply_report() {
	local dir=$1 p out bad=0 how
	for p in $(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$SERIES"); do
		if ! out=$(patch -d "$dir" -p1 -N --no-backup-if-mismatch -r - <"$TOP/patches/$p" 2>&1); then
			echo "  FAILS   $p"
			grep -E 'FAILED|malformed|Reversed|can.t find' <<<"$out" | sed -n '1,6s/^/            /p'
			bad=1
			continue
		fi
		# patch says how each hunk that was not exact went in
		how=clean
		if grep -q 'with fuzz' <<<"$out"; then
			how=fuzz
		elif grep -q '(offset' <<<"$out"; then
			how=offset
		fi
		printf '  %-7s %s\n' "$how" "$p"
	done
	return $bad
}

# Unpack linux-source-6.12 version $2 of suite $1 (checked by apt against
# the signed index) into $3, as a git tree with 'base' tagged
unpack() {
	local suite=$1 version=$2 dir=$3 deb
	deb=$CACHE/debs/${BASE_PKG}_${version}_all.deb
	if [ ! -f "$deb" ]; then
		note "downloading $BASE_PKG=$version ($suite)"
		(cd "$CACHE/debs" && apt_suite "$suite" apt-get download "$BASE_PKG=$version" \
			>"$OUT/apt.log" 2>&1) || die "cannot download $BASE_PKG=$version (log: $OUT/apt.log)"
	fi
	note "sha256 of $(basename "$deb"): $(sha256sum "$deb" | cut -d' ' -f1) (the line for configs/bases)"
	rm -rf "$dir" && mkdir -p "$dir"
	dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/src/$BASE_PKG.tar.xz" |
		tar -xJ -C "$dir" --strip-components=1
}

# make check's boots on tree $1 (the series applied), objects beside it
full_check() {
	local dir=$1 name=$2
	note "$name: building the test kernel and tests on $dir"
	git -C "$dir" init -q && git -C "$dir" add -A -f . &&
		git -C "$dir" -c user.name="$AUTHOR_NAME" -c user.email="$AUTHOR_EMAIL" commit -q -m check
	echo "base check $name" >"$dir/.git/cmdqv-tree"
	TREE=$dir KOUT=$OUT/$name-obj KLOG=$OUT/$name-kernel.log "$TOP/harness/kernel.sh" &&
		TREE=$dir KOUT=$OUT/$name-obj "$TOP/harness/selftests.sh" "$OUT/$name-tests" &&
		TREE=$dir RUN_OUT=$OUT/$name-run "$TOP/harness/run.sh" \
			"$OUT/$name-obj/arch/arm64/boot/Image" "$OUT/$name-tests" \
			"kunit iommufd iommufd_fail_nth e2e canwbs"
}

mkdir -p "$OUT" "$CACHE/debs"
names=("$@")
[ ${#names[@]} -gt 0 ] || mapfile -t names < <(awk '!/^#/ && NF { print $1 }' "$BASES")
current=0
applies=0
breaks=0
for name in "${names[@]}"; do
	pin=$(awk -v b="$name" '!/^#/ && $1 == b' "$BASES")
	[ -n "$pin" ] || die "unknown base '$name': configs/bases pins $(awk '!/^#/ && NF { printf "%s ", $1 }' "$BASES")"
	read -r _ release suite pinned _ <<<"$pin"
	apt_suite "$suite" apt-get update >"$OUT/apt-$suite.log" 2>&1 ||
		die "apt-get update for $suite failed (log: $OUT/apt-$suite.log)"
	newest=$(newest_in_suite "$suite" "$BASE_PKG")
	[ -n "$newest" ] || die "$suite (Debian $release) has no $BASE_PKG"
	config=$(newest_in_suite "$suite" "$CONFIG_PKG:arm64")
	if [ "$newest" = "$pinned" ]; then
		echo "$name (Debian $release, $suite): $BASE_PKG $newest is the pinned one"
		current=$((current + 1))
		[ "${ALWAYS:-0}" = 1 ] || continue
	else
		echo "$name (Debian $release, $suite): $BASE_PKG $newest is newer than the pinned $pinned" \
			"(arm64 $CONFIG_PKG: ${config:-none})"
	fi
	dir=$OUT/$name
	unpack "$suite" "$newest" "$dir"
	if apply_report "$dir"; then
		[ "$newest" = "$pinned" ] || applies=$((applies + 1))
		[ "${FULL:-0}" = 1 ] && full_check "$dir" "$name"
	else
		breaks=$((breaks + 1))
	fi
done
echo "$current up to date, $applies newer (applies), $breaks newer (does not apply)"
[ $breaks = 0 ]
