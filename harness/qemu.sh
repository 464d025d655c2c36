#!/usr/bin/env bash
# Build our own qemu-system-aarch64: upstream QEMU at a pinned commit with
# qemu/patches/series applied, only the aarch64 system emulator and only the
# devices of configs/qemu/cmdqv-test.mak. The result is kept in the cache,
# $CACHE/qemu/<key>/, under a key over everything that goes into it; a run
# whose key is there already builds nothing.
#
#   qemu.sh        prints the path the harness uses on stdout:
#                  build/qemu/qemu-system-aarch64, a link to the cached binary
#
# QEMU_SRC_DIR: the pinned tarballs (default ../shared/qemu beside the clone).
# Without that directory, a git clone of upstream at the pinned commit, with
# meson downloading the subprojects.
. "$(dirname "$0")/lib.sh"

# The pinned source: upstream QEMU b8337166 (11.0.50, 2026-06-19, after the
# Tegra241 CMDQV series), a `git archive` of it, and the meson subprojects an
# offline build needs (keycodemapdb, berkeley-softfloat-3, -testfloat-3).
QEMU_COMMIT=b83371668192a705b878e909c5ae9c1233cbd5fb
QEMU_TAR_SHA256=b896d0237d374c1732cf69772b9df7c51ed0860f04c7456302173e1cfc67e53f
QEMU_SUBPROJECTS_SHA256=fa83c1df215890a9d3371e80b49e889062772acff765a99f647747e123c5845f
QEMU_GIT=https://gitlab.com/qemu-project/qemu.git
DEFAULT_SRC_DIR=$(realpath -m "$TOP/../shared/qemu")
QEMU_SRC_DIR=${QEMU_SRC_DIR:-$DEFAULT_SRC_DIR}

QPATCHES=$TOP/qemu/patches
QSERIES=$QPATCHES/series
DEVICES=$TOP/configs/qemu/cmdqv-test.mak
QCACHE=$CACHE/qemu
# One source tree and one build directory, reused for whichever key is being
# built: ccache hashes the paths in the compiler's command lines, so fixed
# paths let a new patch rebuild from ccache everything it does not touch.
SRC=$QCACHE/src
OBJ=$QCACHE/build
LINK=$BUILD/qemu/qemu-system-aarch64
LOG=$BUILD/logs/qemu-build.log
# Results kept in the cache, the most recently used first (60 MB each: QEMU's
# default -g stays, for backtraces of our patches)
KEEP=3

# Only what the boots use. --without-default-features turns every optional
# library off (UI, audio, network backends, block formats, TLS, vhost, TCG
# plugins) whatever -dev packages the host has, so the key names the build
# (and it is 5% fewer build steps than --disable-gtk, -sdl, -vnc, -slirp,
# the audio drivers and the rest one by one); libfdt is the one library the
# virt board needs (the dtc subproject is not in the tarball).
# --disable-werror: a git checkout would turn -Werror on, the tarball not.
QEMU_CONFIGURE=(--target-list=aarch64-softmmu --python=/usr/bin/python3
	--without-default-devices --with-devices-aarch64=cmdqv-test
	--without-default-features --enable-fdt=system
	--disable-docs --disable-tools --disable-user --disable-werror)

need_tools tar xz sha256sum patch gcc ccache ninja pkg-config flock
/usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null ||
	die "QEMU's configure needs /usr/bin/python3 with venv (python3-venv); run 'make deps' (as root) first"
[ -f "$DEVICES" ] || die "no $DEVICES: the devices of our QEMU"
[ -f "$QSERIES" ] || die "no $QSERIES: the QEMU patch series (a comment line if empty)"

# Where the source comes from: the tarballs, or upstream's git when the
# default directory is not there (a QEMU_SRC_DIR that was set must exist).
if [ -d "$QEMU_SRC_DIR" ]; then
	SOURCE=tarball
	QEMU_CONFIGURE+=(--disable-download)
elif [ "$QEMU_SRC_DIR" = "$DEFAULT_SRC_DIR" ]; then
	SOURCE=git
	QEMU_CONFIGURE+=(--enable-download)
else
	die "QEMU_SRC_DIR=$QEMU_SRC_DIR is not a directory; point it at the pinned QEMU tarballs, or unset it"
fi

