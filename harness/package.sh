#!/usr/bin/env bash
# The Grace host kernel packages: Debian's arm64 config for 6.12 with
# configs/package.config on top, built from build/linux with 'make bindeb-pkg'.
#
#   package.sh config   download Debian's config, merge, check every option
#                       (what CI runs; about a minute)
#   package.sh build    config, then build linux-image/linux-headers .debs
#                       into build/packages (hours on 2 cores; resumes)
#   package.sh probe    config, then only the static cmdqv-probe for the packages
#   package.sh smoke    boot the packaged kernel on the test QEMU machine and
#                       run the probe there (SMOKE_IMAGE=… boots another Image)
. "$(dirname "$0")/lib.sh"

POUT=${POUT:-$BUILD/obj-pkg}
PKGDIR=${PKGDIR:-$BUILD/packages}
LOG=$BUILD/logs/package-build.log
FRAGMENT=$TOP/configs/package.config
# Debian's configs for the base's own version and release, pinned like the
# base (configs/bases)
CONFIG_VERSION=$BASE_VERSION
# The packages' version: the base's, then the series and the Debian release
# it is for (6.12.118-1+cmdqv1.deb13, 6.12.118-1~deb12u1+cmdqv1.deb12)
PKG_VERSION=$BASE_VERSION+cmdqv1.deb$BASE_RELEASE
DEBIAN_CONFIG=config.arm64_none_arm64
CROSS=$(cross_compile)

setup_ccache "$TOP" 8G
export KBUILD_BUILD_USER=cmdqv-lts KBUILD_BUILD_HOST=cmdqv-lts
# No linux-image-*-dbg unless asked (PKG_DBG=1): no admin installs it, and it
# is the slowest part to pack. kbuild's own build profile leaves it out.
if [ "${PKG_DBG:-0}" != 1 ]; then
	case " ${DEB_BUILD_PROFILES:-} " in
	*" pkg.linux-upstream.nokerneldbg "*) ;;
	*) export DEB_BUILD_PROFILES="${DEB_BUILD_PROFILES:+$DEB_BUILD_PROFILES }pkg.linux-upstream.nokerneldbg" ;;
	esac
fi
objects_for_base "$POUT" "$TREE" "$TREE/.git/cmdqv-tree"
mkdir -p "$PKGDIR" "$(dirname "$LOG")"

# LOCALVERSION set (empty): no "+" for a git tree; the name comes from the config
pmake() {
	make -C "$TREE" O="$POUT" ARCH=arm64 CROSS_COMPILE="$CROSS" \
		CC="ccache ${CROSS}gcc" LOCALVERSION= "$@"
}

