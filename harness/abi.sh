#!/usr/bin/env bash
# The series must neither change nor invent uAPI: every struct and constant
# that include/uapi/linux/iommufd.h defines must be ABI-identical to the same
# item in mainline, here Debian's linux-source-7.3 (upstream 7.3.4). Structs
# are compared as pahole prints their arm64 DWARF layout (members, types,
# offsets, sizes, holes); constants (enumerators and object-like macros, ioctl
# numbers included) by the value the compiler computes for them.
#
#   abi.sh [HEADER]   check HEADER instead of the work tree's iommufd.h
#   abi.sh --deb      fetch and check the package only; print the .deb's path
. "$(dirname "$0")/lib.sh"

UAPI=include/uapi/linux/iommufd.h
REF_PKG=linux-source-7.3
REF_VERSION=7.3.4-1~bpo13+1
REF_UPSTREAM=${REF_VERSION%%-*}
REF_SHA256=703e369ddd4cce971452f5a593ee55df3a5c10c83caf0fa0df039633ed181ee3
REF_DEB=$CACHE/debs/${REF_PKG}_${REF_VERSION}_all.deb
REF_HDR=$CACHE/ref/$REF_UPSTREAM/iommufd.h
# trixie-backports comes through apt settings of our own; the system's stay as they are.
APT_REF=$CACHE/apt-ref
INC=$BUILD/obj-test/usr/include
CROSS=$(cross_compile)

apt_ref() {
	apt-get -o Dir::Etc::SourceList="$APT_REF/sources.list" -o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State::Lists="$APT_REF/lists" -o APT::Architectures::=amd64 \
		-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= "$@"
}

fetch_deb() {
	local log=$CACHE/debs/apt-ref.log
	mkdir -p "$APT_REF/lists/partial" "$CACHE/debs"
	if [ ! -f "$REF_DEB" ]; then
		note "downloading $REF_PKG=$REF_VERSION from trixie-backports"
		echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie-backports main" >"$APT_REF/sources.list"
		compgen -G "$APT_REF/lists/*_Packages*" >/dev/null ||
			apt_ref update >"$log" 2>&1 ||
			die "apt-get update for trixie-backports failed (see $log); check the network, then retry"
		if ! (cd "$CACHE/debs" && apt_ref download "$REF_PKG=$REF_VERSION" >"$log" 2>&1); then
			fetch_newer_deb "$log"
			return
		fi
	fi
	if ! echo "$REF_SHA256  $REF_DEB" | sha256sum --quiet -c - >/dev/null 2>&1; then
		mv -f "$REF_DEB" "$REF_DEB.bad"
		die "checksum mismatch for $(basename "$REF_DEB") (moved to .bad); expected sha256 $REF_SHA256: check the apt mirror, then retry"
	fi
}

# Backports keep only their newest build, so the pinned one can disappear.
# A newer 7.3.y has the same uAPI (stable releases do not change it); apt
# has checked it against the signed archive, and the output names it.
fetch_newer_deb() {
	local log=$1 deb
	note "$REF_PKG=$REF_VERSION is gone from trixie-backports; trying its current $REF_PKG"
	apt_ref update >>"$log" 2>&1 || true
	(cd "$CACHE/debs" && apt_ref download "$REF_PKG" >>"$log" 2>&1) ||
		die "apt-get download $REF_PKG failed (see $log); check the network, then retry"
	deb=$(ls -t "$CACHE/debs/${REF_PKG}"_*_all.deb | head -n1)
	REF_VERSION=$(dpkg-deb -f "$deb" Version)
	REF_UPSTREAM=${REF_VERSION%%-*}
	REF_DEB=$deb
	REF_HDR=$CACHE/ref/$REF_UPSTREAM/iommufd.h
}

# Only the one header is kept: later runs need neither the .deb nor its xz.
fetch_ref() {
	local newest
	[ -f "$REF_HDR" ] && return
	newest=$(ls -d "$CACHE"/ref/7.3.*/iommufd.h 2>/dev/null | sort -V | tail -n1 || true)
	if [ -n "$newest" ]; then
		REF_HDR=$newest
		REF_UPSTREAM=$(basename "$(dirname "$newest")")
		return
	fi
	fetch_deb
	note "extracting $UAPI from $(basename "$REF_DEB")"
	mkdir -p "$(dirname "$REF_HDR")"
	if ! dpkg-deb --fsys-tarfile "$REF_DEB" | tar -xO "./usr/src/$REF_PKG.tar.xz" |
		tar -xJO "$REF_PKG/$UAPI" >"$REF_HDR.tmp" || [ ! -s "$REF_HDR.tmp" ]; then
		die "could not extract $REF_PKG/$UAPI from $REF_DEB (disk full?); free space or delete the .deb, then retry"
	fi
	# Renamed only when whole, so an interrupted run leaves nothing to trust.
	mv -f "$REF_HDR.tmp" "$REF_HDR"
}

# Top-level struct definitions.
structs() {
	sed -n 's/^struct \([A-Za-z0-9_]*\) {.*/\1/p' "$1" | sort -u
}

