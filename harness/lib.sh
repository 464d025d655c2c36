# Shared settings for the harness scripts; sourced, never run.
# shellcheck shell=bash

set -Eeuo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
TREE=${TREE:-$BUILD/linux}
# Downloads and ccache live outside the clone so a fresh clone reuses them.
CACHE=${CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cmdqv-lts}

# The pinned base: Debian's linux-source-6.12 (upstream 6.12.118), the
# newest in bookworm-security. Moved from 6.12.117-1~deb12u1 on 2026-12-02,
# when the archive's index no longer had that version's arm64
# linux-config-6.12 (make package-config could not fetch it).
BASE_PKG=linux-source-6.12
BASE_VERSION=6.12.118-1~deb12u1
BASE_SHA256=896aff3b39299fa0dd36fef4f5db56ab189182e39abbbb1227dafdc7fcfe3fc3
BASE_DEB=$CACHE/debs/${BASE_PKG}_${BASE_VERSION}_all.deb

AUTHOR_NAME=cmdqv-lts
AUTHOR_EMAIL=cmdqv-lts@users.noreply.invalid

# One line naming the problem and the next step, then stop.
die() {
	echo "error: $*" >&2
	exit 1
}

note() {
	echo ">> $*" >&2
}

# The firmware's IORT, as harness/init printed it on console log $1, into
# $2 as hex (empty if the boot printed none); iort-canwbs.sh reads it
iort_hex() {
	{ grep -a -m1 '^@@@ cmdqv-iort ' "$1" || true; } | tr -d '\r' |
		sed 's/^@@@ cmdqv-iort //' >"$2"
}

# Objects in $1 built from another base than the one tree $2 now holds
# (stamp $3) are thrown away: make cannot tell by itself, since a base's
# tarball keeps its files' dates, which are older than the objects built
# from the base before (6.12.117 objects were kept beside 6.12.118 headers,
# and KASAN caught the mismatch). ccache keeps the rebuild cheap.
objects_for_base() {
	local out=$1 stamp=$3 id
	mkdir -p "$out"
	[ -f "$stamp" ] || return 0
	id=$(sed -n 's/^base //p' "$stamp")
	[ -n "$id" ] || id=$(head -n 1 "$stamp")
	if [ -e "$out/.config" ] && [ "$(cat "$out/.cmdqv-base" 2>/dev/null)" != "$id" ]; then
		note "$out was built from another base than $2's ($id): building it afresh"
		rm -rf "$out"
	fi
	mkdir -p "$out"
	echo "$id" >"$out/.cmdqv-base"
}

# The compiler prefix for arm64 on this host: cross on x86_64, native on arm64.
cross_compile() {
	case $(uname -m) in
	aarch64) echo "" ;;
	*) echo aarch64-linux-gnu- ;;
	esac
}

need_tools() {
	local t missing=()
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || missing+=("$t")
	done
	[ ${#missing[@]} -eq 0 ] ||
		die "missing tools: ${missing[*]}; run 'make deps' (as root) first"
}

# A command that fails unexpectedly still ends with one line saying where.
trap 'echo "error: $(basename "$0"): \"$BASH_COMMAND\" failed (line $LINENO)" >&2' ERR

# Download Debian package SPEC (name[:arch]=version) as DEB once, into the
# cache, and check it against its pinned SHA-256; a mismatch moves it aside.
fetch_pinned_deb() {
	local spec=$1 deb=$2 sha=$3
	mkdir -p "$(dirname "$deb")"
	if [ ! -f "$deb" ]; then
		note "downloading $spec"
		(cd "$(dirname "$deb")" &&
			apt-get download "$spec" >/dev/null 2>apt-download.log) ||
			die "apt-get download $spec failed (see $(dirname "$deb")/apt-download.log); run 'make deps' to set up apt (and arm64), then retry"
	fi
	if ! echo "$sha  $deb" | sha256sum --quiet -c - >/dev/null 2>&1; then
		mv -f "$deb" "$deb.bad"
		die "checksum mismatch for $(basename "$deb") (moved to .bad); expected sha256 $sha: check the apt mirror, then retry"
	fi
}
