#!/usr/bin/env bash
# Conformance: mainline 7.3's own iommufd kselftests (iommufd and
# iommufd_fail_nth, unchanged, from Debian's linux-source-7.3: the package
# harness/abi.sh pins) built static for arm64 against mainline's uAPI
# headers, for the first boot to run against our kernel (TESTS=conformance
# in harness/run.sh). harness/report.awk judges them case by case against
# tests/conformance/expected-fail: one case name per line ("fixture.variant.
# test", as the kselftest prints it), then " # reason". A listed case that
# fails counts as passed (XFAIL); an unlisted failure, or a listed case that
# passes, skips or never runs, is a failure, so the list stays true.
#
#   conformance.sh build DEST    build into build/conformance, then copy the
#                                programs to DEST as mainline_iommufd and
#                                mainline_iommufd_fail_nth
. "$(dirname "$0")/lib.sh"

OUT=$BUILD/conformance
SRC=$OUT/src			# the parts of linux-source-7.3 used here
HDR=$OUT/usr			# mainline's uAPI, from its own headers_install
CAP=$OUT/libcap			# Debian's arm64 libcap-dev, unpacked
BIN=$OUT/bin
LOG=$BUILD/logs/conformance-build.log
CROSS=$(cross_compile)
PROGS="iommufd iommufd_fail_nth"
# What of the source tree the build needs: headers_install's (top Makefile,
# scripts, uAPI and arm64's generated headers), the kselftests and their
# framework, and iommufd with its mock (iommufd_utils.h includes the mock's
# iommufd_test.h; the rest is there to compare a failing case with ours).
PARTS="Makefile scripts include arch/arm64 tools/include tools/scripts
	tools/arch/arm64 tools/testing/selftests/lib.mk
	tools/testing/selftests/kselftest.h tools/testing/selftests/kselftest_harness.h
	tools/testing/selftests/iommu drivers/iommu/iommufd"

# Unpack PARTS of the package once (the stamp, written last, says which).
unpack() {
	local deb pkg stamp members=() p
	deb=$("$TOP/harness/abi.sh" --deb)
	pkg=$(dpkg-deb -f "$deb" Package)
	stamp="$(dpkg-deb -f "$deb" Version) ${PARTS//[[:space:]]/ }"
	[ "$(cat "$SRC/.cmdqv-conformance" 2>/dev/null)" = "$stamp" ] && return
	note "unpacking $pkg ${stamp%% *} (headers, kselftests, iommufd) into $SRC"
	for p in $PARTS; do
		members+=("$pkg/$p")
	done
	rm -rf "$SRC" "$SRC.new" "$HDR" "$BIN"
	mkdir -p "$SRC.new"
	dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/src/$pkg.tar.xz" |
		tar -xJ -C "$SRC.new" --strip-components=1 "${members[@]}" ||
		die "could not unpack $pkg from $deb (disk full?); free space, then retry"
	echo "$stamp" >"$SRC.new/.cmdqv-conformance"
	mv "$SRC.new" "$SRC"
}

# Mainline's uAPI exactly as a libc user gets it: its own headers_install.
headers() {
	[ -f "$HDR/include/linux/iommufd.h" ] && return
	note "installing mainline's uAPI headers into $HDR"
	rm -rf "$HDR"
	make -C "$SRC" ARCH=arm64 CROSS_COMPILE="$CROSS" INSTALL_HDR_PATH="$HDR" \
		headers_install >>"$LOG" 2>&1 ||
		{ tail -n 20 "$LOG" >&2; die "headers_install of mainline failed (log: $LOG)"; }
}

# 7.3's iommufd.c includes <sys/capability.h> and links -lcap: the arm64
# libcap-dev, unpacked, not installed (nothing of arm64 is installed here).
libcap() {
	local deb
	[ -f "$CAP/usr/lib/aarch64-linux-gnu/libcap.a" ] && return
	deb=$(ls "$CACHE"/debs/libcap-dev_*_arm64.deb 2>/dev/null | head -n1 || true)
	if [ -z "$deb" ]; then
		mkdir -p "$CACHE/debs"
		(cd "$CACHE/debs" && apt-get download libcap-dev:arm64 >/dev/null 2>apt-download.log) ||
			die "apt-get download libcap-dev:arm64 failed (see $CACHE/debs/apt-download.log); run 'make deps' (it enables the arm64 architecture), then retry"
		deb=$(ls "$CACHE"/debs/libcap-dev_*_arm64.deb | head -n1)
	fi
	rm -rf "$CAP"
	mkdir -p "$CAP"
	dpkg-deb -x "$deb" "$CAP"
}

build() {
	local t
	need_tools make dpkg-deb tar xz "${CROSS}gcc"
	mkdir -p "$OUT" "$(dirname "$LOG")"
	: >"$LOG"
	unpack
	headers
	libcap
	mkdir -p "$BIN"
	for t in $PROGS; do
		rm -f "$BIN/$t"
	done
	note "building mainline's kselftests: iommu (log: $LOG)"
	# Mainline's uAPI first: nothing of ours or the host's may stand in for it.
	# tests/kselftest-timeout.h: 300 s a case, not 30; the tests unchanged.
	if ! make -C "$SRC/tools/testing/selftests/iommu" ARCH=arm64 \
		CROSS_COMPILE="$CROSS" CC="${CROSS}gcc" \
		LDFLAGS="-static -L$CAP/usr/lib/aarch64-linux-gnu" \
		KHDR_INCLUDES="-isystem $HDR/include -isystem $CAP/usr/include -I$SRC/tools/testing/selftests -include $TOP/tests/kselftest-timeout.h" \
		OUTPUT="$BIN" >>"$LOG" 2>&1; then
		grep -E 'error' "$LOG" | head -n 20 >&2 || true
		die "mainline kselftest build failed (log: $LOG)"
	fi
	for t in $PROGS; do
		if "${CROSS}readelf" -l "$BIN/$t" | grep -q 'program interpreter'; then
			die "$BIN/$t is not a static binary (log: $LOG)"
		fi
	done
}

case ${1:-} in
build)
	dest=${2:?usage: conformance.sh build DEST}
	build
	mkdir -p "$dest"
	for t in $PROGS; do
		cp "$BIN/$t" "$dest/mainline_$t"
	done
	;;
*) die "usage: conformance.sh build DEST" ;;
esac