# Enumerators, and object-like macros other than the include guard.
constants() {
	awk '
	/^#ifndef/ && guard == "" { guard = $2 }
	/^enum[^;]*\{/ { inenum = 1; next }
	inenum && /^\}/ { inenum = 0; next }
	inenum && match($0, /^[ \t]*[A-Za-z_][A-Za-z0-9_]*[ \t]*(=|,|$)/) {
		name = substr($0, RSTART, RLENGTH)
		gsub(/[ \t=,]/, "", name)
		print name
	}
	/^#define[ \t]+[A-Za-z_][A-Za-z0-9_]*([ \t]|$)/ && $2 != guard { print $2 }
	' "$1" | sort -u
}

# In $1, whose linux/iommufd.h is a copy of $2: one pahole layout per struct
# as arm64 lays it out, from one variable of each type in the DWARF.
layouts() {
	local s
	{
		echo '#include <linux/iommufd.h>'
		sed 's/.*/struct & v_&;/' "$tmp/structs.both"
	} >"$1/s.c"
	"${CROSS}gcc" -g -c -I "$1" -I "$INC" -o "$1/s.o" "$1/s.c" ||
		die "the structs above do not compile with $2 and the headers in $INC; fix the header"
	while read -r s; do
		pahole -C "$s" "$1/s.o" >"$1/struct.$s"
		[ -s "$1/struct.$s" ] || die "pahole printed nothing for struct $s in $1/s.o; check that pahole reads ${CROSS}gcc's DWARF"
	done <"$tmp/structs.both"
}

# In $1 (as above): "NAME value" per constant, computed by the host compiler.
values() {
	{
		printf '#include <stdio.h>\n#include <linux/iommufd.h>\nint main(void)\n{\n'
		sed 's/.*/\tprintf("%s %#llx\\n", "&", (unsigned long long)(&));/' "$tmp/constants.both"
		printf '\treturn 0;\n}\n'
	} >"$1/v.c"
	gcc -o "$1/v" -I "$1" -I "$INC" "$1/v.c" ||
		die "the constants above do not compile with $2 and the headers in $INC; fix the header"
	"$1/v" >"$1/values"
}

# harness/mainline.sh builds this package's kernel: only fetch and check
# the .deb, and print its path.
if [ "${1:-}" = --deb ]; then
	need_tools apt-get dpkg-deb sha256sum
	fetch_deb
	echo "$REF_DEB"
	exit 0
fi

HDR=${1:-$TREE/$UAPI}
[ -f "$HDR" ] || die "no header at $HDR; run 'make tree' first (or name an existing header)"
[ -d "$INC/linux" ] || die "no installed uAPI headers at $INC; run 'make kernel' first"
need_tools gcc "${CROSS}gcc" pahole apt-get dpkg-deb xz sha256sum
fetch_ref

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/ours/linux" "$tmp/ref/linux"
cp "$HDR" "$tmp/ours/linux/iommufd.h"
cp "$REF_HDR" "$tmp/ref/linux/iommufd.h"
for kind in structs constants; do
	for side in ours ref; do
		$kind "$tmp/$side/linux/iommufd.h" >"$tmp/$kind.$side"
	done
	comm -12 "$tmp/$kind.ours" "$tmp/$kind.ref" >"$tmp/$kind.both"
	# We must not invent uAPI: what mainline lacks is an error.
	comm -23 "$tmp/$kind.ours" "$tmp/$kind.ref" >"$tmp/$kind.new"
	sed "s/^/FAIL not in mainline $REF_UPSTREAM: ${kind%s} /" "$tmp/$kind.new"
done
layouts "$tmp/ours" "$HDR"
values "$tmp/ours" "$HDR"
layouts "$tmp/ref" "$REF_HDR"
values "$tmp/ref" "$REF_HDR"

s_new=$(wc -l <"$tmp/structs.new")
c_new=$(wc -l <"$tmp/constants.new")
s_same=0 s_diff=0
while read -r s; do
	if diff -u --label "mainline $REF_UPSTREAM: struct $s" --label "ours: struct $s" \
		"$tmp/ref/struct.$s" "$tmp/ours/struct.$s" >"$tmp/diff"; then
		s_same=$((s_same + 1))
	else
		echo "FAIL struct $s differs from mainline $REF_UPSTREAM:"
		sed 's/^/     /' "$tmp/diff"
		s_diff=$((s_diff + 1))
	fi
done <"$tmp/structs.both"
# Both programs print the same names in the same order.
paste -d' ' "$tmp/ref/values" "$tmp/ours/values" | awk -v ref="$REF_UPSTREAM" '
	$2 != $4 { printf "FAIL constant %s: mainline %s has %s, ours %s\n", $1, ref, $2, $4 }' |
	tee "$tmp/cdiff"
c_diff=$(wc -l <"$tmp/cdiff")
c_same=$(($(wc -l <"$tmp/constants.both") - c_diff))

echo "abi: $s_same structs identical to mainline $REF_UPSTREAM, $s_diff differ, $s_new not in mainline;" \
	"$c_same constants identical, $c_diff differ, $c_new not in mainline;" \
	"mainline has $(comm -13 "$tmp/structs.ours" "$tmp/structs.ref" | wc -l) structs" \
	"and $(comm -13 "$tmp/constants.ours" "$tmp/constants.ref" | wc -l) constants we do not have yet"
[ $((s_diff + s_new + c_diff + c_new)) = 0 ] ||
	die "${1:-$UAPI} is not mainline $REF_UPSTREAM's uAPI (above); make the header match mainline (the cached reference is $REF_HDR)"