fetch_debian_config() {
	fetch_suite_deb "$BASE_SUITE" "$CONFIG_PKG:arm64=$CONFIG_VERSION" "$CONFIG_DEB" "$CONFIG_SHA256"
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

# The probe, static, beside the packages: against this tree's uAPI headers
build_probe() {
	pmake -s headers >>"$LOG" 2>&1 || die "headers failed (log: $LOG)"
	"${CROSS}gcc" -static -O2 -Wall -Werror -Wno-format-truncation \
		-isystem "$POUT/usr/include" -o "$PKGDIR/cmdqv-probe" \
		"$TOP/probe/cmdqv-probe.c" || die "cmdqv-probe build failed"
	note "probe: $PKGDIR/cmdqv-probe"
}

build() {
	local start=$(date +%s) debs
	configure
	build_probe
	note "building linux-image and linux-headers (resumes where it stopped; log: $LOG)"
	# The .debs go next to the objects' parent by default; collect them after.
	# Progress: a line per 1000 build steps, errors and the packages made
	if ! pmake -j"$(($(nproc) + 1))" KDEB_PKGVERSION="$PKG_VERSION" \
		bindeb-pkg 2>&1 | tee -a "$LOG" | awk -v t0="$start" '
			/^  [A-Z]+/ { if (++n % 1000 == 0) printf ">> %d build steps (%d min)\n", n, (systime() - t0) / 60 }
			/ error: |^make.*Error [0-9]/ { print }
			/^dpkg-deb: building package/ { print }
			{ fflush() }' >&2; then
		die "package build failed (log: $LOG)"
	fi
	grep -q "dpkg-deb: building package 'linux-image" "$LOG" || die "no package built (log: $LOG)"
	mv -f "$BUILD"/linux-*_"$PKG_VERSION"_arm64.deb "$PKGDIR"/ 2>/dev/null || true
	debs=$(ls "$PKGDIR"/linux-{image,headers}-*_arm64.deb 2>/dev/null | grep -v -- -dbg_ || true)
	[ -n "$debs" ] || die "no linux-image/linux-headers .deb in $PKGDIR"
	note "built in $(($(date +%s) - start)) s:"
	ls -l $debs >&2
	echo "install on the Grace host:  sudo apt install $(for d in $debs; do printf './%s ' "$(basename "$d")"; done)"
	echo "then, after a reboot into it:  sudo ./cmdqv-probe   (it is in $PKGDIR)"
	smoke
}

# The packaged kernel as apt would install it: linux-image's .deb unpacked
# into $1 (boot/vmlinuz-*, lib/modules/*); prints the kernel release
unpack_image_deb() {
	local deb
	deb=$(ls "$PKGDIR"/linux-image-*_"$PKG_VERSION"_arm64.deb 2>/dev/null |
		grep -v -- -dbg_ | head -n1)
	[ -n "$deb" ] || die "no linux-image .deb in $PKGDIR: run 'make' first"
	dpkg-deb -x "$deb" "$1" || die "cannot unpack $deb"
	ls "$1/lib/modules" | head -n1
}

# The modules a VMM needs (and what they need), from the package's own
# modules.dep ($1), uncompressed into $2 with their load order in $2/order
stage_modules() {
	local mods=$1 dir=$2 m
	mkdir -p "$dir"
	: >"$dir/order"
	# modules.dep lists a module's dependencies after it, deepest last
	for m in vfio-pci iommufd; do
		grep -E "/$m\.ko(\.xz)?:" "$mods/modules.dep" | tr -d ':' | tr ' ' '\n' | tac
	done | awk 'NF && !seen[$0]++' | while read -r m; do
		xz -dc -f "$mods/$m" >"$dir/$(basename "${m%.xz}")"
		basename "${m%.xz}" >>"$dir/order"
	done
	[ -s "$dir/order" ] || die "no iommufd or vfio-pci in $mods/modules.dep"
}

# One smoke boot ($1 names it) of $image with the initramfs of $tests and
# ACPI tables $4…: it must reach /init, load iommufd and VFIO with no kernel
# report, and the probe must exit with $2 and say "accel_vsmmu": $3.
smoke_boot() {
	local name=$1 want=$2 accel=$3 log=$out/console-$1.log rc
	shift 3
	"$TOP/harness/initramfs.sh" "$out/initramfs-$name.cpio" "$tests" "$out/plan" "$@"
	TIMEOUT=${TIMEOUT:-600} "$TOP/harness/boot.sh" "$image" \
		"$out/initramfs-$name.cpio" "$log" kunit.enable=0
	rc=$(sed -n 's/^@@@ cmdqv-end kselftest:smoke.sh rc=\([0-9]*\).*/\1/p' "$log" | tr -d '\r')
	grep -a -m1 "Linux version" "$log" >&2 || true
	grep -a -E '^0000:00:0[12].0 behind smmu3' "$log" >&2 || true
	[ "$rc" = "$want" ] && grep -aq "\"accel_vsmmu\": $accel" "$log" ||
		die "smoke boot ($name): probe status '${rc:-none}', want $want with accel_vsmmu $accel (log: $log)"
	grep -a -q 'smoke: insmod' "$log" &&
		die "smoke boot ($name): a module did not load (log: $log)"
	# the kernel's own reports (timestamped), not /init's notes
	grep -a -E '^\[ *[0-9]+\.[0-9]+\] .*((BUG|WARNING|INFO): |Internal error:|Kernel panic|Call trace:)' \
		"$log" >&2 && die "smoke boot ($name): kernel report above (log: $log)"
	note "smoke boot ($name): probe status $rc, accel_vsmmu $accel (log: $log)"
}

# Boot the packaged kernel (the vmlinuz and modules in linux-image's .deb)
# twice on the test machine. With QEMU's IORT the probe must see the SMMUv3
# and the edu and say why there is no accelerated vSMMU (status 1); with
# that IORT upgraded to CANWBS, as Grace firmware has it, the probe's trial
# vSMMU must work (status 0). SMOKE_IMAGE=… boots another Image, no modules.
smoke() {
	local out=$BUILD/run-pkg image rel
	local tests=$out/tests
	rm -rf "$out" && mkdir -p "$tests"
	if [ -n "${SMOKE_IMAGE:-}" ]; then
		image=$SMOKE_IMAGE
	else
		rel=$(unpack_image_deb "$out/root")
		image=$out/root/boot/vmlinuz-$rel
		stage_modules "$out/root/lib/modules/$rel" "$tests/modules"
	fi
	[ -f "$image" ] || die "no kernel at $image: run 'make' first"
	install -m 755 "$TOP/probe/smoke.sh" "$tests/smoke.sh"
	if [ -f "$PKGDIR/cmdqv-probe" ]; then
		install -m 755 "$PKGDIR/cmdqv-probe" "$tests/"
	else
		install -m 755 "$BUILD/tests/cmdqv-probe" "$tests/"
	fi
	echo "kselftest smoke.sh" >"$out/plan"
	smoke_boot qemu 1 false
	iort_hex "$out/console-qemu.log" "$out/iort.hex"
	[ -s "$out/iort.hex" ] || die "the smoke boot printed no IORT (log: $out/console-qemu.log)"
	"$TOP/harness/iort-canwbs.sh" "$out/iort.hex" "$out/IORT.aml"
	smoke_boot canwbs 0 true "$out/IORT.aml"
}

case ${1:-build} in
config) configure ;;
probe) configure && build_probe ;;
build) build ;;
smoke) smoke ;;
*) die "usage: package.sh config|probe|build|smoke" ;;
esac