series_patches() {
	sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$QSERIES"
}

# What the result is made of; the key is its SHA-256.
key_input() {
	local p
	echo "commit $QEMU_COMMIT"
	echo "tarball $QEMU_TAR_SHA256"
	echo "subprojects $QEMU_SUBPROJECTS_SHA256"
	echo "configure ${QEMU_CONFIGURE[*]}"
	echo "devices $(sha256sum <"$DEVICES" | cut -d' ' -f1)"
	echo "series $(sha256sum <"$QSERIES" | cut -d' ' -f1)"
	for p in $(series_patches); do
		echo "patch $p $(sha256sum <"$QPATCHES/$p" | cut -d' ' -f1)"
	done
}

# Point build/qemu/qemu-system-aarch64 at result $1; replaced in one rename,
# so a boot starting meanwhile sees the old binary or the new one.
link_result() {
	mkdir -p "$(dirname "$LINK")"
	ln -sfn "$1/qemu-system-aarch64" "$LINK.tmp"
	mv -Tf "$LINK.tmp" "$LINK"
	touch "$1"
}

for p in $(series_patches); do
	[ -f "$QPATCHES/$p" ] || die "qemu/patches/series names $p, which is not in qemu/patches/"
done
inputs=$(key_input)
key=$(echo "$inputs" | sha256sum | cut -c1-16)
npatches=$(series_patches | wc -l)
what="QEMU ${QEMU_COMMIT:0:12} + $npatches patch(es), key $key"
if [ -x "$QCACHE/$key/qemu-system-aarch64" ]; then
	link_result "$QCACHE/$key"
	note "$what: up to date"
	echo "$LINK"
	exit 0
fi

mkdir -p "$QCACHE" "$(dirname "$LOG")"
# $SRC and $OBJ are shared by every key: one build at a time.
exec 9>"$QCACHE/.lock"
if ! flock -n 9; then
	note "waiting for another qemu.sh to finish (lock $QCACHE/.lock)"
	flock 9
fi
if [ -x "$QCACHE/$key/qemu-system-aarch64" ]; then
	link_result "$QCACHE/$key"
	note "$what: built by the run we waited for"
	echo "$LINK"
	exit 0
fi

# Check tarball $1 of $QEMU_SRC_DIR against SHA-256 $2 and unpack it into
# $SRC (its top directory qemu-<commit>/ stripped).
unpack() {
	local tarball=$QEMU_SRC_DIR/$1 want=$2 got
	[ -f "$tarball" ] || die "no $1 in $QEMU_SRC_DIR; restore the pinned QEMU tarballs there (or remove the directory to build from git)"
	got=$(sha256sum <"$tarball" | cut -d' ' -f1)
	[ "$got" = "$want" ] ||
		die "checksum mismatch for $tarball: sha256 $got, expected $want; restore the pinned file, then rerun"
	tar -xJf "$tarball" -C "$SRC" --strip-components=1 "qemu-$QEMU_COMMIT/" >>"$LOG" 2>&1 ||
		die "cannot unpack $tarball into $SRC (log: $LOG); check the disk, then rerun"
}

# Upstream at the pinned commit, from a bare clone kept in the cache.
clone() {
	local mirror=$QCACHE/qemu.git head
	need_tools git
	if [ ! -d "$mirror" ]; then
		note "no $QEMU_SRC_DIR: cloning $QEMU_GIT into $mirror"
		rm -rf "$mirror.tmp"
		git clone -q --bare "$QEMU_GIT" "$mirror.tmp" >>"$LOG" 2>&1 ||
			die "git clone $QEMU_GIT failed (log: $LOG); without network access to gitlab.com, put the pinned tarballs in $DEFAULT_SRC_DIR"
		mv "$mirror.tmp" "$mirror"
	fi
	if ! git -C "$mirror" cat-file -e "$QEMU_COMMIT^{commit}" 2>/dev/null; then
		note "fetching $QEMU_GIT for commit ${QEMU_COMMIT:0:12}"
		git -C "$mirror" fetch -q "$QEMU_GIT" "+refs/heads/*:refs/heads/*" >>"$LOG" 2>&1 ||
			die "git fetch $QEMU_GIT failed (log: $LOG); check network access to gitlab.com, then rerun"
	fi
	rmdir "$SRC"
	if ! { git clone -q --no-checkout "$mirror" "$SRC" &&
		git -C "$SRC" -c advice.detachedHead=false checkout -q "$QEMU_COMMIT"; } >>"$LOG" 2>&1; then
		die "cannot check out QEMU commit $QEMU_COMMIT from $mirror (log: $LOG); remove $mirror, then rerun"
	fi
	head=$(git -C "$SRC" rev-parse HEAD)
	[ "$head" = "$QEMU_COMMIT" ] || die "QEMU checkout is at $head, not the pinned $QEMU_COMMIT; remove $mirror, then rerun"
}

