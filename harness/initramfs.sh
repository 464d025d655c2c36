#!/usr/bin/env bash
# Assemble the guest initramfs: Debian's arm64 busybox-static, harness/init,
# the test binaries and the plan (one test program per line).
#
#   initramfs.sh OUT.cpio.gz TESTDIR PLAN [TABLE.aml…]
#
# ACPI tables given after the plan upgrade the firmware's (the kernel's
# CONFIG_ACPI_TABLE_UPGRADE): they go as kernel/firmware/acpi/NAME.aml in an
# uncompressed cpio that comes first, before the compressed one.
# OVERLAY=DIR: a tree copied over the root as it is (the real-VMM stage's
# QEMU and its libraries, under /usr).
# KMODS="A.ko B.ko": KUnit test modules for /init to load, in /lib/modules/kunit
# (without their debug information).
. "$(dirname "$0")/lib.sh"

OUT=${1:?usage: initramfs.sh OUT TESTDIR PLAN}
TESTDIR=${2:?usage: initramfs.sh OUT TESTDIR PLAN}
PLAN=${3:?usage: initramfs.sh OUT TESTDIR PLAN}
shift 3

# Any current bookworm build will do: busybox runs the tests, it is not tested.
BUSYBOX_PKG=busybox-static
DEBS=$CACHE/debs

need_tools cpio gzip dpkg-deb

busybox_deb() {
	local deb
	deb=$(ls "$DEBS"/${BUSYBOX_PKG}_*_arm64.deb 2>/dev/null | head -n1 || true)
	if [ -z "$deb" ]; then
		mkdir -p "$DEBS"
		(cd "$DEBS" && apt-get download "$BUSYBOX_PKG:arm64" >/dev/null 2>apt-download.log) ||
			die "apt-get download $BUSYBOX_PKG:arm64 failed (see $DEBS/apt-download.log); run 'make deps' (it enables the arm64 architecture), then retry"
		deb=$(ls "$DEBS"/${BUSYBOX_PKG}_*_arm64.deb | head -n1)
	fi
	echo "$deb"
}

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
# mktemp's 0700 would be the guest's /: tests run programs as other users too
chmod 755 "$root"
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,tests,usr/bin,usr/sbin}
dpkg-deb --fsys-tarfile "$(busybox_deb)" | tar -xO ./bin/busybox >"$root/bin/busybox"
chmod 755 "$root/bin/busybox"
# The applets init needs before it can run 'busybox --install'.
ln -s busybox "$root/bin/sh"
install -m 755 "$TOP/harness/init" "$root/init"
install -m 644 "$PLAN" "$root/etc/plan"
if [ -n "${OVERLAY:-}" ]; then
	[ -d "$OVERLAY/usr" ] || die "OVERLAY=$OVERLAY has no usr/"
	cp -a "$OVERLAY"/. "$root"/
fi
if [ -n "${KMODS:-}" ]; then
	mkdir -p "$root/lib/modules/kunit"
	for m in $KMODS; do
		[ -f "$m" ] || die "no module $m: build the kernel first ('make kernel')"
		"$(cross_compile)strip" --strip-debug -o "$root/lib/modules/kunit/$(basename "$m")" "$m"
	done
fi
if [ -n "$(ls -A "$TESTDIR" 2>/dev/null)" ]; then
	cp -a "$TESTDIR"/. "$root/tests/"
fi
mkdir -p "$(dirname "$OUT")"
: >"$OUT.tmp"
if [ $# -gt 0 ]; then
	early=$(mktemp -d)
	trap 'rm -rf "$root" "$early"' EXIT
	mkdir -p "$early/kernel/firmware/acpi"
	for t in "$@"; do
		[ -f "$t" ] || die "no ACPI table at $t"
		install -m 644 "$t" "$early/kernel/firmware/acpi/$(basename "$t")"
	done
	(cd "$early" && find kernel | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) >>"$OUT.tmp"
fi
(cd "$root" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 | gzip -1) >>"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
