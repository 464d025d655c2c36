#!/usr/bin/env bash
# The real-VMM stage: Debian's arm64 QEMU 11.1, unchanged, runs inside the
# test guest on our kernel (KVM under the emulated EL2, iommufd, vfio-pci)
# and gives its own guest an accelerated vSMMU over the first edu.
#
#   vmm.sh root                  fetch QEMU 11.1 and what it links against
#                                (trixie-backports, arm64) into the cache
#   vmm.sh boot IMAGE LOG        boot the stage, its console log in LOG
#                                (run.sh does this for TESTS=vmm; IORT=FILE
#                                takes a CANWBS IORT made already)
#   vmm.sh run IMAGE             boot and judge; last line "N passed, N failed"
#
# The outer guest boots on the CMDQV machine (boot.sh MACHINE=cmdqv, our
# QEMU: 'make qemu') with an IORT upgraded with CANWBS (a vSMMU needs it)
# and runs tests/vmm/real_vmm.sh, which gives the inner guest's vSMMU the
# Tegra241 CMDQV (QEMU's cmdqv=on; VMM_CMDQV=off leaves it out;
# VMM_COMPARE=1 adds a fourth run without it, for the figures); the inner guest is the same test kernel
# with a small initramfs that loads tests/vmm/edu_dma.c, a driver that moves
# data through the DMA domain the kernel gives edu on the inner guest's SMMU,
# which is the accelerated vSMMU. See README.md.
. "$(dirname "$0")/lib.sh"

OUT=${RUN_OUT:-$BUILD/run-vmm}
export MACHINE=${MACHINE:-cmdqv}
if [ "$MACHINE" = cmdqv ]; then
	export QEMU=${QEMU:-$BUILD/qemu/qemu-system-aarch64}
	[ -x "$QEMU" ] || die "no $QEMU: MACHINE=cmdqv needs our QEMU ('make qemu')"
fi
# What the stage's VMM asks for: the CMDQV where the machine has one
VMM_CMDQV=${VMM_CMDQV:-$([ "$MACHINE" = cmdqv ] && echo on || echo off)}
case $VMM_CMDQV in
on) [ "$MACHINE" = cmdqv ] || die "VMM_CMDQV=on needs MACHINE=cmdqv" ;;
off) ;;
*) die "VMM_CMDQV must be on or off, not '$VMM_CMDQV'" ;;
esac
# What the stage installs from trixie-backports: the binary packages of
# src:qemu that qemu-system-aarch64 needs, and the UEFI firmware the inner
# guest boots with (QEMU's accelerated SMMUv3 is ACPI-only).
QEMU_SERIES=11.1
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ROOT=$CACHE/vmm-root
STRACE=strace
INCLUDE="qemu-system-arm/trixie-backports,qemu-system-common/trixie-backports,qemu-system-data/trixie-backports,qemu-efi-aarch64,$STRACE"
# What a cached root must have been made from to be used again
STAMP="$QEMU_SERIES $INCLUDE"

# Unpack (not install: nothing runs for arm64 on this host) the packages and
# their dependencies, then keep only QEMU, its libraries, the firmware and
# strace: the rest would only make the initramfs bigger.
fetch_root() {
	local tmp ver
	if [ -x "$ROOT/tree/usr/bin/qemu-system-aarch64" ] &&
		[ "$(cat "$ROOT/stamp" 2>/dev/null)" = "$STAMP" ]; then
		note "QEMU for the stage: $(cat "$ROOT/qemu-version") ($ROOT)"
		return
	fi
	need_tools mmdebstrap "$(cross_compile)readelf"
	tmp=$ROOT.tmp
	rm -rf "$tmp" "$ROOT"
	note "unpacking Debian's arm64 qemu-system-arm $QEMU_SERIES (trixie-backports) into $ROOT"
	# mmdebstrap's default mode: as root, or in a user namespace
	mmdebstrap --quiet --variant=extract --arch=arm64 --components=main \
		--skip=cleanup/apt/cache --include="$INCLUDE" \
		trixie "$tmp" "deb $MIRROR trixie main" "deb $MIRROR trixie-backports main" \
		>"$CACHE/vmm-root.log" 2>&1 ||
		die "mmdebstrap failed (log: $CACHE/vmm-root.log); run 'make deps', check the mirror ($MIRROR), then retry"
	ver=$(ls "$tmp"/var/cache/apt/archives/qemu-system-arm_*_arm64.deb 2>/dev/null |
		sed -n 's/.*qemu-system-arm_\(.*\)_arm64.deb/\1/p' | sed 's/%3a/:/' || true)
	case $ver in
	*:"$QEMU_SERIES".*) ;;
	*) die "trixie-backports gave qemu-system-arm '$ver', not $QEMU_SERIES.x" ;;
	esac
	trim_root "$tmp"
	echo "qemu-system-arm $ver (arm64, trixie-backports)" >"$tmp/qemu-version"
	echo "$STAMP" >"$tmp/stamp"
	mv "$tmp" "$ROOT"
	note "QEMU for the stage: $(cat "$ROOT/qemu-version"), $(du -sh "$ROOT" | cut -f1)"
}

