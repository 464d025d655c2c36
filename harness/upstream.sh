#!/usr/bin/env bash
# The tests of upstream/ (fixes for mainline 7.3.4) on a mainline kernel:
# build mainline's iommu kselftests from a tree with the patches applied
# (static arm64, against that tree's own uAPI, as harness/conformance.sh
# does), then boot an Image and run only the new tests. Not part of make
# check. See upstream/README.md.
#
#   upstream.sh selftest TREE OUT     build OUT/bin/iommufd from TREE
#   upstream.sh run IMAGE TESTDIR OUT boot IMAGE, run the tests, OUT/console.log
. "$(dirname "$0")/lib.sh"

CROSS=$(cross_compile)

# One kselftest run per bug; the mmap one last, as the unfixed kernel warns.
PLAN="kselftest iommufd -r iommufd.unbind_waits_for_ioctl
kselftest iommufd -r iommufd_viommu.mock_viommu.veventq_alloc_slow_reply -r iommufd_viommu.mock_viommu.veventq_alloc_reply_fault
kselftest iommufd -r iommufd_viommu.mock_viommu.hw_queue
kselftest iommufd -r iommufd_viommu.mock_viommu.mmap_before_finalize"

selftest() {
	local tree=$1 out=$2 deb
	mkdir -p "$out/bin" "$out/hdr"
	make -s -C "$tree" O="$out/hdr" ARCH=arm64 CROSS_COMPILE="$CROSS" \
		INSTALL_HDR_PATH="$out/usr" headers_install >"$out/build.log" 2>&1 ||
		die "headers_install failed (log: $out/build.log)"
	if [ ! -f "$out/libcap/usr/lib/aarch64-linux-gnu/libcap.a" ]; then
		deb=$(ls "$CACHE"/debs/libcap-dev_*_arm64.deb 2>/dev/null | head -n1 || true)
		[ -n "$deb" ] || die "no libcap-dev arm64 .deb in $CACHE/debs (harness/conformance.sh fetches it)"
		dpkg-deb -x "$deb" "$out/libcap"
	fi
	make -C "$tree/tools/testing/selftests/iommu" ARCH=arm64 \
		CROSS_COMPILE="$CROSS" CC="${CROSS}gcc" \
		LDFLAGS="-static -L$out/libcap/usr/lib/aarch64-linux-gnu" \
		KHDR_INCLUDES="-isystem $out/usr/include -isystem $out/libcap/usr/include" \
		OUTPUT="$out/bin" >>"$out/build.log" 2>&1 ||
		die "kselftest build failed (log: $out/build.log)"
	note "built $out/bin/iommufd"
}

run() {
	local image=$1 testdir=$2 out=$3
	mkdir -p "$out"
	echo "$PLAN" >"$out/plan"
	"$TOP/harness/initramfs.sh" "$out/initramfs.cpio.gz" "$testdir" "$out/plan"
	TIMEOUT=${TIMEOUT:-900} "$TOP/harness/boot.sh" "$image" \
		"$out/initramfs.cpio.gz" "$out/console.log" kunit.enable=0
	grep -aE '^(ok|not ok) |# (unbind|RUN|OK|FAIL)|Expected|WARNING:' "$out/console.log" || true
}

case ${1:-} in
selftest) selftest "${2:?TREE}" "$(realpath -m "${3:?OUT}")" ;;
run) run "$(realpath -m "${2:?IMAGE}")" "$(realpath -m "${3:?TESTDIR}")" "$(realpath -m "${4:?OUT}")" ;;
*) die "usage: upstream.sh selftest TREE OUT | run IMAGE TESTDIR OUT" ;;
esac
