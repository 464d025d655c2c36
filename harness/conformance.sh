#!/usr/bin/env bash
# Conformance: mainline 7.3's own iommufd kselftests (iommufd and
# iommufd_fail_nth, unchanged, from Debian's linux-source-7.3: the package
# harness/abi.sh pins) built static for arm64 against mainline's uAPI
# headers, run in a boot of our test kernel and judged case by case against
# tests/conformance/expected-fail.
#
#   conformance.sh build          unpack and build only, into build/conformance
#   conformance.sh run IMAGE      build, boot IMAGE, judge
#   conformance.sh judge [LOG]    judge a run's console log again (after
#                                 editing the list; default: the last run's)
#
# The list has one case name per line ("fixture.variant.test" or
# "fixture.test", as the kselftest prints it), then " # reason"; a reason
# starting "BUG:" is a difference in the series' scope that is not
# accepted, only listed. The stage fails on any failure not in the list,
# on any listed case that does not fail (passes, skips or never ran: the
# list must stay true), and on anything harness/report.awk judges a
# failure besides cases (kernel reports, crash, hang, missing results).
# Last lines: a pass/fail/expected-fail summary per fixture, then
# "N passed, N failed, N expected-fail, N skipped".
#
# RUN_OUT: where the logs go (default build/run-conformance);
# TIMEOUT: seconds for the guest run (default 2400).
. "$(dirname "$0")/lib.sh"

OUT=$BUILD/conformance
SRC=$OUT/src			# the parts of linux-source-7.3 used here
HDR=$OUT/usr			# mainline's uAPI, from its own headers_install
CAP=$OUT/libcap			# Debian's arm64 libcap-dev, unpacked
BIN=$OUT/bin
LIST=$TOP/tests/conformance/expected-fail
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
	if ! make -C "$SRC/tools/testing/selftests/iommu" ARCH=arm64 \
		CROSS_COMPILE="$CROSS" CC="${CROSS}gcc" \
		LDFLAGS="-static -L$CAP/usr/lib/aarch64-linux-gnu" \
		KHDR_INCLUDES="-isystem $HDR/include -isystem $CAP/usr/include" \
		OUTPUT="$BIN" >>"$LOG" 2>&1; then
		grep -E 'error' "$LOG" | head -n 20 >&2 || true
		die "mainline kselftest build failed (log: $LOG)"
	fi
	for t in $PROGS; do
		file "$BIN/$t" | grep -q 'statically linked' ||
			die "$BIN/$t is not a static arm64 binary (log: $LOG)"
	done
}

# report.awk's verdicts (PASS/FAIL/SKIP lines) against the list; prints
# the summary and fails on anything unexpected.
judge() {
	awk -v listfile="$LIST" '
	BEGIN {
		while ((getline l < listfile) > 0) {
			if (l ~ /^[ \t]*(#|$)/)
				continue
			name = l
			sub(/[ \t].*/, "", name)
			reason = l
			if (!sub(/^[^ \t]+[ \t]+# */, "", reason) || reason == "")
				bad[++nbad] = "expected-fail list: \"" l "\" has no \" # reason\""
			if (!(name in listed))
				order[++nlisted] = name
			listed[name] = reason
		}
	}
	# "PASS kselftest:iommufd: fixture.variant.test"
	/^(PASS|FAIL) kselftest:[^:]+: [^ ]+$/ || /^SKIP kselftest:[^:]+: [^ ]+ \(/ {
		name = $3
		fx = name
		sub(/\..*/, "", fx)
		if (!(fx in seenfx)) {
			seenfx[fx] = 1
			fxs[++nfx] = fx
		}
		ran[name] = $1
		if ($1 == "PASS") {
			pass[fx]++
			npass++
		} else if ($1 == "SKIP") {
			skip[fx]++
			nskip++
		} else if (name in listed) {
			xfail[fx]++
			nxfail++
		} else {
			fail[fx]++
			nfail++
			unexpected[++nu] = "FAIL " name
		}
		next
	}
	/^FAIL / { nfail++; unexpected[++nu] = $0; next }
	/^SKIP / { next }
	# the total of report.awk, replaced by the one below
	/^[0-9]+ passed, [0-9]+ failed$/ { next }
	{ print }
	END {
		for (i = 1; i <= nlisted; i++) {
			name = order[i]
			if (!(name in ran))
				unexpected[++nu] = "LISTED " name ": never ran"
			else if (ran[name] != "FAIL")
				unexpected[++nu] = "LISTED " name ": " (ran[name] == "PASS" ? "passes" : "skipped") " (take it off " listfile ")"
			else
				continue
			nfail++
		}
		for (i = 1; i <= nbad; i++) {
			unexpected[++nu] = bad[i]
			nfail++
		}
		printf "%-28s %5s %5s %5s %5s\n", "fixture", "pass", "fail", "xfail", "skip"
		for (i = 1; i <= nfx; i++) {
			fx = fxs[i]
			printf "%-28s %5d %5d %5d %5d\n", fx, pass[fx], fail[fx], xfail[fx], skip[fx]
		}
		for (i = 1; i <= nu; i++)
			print unexpected[i]
		printf "%d passed, %d failed, %d expected-fail, %d skipped\n", npass, nfail, nxfail, nskip
		exit nfail > 0
	}'
}

run() {
	local image=$1 run_out=${RUN_OUT:-$BUILD/run-conformance} log plan t
	image=$(realpath -m "$image")
	[ -f "$image" ] || die "no kernel image at $image; run 'make kernel'"
	[ -f "$LIST" ] || die "no expected-failure list at $LIST"
	build
	log=$run_out/console.log
	plan=$run_out/plan
	mkdir -p "$run_out"
	: >"$plan"
	for t in $PROGS; do
		echo "kselftest $t" >>"$plan"
	done
	"$TOP/harness/initramfs.sh" "$run_out/initramfs.cpio.gz" "$BIN" "$plan"
	rm -f "$log"
	TIMEOUT=${TIMEOUT:-2400} "$TOP/harness/boot.sh" "$image" "$run_out/initramfs.cpio.gz" \
		"$log" kunit.enable=0
	grep -aq '^@@@ cmdqv-done' "$log" || { echo "--- last lines of $log:"; tail -n 25 "$log"; echo "---"; }
	verdict "$log"
}

# report.awk's exit status is judge's business: what it failed is listed.
verdict() {
	local log=$1
	[ -f "$log" ] || die "no console log at $log; run 'conformance.sh run IMAGE' first"
	note "judging $log against $LIST"
	if ! { awk -v expect="kselftest:iommufd kselftest:iommufd_fail_nth" -v passes=1 \
		-f "$TOP/harness/report.awk" "$log" || true; } | judge; then
		exit 1
	fi
}

case ${1:-} in
build) build ;;
run) run "${2:?usage: conformance.sh run IMAGE}" ;;
judge) verdict "${2:-${RUN_OUT:-$BUILD/run-conformance}/console.log}" ;;
*) die "usage: conformance.sh build | run IMAGE | judge [LOG]" ;;
esac