# The shared libraries ELF file $2 needs, found in root $1, recursively.
lib_closure() {
	local root=$1 queue=("$2") f l p
	declare -A seen=()
	while [ ${#queue[@]} -gt 0 ]; do
		f=${queue[0]}
		queue=("${queue[@]:1}")
		for l in $("$(cross_compile)readelf" -d "$root/$f" |
			sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
			[ -z "${seen[$l]:-}" ] || continue
			seen[$l]=1
			p=usr/lib/aarch64-linux-gnu/$l
			[ -e "$root/$p" ] || die "$f needs $l, which the unpacked root lacks"
			echo "$p"
			queue+=("$p")
		done
	done
}

# Leaves $1/tree (what goes into the guest), $1/packages (what it came from)
trim_root() {
	local from=$1 keep f
	keep=$(mktemp -d)/tree
	for f in usr/bin/qemu-system-aarch64 usr/bin/$STRACE; do
		install -D -m 755 "$from/$f" "$keep/$f"
		lib_closure "$from" "$f" | while read -r l; do
			[ -e "$keep/$l" ] || install -D -m 644 "$(realpath "$from/$l")" "$keep/$l"
		done
	done
	install -D -m 755 "$(realpath "$from/usr/lib/ld-linux-aarch64.so.1")" \
		"$keep/usr/lib/ld-linux-aarch64.so.1"
	install -D -m 644 "$from/usr/share/qemu-efi-aarch64/QEMU_EFI.fd" "$keep/usr/share/qemu-efi-aarch64/QEMU_EFI.fd"
	ln -s usr/lib "$keep/lib"
	# What it was made of, by package version
	(cd "$from/var/cache/apt/archives" && ls -- *.deb) >"$keep/../packages"
	rm -rf "$from"
	mv "$(dirname "$keep")" "$from"
}

# QEMU's IORT with CANWBS, as the main run's second boot has it: a short
# boot prints QEMU's table, iort-canwbs.sh upgrades it.
canwbs_iort() {
	local image=$1 dir=$OUT/iort
	rm -rf "$dir" && mkdir -p "$dir/tests"
	: >"$dir/plan"
	"$TOP/harness/initramfs.sh" "$dir/initramfs.cpio.gz" "$dir/tests" "$dir/plan"
	BOOT=acpi EL2=1 MEM=4G TIMEOUT=600 "$TOP/harness/boot.sh" "$image" \
		"$dir/initramfs.cpio.gz" "$dir/console.log" kunit.enable=0
	iort_hex "$dir/console.log" "$dir/iort.hex"
	[ -s "$dir/iort.hex" ] || die "the IORT boot printed no table (log: $dir/console.log)"
	"$TOP/harness/iort-canwbs.sh" "$dir/iort.hex" "$OUT/IORT.aml"
}

# The inner guest's test driver, against the test kernel's build
build_edu_dma() {
	local kout=${KOUT:-$BUILD/obj-test} src=$OUT/edu_dma
	[ -f "$kout/Module.symvers" ] || die "no $kout/Module.symvers; run 'make kernel'"
	rm -rf "$src" && mkdir -p "$src"
	cp "$TOP/tests/vmm/edu_dma.c" "$src/"
	echo 'obj-m := edu_dma.o' >"$src/Kbuild"
	make -C "$TREE" O="$kout" ARCH=arm64 CROSS_COMPILE="$(cross_compile)" \
		M="$src" W=1 modules >"$src/build.log" 2>&1 ||
		die "edu_dma.ko failed to build (log: $src/build.log)"
	! grep -qi 'warning:' "$src/build.log" || die "edu_dma.ko: warnings (log: $src/build.log)"
	install -m 644 "$src/edu_dma.ko" "$1/"
}

boot() {
	local image log start
	image=$(realpath -m "${1:?usage: vmm.sh boot IMAGE LOG}")
	log=$(realpath -m "${2:?usage: vmm.sh boot IMAGE LOG}")
	[ -f "$image" ] || die "no kernel image at $image; run 'make kernel'"
	start=$(date +%s)
	fetch_root
	mkdir -p "$OUT"
	rm -f "$log" "$OUT/IORT.aml"
	# run.sh's CANWBS boot made the same table already: no boot for it
	if [ -s "${IORT:-}" ]; then
		cp "$IORT" "$OUT/IORT.aml"
	else
		canwbs_iort "$image"
	fi

	# The inner guest: the same kernel, the edu DMA driver's cases
	rm -rf "$OUT/inner" "$OUT/tests" && mkdir -p "$OUT/inner" "$OUT/tests/vmm"
	build_edu_dma "$OUT/inner"
	install -m 755 "$TOP/tests/vmm/inner.sh" "$OUT/inner/"
	echo "kselftest inner.sh" >"$OUT/inner.plan"
	"$TOP/harness/initramfs.sh" "$OUT/tests/vmm/inner.cpio.gz" "$OUT/inner" "$OUT/inner.plan"
	cp "$image" "$OUT/tests/vmm/Image"
	install -m 755 "$TOP/tests/vmm/real_vmm.sh" "$OUT/tests/"
	echo "$QEMU_SERIES" >"$OUT/tests/vmm/qemu-series"
	echo "$VMM_CMDQV" >"$OUT/tests/vmm/cmdqv"
	echo "${VMM_COMPARE:-0}" >"$OUT/tests/vmm/compare"
	echo "kselftest real_vmm.sh" >"$OUT/plan"
	OVERLAY=$ROOT/tree "$TOP/harness/initramfs.sh" "$OUT/initramfs.cpio" \
		"$OUT/tests" "$OUT/plan" "$OUT/IORT.aml"
	note "outer initramfs: $(du -h "$OUT/initramfs.cpio" | cut -f1)"

	# KVM needs EL2; QEMU, its guest and the initramfs need the memory
	BOOT=acpi EL2=1 MEM=4G TIMEOUT=${VMM_TIMEOUT:-3000} BOOT_TIMEOUT=300 \
		"$TOP/harness/boot.sh" "$image" "$OUT/initramfs.cpio" "$log" kunit.enable=0 \
		${VMM_KARGS:-}
	note "stage wall time: $(($(date +%s) - start)) s"
	grep -a '^# ' "$log" | tr -d '\r' |
		grep -a -E 'inner guest reached|QEMU exited|QEMU killed|gone|ioctls:|unmap median|HWPT_INVALIDATE x' >&2 || true
	host_check "$log"
}

# On the CMDQV machine, what the device saw (harness/cmdqv-host.sh): the
# host's commands through VINTF0 and the VMs' through their own VINTFs
host_check() {
	[ "$MACHINE" = cmdqv ] || return 0
	case " ${VMM_KARGS:-} " in
	*" arm_smmu_v3.disable_cmdqv=1 "*) "$TOP/harness/cmdqv-host.sh" "$1" disabled ;;
	*)
		if [ "$VMM_CMDQV" = on ] && [ "${VMM_COMPARE:-0}" = 1 ]; then
			"$TOP/harness/cmdqv-host.sh" "$1" vm on+off
		else
			"$TOP/harness/cmdqv-host.sh" "$1" vm "$VMM_CMDQV"
		fi
		;;
	esac
}

run() {
	local image=${1:?usage: vmm.sh run IMAGE}
	boot "$image" "$OUT/console.log"
	awk -v expect="kselftest:real_vmm.sh$([ "$MACHINE" = cmdqv ] && echo " host:cmdqv")" \
		-f "$TOP/harness/report.awk" "$OUT/console.log"
}

case ${1:-} in
root) fetch_root ;;
boot) shift && boot "$@" ;;
run) shift && run "$@" ;;
*) die "usage: vmm.sh root | boot IMAGE LOG | run IMAGE" ;;
esac
