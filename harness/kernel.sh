#!/usr/bin/env bash
# Configure and build the arm64 test kernel from build/linux:
# allnoconfig + configs/test.config, objects in build/obj-test.
#
#   kernel.sh [extra make targets…]
#   CONFIG_ONLY=1 kernel.sh   configure and check the fragment, build nothing
#   CHECKERS=0 kernel.sh      without the fragment's checkers (KASAN, UBSAN,
#                             lockdep, kmemleak), as users run the code: for
#                             make bench-smmu; objects in build/obj-test-nochk
. "$(dirname "$0")/lib.sh"

KOUT=${KOUT:-$BUILD/obj-test$(checkers_suffix)}
FRAGMENT=${FRAGMENT:-$TOP/configs/test.config}
LOG=${KLOG:-$BUILD/logs/kernel-build.log}
# Written last by whatever made $TREE (tree.sh; mainline.sh for its tree).
TREE_STAMP=${TREE_STAMP:-$TREE/.git/cmdqv-tree}
CROSS=$(cross_compile)

need_tools make "${CROSS}gcc" ccache bc bison flex perl
[ -f "$TREE_STAMP" ] || die "no work tree at $TREE; run 'make tree' first"

setup_ccache "$TOP" 4G
# Fixed build identity: the version banner does not defeat ccache.
export KBUILD_BUILD_USER=cmdqv-lts KBUILD_BUILD_HOST=ci KBUILD_BUILD_TIMESTAMP="2025-11-01"
objects_for_base "$KOUT" "$TREE" "$TREE_STAMP"
mkdir -p "$(dirname "$LOG")"
if [ "${CHECKERS:-1}" = 0 ]; then
	without_checkers "$FRAGMENT" >"$KOUT/fragment-nochk.config"
	FRAGMENT=$KOUT/fragment-nochk.config
fi

kmake() {
	make -C "$TREE" O="$KOUT" ARCH=arm64 CROSS_COMPILE="$CROSS" \
		CC="ccache ${CROSS}gcc" -j"$(($(nproc) + 1))" "$@"
}

# Every option a fragment sets must come out of Kconfig as written.
check_config() {
	local fragment=$1
	local line opt want bad=0
	while IFS= read -r line; do
		case $line in
		CONFIG_*=*)
			opt=${line%%=*}
			want=$line
			;;
		"# CONFIG_"*" is not set")
			opt=${line#\# }
			opt=${opt%% *}
			want=$line
			;;
		*) continue ;;
		esac
		if ! grep -qxF "$want" "$KOUT/.config"; then
			if [ "${want:0:1}" = "#" ] && ! grep -q "^$opt=" "$KOUT/.config"; then
				continue
			fi
			echo "config: wanted '$want', got '$(grep -E "^(# )?$opt[= ]" "$KOUT/.config" || echo unset)'" >&2
			bad=1
		fi
	done <"$fragment"
	[ $bad = 0 ] || die "$fragment does not survive Kconfig (lines above): fix a missing dependency in $(basename "$FRAGMENT")"
}

start=$(date +%s)
note "configuring: allnoconfig + $(basename "$FRAGMENT")"
kmake -s KCONFIG_ALLCONFIG="$FRAGMENT" allnoconfig >"$LOG" 2>&1 ||
	{ tail -n 20 "$LOG" >&2; die "kernel configuration failed (log: $LOG)"; }
check_config "$FRAGMENT"
# The options the kselftests we run declare they need.
check_config "$TREE/tools/testing/selftests/iommu/config"
if [ -n "${CONFIG_ONLY:-}" ]; then
	note "configured in $(($(date +%s) - start)) s: $KOUT/.config"
	exit 0
fi
note "building arm64 Image and uAPI headers (log: $LOG)"
# 'modules' (none in the tree) writes Module.symvers, for the real-VMM
# stage's out-of-tree test driver
if ! kmake Image headers modules "$@" >>"$LOG" 2>&1; then
	grep -E 'error|Error' "$LOG" | head -n 20 >&2 || true
	die "kernel build failed (log: $LOG); fix the tree in build/linux and rerun"
fi
note "kernel built in $(($(date +%s) - start)) s: $KOUT/arch/arm64/boot/Image"
