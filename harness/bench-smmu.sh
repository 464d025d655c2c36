#!/usr/bin/env bash
# IOMMU_HWPT_INVALIDATE throughput on a vSMMU, our kernel next to mainline's
# (harness/mainline.sh: 7.3, same configuration), on the same QEMU in one
# run. Each kernel gets harness/run.sh's two boots: QEMU's IORT, then the
# table upgraded with CANWBS (so a vSMMU is allowed), where only smmu_s2's
# iort check and the program smmu_inv_bench run. Prints the figures side by
# side; exits non-zero if either kernel's run had a failure (the figures of
# a kernel that produced them are still printed).
#
#   bench-smmu.sh OUR_IMAGE MAINLINE_IMAGE TESTDIR
#
# ROUNDS=N (default 1): boot ours, mainline, ours, mainline… N times each;
# every figure is then the median of the N rounds' medians.
#
# ICOUNT=N (default 0; empty: off): the boots run under QEMU's -icount
# (harness/boot.sh), so the guest's clock counts guest instructions, 2^N ns
# each: a figure is then the kernel's own work per call (in instructions:
# 1e9 / 2^N / calls/s) and no longer depends on the host's load or on which
# host core QEMU ran on. What it does not count is QEMU's device model: an
# MMIO access or a command the SMMU model executes costs one instruction.
# Without it, wall-clock figures move by a third from one boot to the next.
#
# QEMU_CPU (default neoverse-n2,pauth-impdef=on): the vCPU. Grace's cores
# are Neoverse V2 (Armv9.0-A); QEMU has no V2, and its N2 is the same
# architecture version. Not 'max': it has FEAT_MOPS (Armv8.8), which 7.3's
# memset, memcpy and user copies use and 6.12 does not: one instruction
# there clears or copies a whole buffer, a head start Grace never gives it.
#
# CHECKERS=0 (make bench-smmu CHECKERS=0 builds them): both Images built
# without the test configuration's KASAN, UBSAN, lockdep and kmemleak, which
# make most of a call's instructions and are the base kernels' own code.
. "$(dirname "$0")/lib.sh"

OURS=${1:?usage: bench-smmu.sh OUR_IMAGE MAINLINE_IMAGE TESTDIR}
MAINLINE=${2:?usage: bench-smmu.sh OUR_IMAGE MAINLINE_IMAGE TESTDIR}
TESTDIR=${3:?usage: bench-smmu.sh OUR_IMAGE MAINLINE_IMAGE TESTDIR}
ROUNDS=${ROUNDS:-1}
export ICOUNT=${ICOUNT-0}
export QEMU_CPU=${QEMU_CPU:-neoverse-n2,pauth-impdef=on}
# A kernel without kmemleak: /init is told so rather than failing the boot
[ "${CHECKERS:-1}" = 0 ] && export KARGS="${KARGS:+$KARGS }kmemleak=off"
OUT=$BUILD/bench-smmu$(checkers_suffix)
# The CANWBS boot's programs, and in them the cases that run
PROGS="smmu_s2 smmu_inv_bench"
ARGS="-r iort.canwbs.memory_flags -f smmu_inv_bench"

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive number, not '$ROUNDS'"
rm -rf "$OUT"
mkdir -p "$OUT"
: >"$OUT/ours.figures"
: >"$OUT/mainline.figures"
status=0
for ((round = 1; round <= ROUNDS; round++)); do
	for k in ours mainline; do
		image=$OURS
		[ $k = mainline ] && image=$MAINLINE
		run=$OUT/$k.$round
		note "round $round/$ROUNDS, $k: $image (host load $(cut -d" " -f1-3 /proc/loadavg))"
		if ! MACHINE=smmuv3 RUN_OUT=$run E2E=$PROGS KSFT_ARGS=$ARGS "$TOP/harness/run.sh" "$image" \
			"$TESTDIR" canwbs 2>&1 | tee "$run.verdict" | sed "s/^/$k: /" >&2; then
			status=1
		fi
		# "# inv-bench n=N calls/s=X cmds/s=Y runs=R min=A max=B"
		grep -a '^# inv-bench ' "$run/console-canwbs.log" 2>/dev/null |
			tr -d '\r' | sed 's/^# inv-bench //' >>"$OUT/$k.figures" || true
	done