start=$(date +%s)
# Results of earlier runs cut short; the source and build of the last key.
rm -rf "$QCACHE"/*.tmp "$SRC" "$OBJ"
mkdir -p "$SRC" "$OBJ"
: >"$LOG"
note "building $what (log: $LOG)"
if [ "$SOURCE" = tarball ]; then
	unpack "qemu-$QEMU_COMMIT.tar.xz" "$QEMU_TAR_SHA256"
	unpack "qemu-$QEMU_COMMIT-subprojects.tar.xz" "$QEMU_SUBPROJECTS_SHA256"
	# What meson does after a wrap download: the wrap's packagefiles (its
	# meson.build) over the subproject.
	for d in "$SRC"/subprojects/packagefiles/*/; do
		d=${d%/}
		if [ -d "$SRC/subprojects/${d##*/}" ]; then
			cp -a "$d/." "$SRC/subprojects/${d##*/}/"
		fi
	done
	for f in configure subprojects/keycodemapdb/README; do
		[ -f "$SRC/$f" ] || die "the tarballs in $QEMU_SRC_DIR do not hold qemu-$QEMU_COMMIT/$f"
	done
else
	clone
fi
cp "$DEVICES" "$SRC/configs/devices/aarch64-softmmu/cmdqv-test.mak"

# No fuzz: the patches are made against this very commit, and one that only
# applies with fuzz has gone stale.
for p in $(series_patches); do
	if ! patch -d "$SRC" -p1 --batch --forward --fuzz=0 --no-backup-if-mismatch \
		-i "$QPATCHES/$p" >"$QCACHE/patch.log" 2>&1; then
		die "QEMU patch $p does not apply to ${QEMU_COMMIT:0:12} ($(grep -m1 -iE 'failed|can.t find|reversed|malformed|garbage' "$QCACHE/patch.log" || echo "see $QCACHE/patch.log")); fix qemu/patches/$p, then rerun"
	fi
done

setup_ccache "$QCACHE" 4G
t=$(date +%s)
if ! (cd "$OBJ" && "$SRC/configure" "${QEMU_CONFIGURE[@]}" --cc="ccache gcc") >>"$LOG" 2>&1; then
	tail -n 20 "$LOG" >&2
	die "QEMU configure failed (log: $LOG); a missing -dev package? run 'make deps' (as root)"
fi
note "configured in $(($(date +%s) - t)) s"
t=$(date +%s)
if ! ninja -C "$OBJ" -j"$(($(nproc) + 1))" qemu-system-aarch64 >>"$LOG" 2>&1; then
	grep -E 'error|FAILED' "$LOG" | head -n 20 >&2 || true
	die "QEMU build failed (log: $LOG); fix the patch in qemu/patches, then rerun"
fi
note "built in $(($(date +%s) - t)) s"

# Into the cache under a temporary name, then renamed: a result that exists
# is complete.
res=$QCACHE/$key
mkdir "$res.tmp"
cp "$OBJ/qemu-system-aarch64" "$res.tmp/"
echo "$inputs" >"$res.tmp/inputs"
rm -rf "$res"
mv -T "$res.tmp" "$res"
link_result "$res"
# Older results beyond the newest $KEEP
find "$QCACHE" -mindepth 1 -maxdepth 1 -type d -regextype posix-extended \
	-regex '.*/[0-9a-f]{16}' -printf '%T@ %p\n' | sort -rn | tail -n +$((KEEP + 1)) |
	cut -d' ' -f2- | xargs -r rm -rf
note "$what: built in $(($(date +%s) - start)) s, $(du -h "$res/qemu-system-aarch64" | cut -f1)"
echo "$LINK"
