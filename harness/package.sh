#!/usr/bin/env bash
# The Grace host kernel packages: Debian's arm64 config for 6.12 with
# configs/package.config on top, built from build/linux with 'make bindeb-pkg'.
#
#   package.sh config   download Debian's config, merge, check every option
#                       (what CI runs; about a minute)
#   package.sh build    config, then build linux-image/linux-headers .debs
#                       into build/packages (hours on 2 cores; resumes)
#   package.sh smoke    boot the built kernel under the test QEMU machine
. "$(dirname "$0")/lib.sh"

POUT=${POUT:-$BUILD/obj-pkg}
PKGDIR=${PKGDIR:-$BUILD/packages}
LOG=$BUILD/logs/package-build.log
FRAGMENT=$TOP/configs/package.config
# Debian's configs for the base's own version, pinned like the base.
CONFIG_PKG=linux-config-6.12
CONFIG_VERSION=$BASE_VERSION
CONFIG_SHA256=5642ad362614657f7393b3999a02d3f33325c13a15227333fe2ef0cdc29d74c8
CONFIG_DEB=$CACHE/debs/${CONFIG_PKG}_${CONFIG_VERSION}_arm64.deb
DEBIAN_CONFIG=config.arm64_none_arm64
CROSS=$(cross_compile)

export CCACHE_DIR=${CCACHE_DIR:-$CACHE/ccache}
export CCACHE_BASEDIR=$TOP CCACHE_NOHASHDIR=true CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
export KBUILD_BUILD_USER=cmdqv-lts KBUILD_BUILD_HOST=cmdqv-lts
mkdir -p "$POUT" "$PKGDIR" "$(dirname "$LOG")" "$CCACHE_DIR"

# LOCALVERSION set (empty): no "+" for a git tree; the name comes from the config
pmake() {
	make -C "$TREE" O="$POUT" ARCH=arm64 CROSS_COMPILE="$CROSS" \
		CC="ccache ${CROSS}gcc" LOCALVERSION= "$@"
}

fetch_debian_config() {
	mkdir -p "$(dirname "$CONFIG_DEB")"
	if [ ! -f "$CONFIG_DEB" ]; then
		note "downloading $CONFIG_PKG:arm64=$CONFIG_VERSION"
		(cd "$(dirname "$CONFIG_DEB")" &&
			apt-get download "$CONFIG_PKG:arm64=$CONFIG_VERSION" >/dev/null 2>apt-download.log) ||
			die "apt-get download $CONFIG_PKG:arm64=$CONFIG_VERSION failed (see $(dirname "$CONFIG_DEB")/apt-download.log); run 'make deps' (arm64 multiarch), then retry"
	fi
	if ! echo "$CONFIG_SHA256  $CONFIG_DEB" | sha256sum --quiet -c - >/dev/null 2>&1; then
		mv -f "$CONFIG_DEB" "$CONFIG_DEB.bad"
		die "checksum mismatch for $(basename "$CONFIG_DEB") (moved to .bad); expected sha256 $CONFIG_SHA256"
	fi
	dpkg-deb --fsys-tarfile "$CONFIG_DEB" |
		tar -xO "./usr/src/$CONFIG_PKG/$DEBIAN_CONFIG.xz" | xz -dc >"$POUT/debian.config" ||
		die "no $DEBIAN_CONFIG in $(basename "$CONFIG_DEB")"
}

# Every option of the fragment must come out of Kconfig as written.
check_config() {
	local line opt bad=0
	while IFS= read -r line; do
		case $line in
		CONFIG_*=*) opt=${line%%=*} ;;
		*) continue ;;
		esac
		if ! grep -qxF "$line" "$POUT/.config"; then
			echo "config: wanted '$line', got '$(grep -E "^(# )?$opt[= ]" "$POUT/.config" || echo unset)'" >&2
			bad=1
		fi
	done <"$FRAGMENT"
	[ $bad = 0 ] || die "the merged config lacks what the feature needs (lines above): fix $FRAGMENT"
}

configure() {
	[ -f "$TREE/.git/cmdqv-tree" ] || die "no work tree at $TREE; run 'make tree' first"
	fetch_debian_config
	# Debian's config first, the fragment over it; then Kconfig settles the rest
	cat "$POUT/debian.config" "$FRAGMENT" >"$POUT/.config.new"
	if ! cmp -s "$POUT/.config.new" "$POUT/.config.input" 2>/dev/null; then
		cp "$POUT/.config.new" "$POUT/.config"
		pmake -s olddefconfig >>"$LOG" 2>&1 || die "olddefconfig failed (log: $LOG)"
		mv "$POUT/.config.new" "$POUT/.config.input"
	fi
	check_config
	note "config: Debian's $DEBIAN_CONFIG ($CONFIG_VERSION) + $(basename "$FRAGMENT"): every option in place ($POUT/.config)"
}

build() {
	local start=$(date +%s) debs
	configure
	note "building linux-image and linux-headers (resumes where it stopped; log: $LOG)"
	# The .debs go next to the objects' parent by default; collect them after.
	if ! pmake -j"$(($(nproc) + 1))" KDEB_PKGVERSION="$CONFIG_VERSION+cmdqv1" \
		bindeb-pkg 2>&1 | tee -a "$LOG" | grep --line-buffered -E '^  (CC|LD|AR) .*\.ko$|^dpkg-deb|^  [A-Z]+ +vmlinux$|error' >&2; then
		die "package build failed (log: $LOG)"
	fi
	grep -q "dpkg-deb: building package 'linux-image" "$LOG" || die "no package built (log: $LOG)"
	mv -f "$BUILD"/linux-*_"$CONFIG_VERSION+cmdqv1"_arm64.deb "$PKGDIR"/ 2>/dev/null || true
	debs=$(ls "$PKGDIR"/linux-{image,headers}-*_arm64.deb 2>/dev/null | grep -v -- -dbg_ || true)
	[ -n "$debs" ] || die "no linux-image/linux-headers .deb in $PKGDIR"
	note "built in $(($(date +%s) - start)) s:"
	ls -l $debs >&2
	echo "install on the Grace host:  sudo apt install $(for d in $debs; do printf './%s ' "$(basename "$d")"; done)"
}

case ${1:-build} in
config) configure ;;
build) build ;;
*) die "usage: package.sh config|build" ;;
esac