done

echo
echo "IOMMU_HWPT_INVALIDATE on a vSMMU, arrays of TLBI_NH_VA: median of 5 runs of 2 s,"
[ "$ROUNDS" = 1 ] || echo "then median of $ROUNDS rounds (ours and mainline booted in turn),"
echo "QEMU TCG -cpu $QEMU_CPU${ICOUNT:+ -icount shift=$ICOUNT (guest time counts guest instructions)}," \
	"both kernels $([ "${CHECKERS:-1}" = 0 ] && echo without || echo with) KASAN, lockdep and kmemleak (logs in $OUT)"
awk -v shift="$ICOUNT" '
function val(s, key,    i, f) {
	for (i = 1; i <= split(s, f, " "); i++)
		if (index(f[i], key "=") == 1)
			return substr(f[i], length(key) + 2)
	return ""
}
# Median of the values collected for (k, n), "-" if none.
function median(k, n,    c, i, j, v, t) {
	c = cnt[k, n] + 0
	if (!c)
		return "-"
	for (i = 1; i <= c; i++)
		v[i] = vals[k, n, i]
	for (i = 2; i <= c; i++)
		for (j = i; j > 1 && v[j - 1] > v[j]; j--) {
			t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
		}
	return c % 2 ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2
}
{
	k = FILENAME ~ /ours/ ? "ours" : "main"
	n = val($0, "n")
	vals[k, n, ++cnt[k, n]] = val($0, "calls/s") + 0
	if (!((k, n) in lo) || val($0, "min") + 0 < lo[k, n])
		lo[k, n] = val($0, "min") + 0
	if (val($0, "max") + 0 > hi[k, n])
		hi[k, n] = val($0, "max") + 0
}
function cell(k, n,    m) {
	m = median(k, n)
	return m == "-" ? sprintf("%10s %10s", "-", "-") : sprintf("%10.0f %10.0f", m, m * n)
}
function range(k, n) {
	return ((k, n) in lo) ? sprintf("%.0f-%.0f", lo[k, n], hi[k, n]) : "-"
}
END {
	fmt = "%-9s | %21s | %21s | %s\n"
	printf fmt, "TLBI/call", "ours: calls/s cmds/s", "7.3: calls/s cmds/s", "ours/7.3"
	split("1 16 256", sizes, " ")
	for (i = 1; i <= 3; i++) {
		n = sizes[i]
		r = "-"
		if (median("ours", n) != "-" && median("main", n) != "-")
			r = sprintf("%.2f", median("ours", n) / median("main", n))
		printf fmt, n, cell("ours", n), cell("main", n), r
	}
	if (cnt["ours", 1] > 1) {
		printf "ours/7.3 round by round:"
		for (i = 1; i <= 3; i++) {
			n = sizes[i]
			printf " x%s", n
			for (j = 1; j <= cnt["ours", n] && j <= cnt["main", n]; j++)
				printf " %.2f", vals["ours", n, j] / vals["main", n, j]
			printf ";"
		}
		printf "\n"
	}
	printf "calls/s of the slowest and fastest 2 s run:"
	for (i = 1; i <= 3; i++)
		printf " x%s ours %s, 7.3 %s;", sizes[i], range("ours", sizes[i]),
		       range("main", sizes[i])
	printf "\n"
	if (shift == "")
		exit
	# Under -icount a guest second is 1e9 / 2^shift instructions
	printf "guest instructions per call:"
	for (i = 1; i <= 3; i++)
		printf " x%s ours %s, 7.3 %s;", sizes[i], insns("ours", sizes[i]),
		       insns("main", sizes[i])
	printf "\n"
}
function insns(k, n,    m) {
	m = median(k, n)
	return m == "-" ? "-" : sprintf("%.0f", 1e9 / 2 ^ shift / m)
}' "$OUT/ours.figures" "$OUT/mainline.figures"
for k in ours mainline; do
	[ "$(wc -l <"$OUT/$k.figures")" = $((3 * ROUNDS)) ] ||
		{ echo "$k: figures missing (see $OUT/$k.*/)"; status=1; }
done
exit $status
