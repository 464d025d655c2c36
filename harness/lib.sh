# Shared settings for the harness scripts; sourced, never run.
# shellcheck shell=bash

set -Eeuo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
TREE=${TREE:-$BUILD/linux}
# Downloads and ccache live outside the clone so a fresh clone reuses them.
CACHE=${CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cmdqv-lts}

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

# The pinned base (configs/bases): Debian's linux-source-6.12 of one release,
# BASE=bookworm (Debian 12) or BASE=trixie (Debian 13). Both are at upstream
# 6.12.118 (2026-12-02); the default stays Debian 12's, whose tree and
# objects the harness machine (Debian 12) already holds. The bookworm pin
# moved from 6.12.117-1~deb12u1 on 2026-12-02, when the archive's index no
# longer had that version's arm64 linux-config-6.12.
DEFAULT_BASE=bookworm
BASE=${BASE:-$DEFAULT_BASE}
BASES=$TOP/configs/bases
BASE_PKG=linux-source-6.12
CONFIG_PKG=linux-config-6.12
base_pin=$(awk -v b="$BASE" '!/^#/ && $1 == b' "$BASES")
[ -n "$base_pin" ] ||
	die "unknown base '$BASE': configs/bases pins $(awk '!/^#/ && NF { printf "%s ", $1 }' "$BASES")"
read -r _ BASE_RELEASE BASE_SUITE BASE_VERSION BASE_SHA256 CONFIG_SHA256 <<<"$base_pin"
BASE_DEB=$CACHE/debs/${BASE_PKG}_${BASE_VERSION}_all.deb
CONFIG_DEB=$CACHE/debs/${CONFIG_PKG}_${BASE_VERSION}_arm64.deb

# ccache for the kernel and QEMU builds, in $CACHE/ccache; $1 is the
# directory its paths are made relative to, $2 the default size limit.
# Depend mode: on a miss, hash the dependency list the compiler writes anyway
# (-MMD) instead of running the preprocessor a second time. On the cold
# Debian package build the second preprocessor run was a fifth of all the
# CPU time (docs/figures.md, "Grace host packages"); hits are unchanged.
# CCACHE_NODEPEND=1 turns it off.
setup_ccache() {
	export CCACHE_DIR=${CCACHE_DIR:-$CACHE/ccache}
	export CCACHE_BASEDIR=$1 CCACHE_NOHASHDIR=true CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-$2}
	[ -n "${CCACHE_NODEPEND+set}" ] || export CCACHE_DEPEND=true
	mkdir -p "$CCACHE_DIR"
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

# CHECKERS=0 (make bench-smmu): kernels without the test configuration's
# checkers, whose cost in a call is mostly the base kernel's lockdep and
# KASAN, not the code measured. Their objects go beside the others.
checkers_suffix() {
	case ${CHECKERS:-1} in
	1) ;;
	0) echo -nochk ;;
	*) die "CHECKERS must be 0 or 1, not '$CHECKERS'" ;;
	esac
}

# A config fragment without its checkers (the options that only find bugs)
without_checkers() {
	grep -vE '^(# )?CONFIG_(KASAN|UBSAN|PROVE_LOCKING|DEBUG_ATOMIC_SLEEP|DEBUG_KMEMLEAK)[_A-Z0-9]*[= ]' "$1"
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

# apt for one suite of Debian's archive ($1), with lists and settings of its
# own in the cache; the system's apt settings stay as they are. apt checks
# what it fetches against the archive's signed index.
apt_suite() {
	local suite=$1 tool=$2 dir=$CACHE/apt/$1 mirror=http://deb.debian.org/debian
	shift 2
	case $suite in
	*-security) mirror=http://deb.debian.org/debian-security ;;
	esac
	mkdir -p "$dir/lists/partial"
	echo "deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" \
		>"$dir/sources.list"
	"$tool" -o Dir::Etc::SourceList="$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State::Lists="$dir/lists" -o APT::Architectures::=amd64 \
		-o APT::Architectures::=arm64 -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= "$@"
}

# Like fetch_pinned_deb, from suite $1 through apt_suite: the base's
# packages, whichever release they belong to.
fetch_suite_deb() {
	local suite=$1 spec=$2 deb=$3 sha=$4 log=$CACHE/debs/apt-$1.log
	mkdir -p "$(dirname "$deb")"
	if [ ! -f "$deb" ]; then
		note "downloading $spec ($suite)"
		apt_suite "$suite" apt-get update >"$log" 2>&1 ||
			die "apt-get update for $suite failed (see $log); check the network, then retry"
		(cd "$(dirname "$deb")" && apt_suite "$suite" apt-get download "$spec" >>"$log" 2>&1) ||
			die "$suite has no $spec (see $log): Debian may have removed it; 'make base-check' says what it has"
	fi
	if ! echo "$sha  $deb" | sha256sum --quiet -c - >/dev/null 2>&1; then
		mv -f "$deb" "$deb.bad"
		die "checksum mismatch for $(basename "$deb") (moved to .bad); expected sha256 $sha (configs/bases): check the mirror, then retry"
	fi
}
