#!/usr/bin/env bash
# Mainline, built like the test kernel, for the figures of make bench-smmu:
# Debian's linux-source-7.3 (the package harness/abi.sh takes mainline's
# uAPI from) unpacked into build/mainline, configured as allnoconfig +
# configs/test.config (less the lines configs/mainline.config drops) +
# configs/mainline.config, and built by harness/kernel.sh, same compiler
# and ccache, into build/obj-mainline. With CONFIG_ONLY=1 (make
# mainline-config, part of make check) it only configures and checks that
# every fragment line survives 7.3's Kconfig, so the reference cannot rot.
. "$(dirname "$0")/lib.sh"

MTREE=$BUILD/mainline
MOUT=$BUILD/obj-mainline$(checkers_suffix)	# CHECKERS=0: kernel.sh
MCONFIG=$TOP/configs/mainline.config
STAMP=$MTREE/.cmdqv-mainline	# the package version, written last

need_tools dpkg-deb tar xz
deb=$("$TOP/harness/abi.sh" --deb)
version=$(dpkg-deb -f "$deb" Version)
pkg=$(dpkg-deb -f "$deb" Package)

if [ "$(cat "$STAMP" 2>/dev/null)" != "$version" ]; then
	note "unpacking $pkg $version into $MTREE"
	rm -rf "$MTREE.new"
	mkdir -p "$MTREE.new"
	dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/src/$pkg.tar.xz" |
		tar -xJ -C "$MTREE.new" --strip-components=1 ||
		die "could not unpack $pkg from $deb (disk full?); free space, then retry"
	echo "$version" >"$MTREE.new/.cmdqv-mainline"
	rm -rf "$MTREE"
	mv "$MTREE.new" "$MTREE"
fi

mkdir -p "$MOUT"
drops=$(sed -n 's/^# drop: //p' "$MCONFIG")
{
	if [ -n "$drops" ]; then
		grep -vxF "$drops" "$TOP/configs/test.config"
	else
		cat "$TOP/configs/test.config"
	fi
	cat "$MCONFIG"
} >"$MOUT/fragment.config.tmp"
mv "$MOUT/fragment.config.tmp" "$MOUT/fragment.config"

TREE=$MTREE TREE_STAMP=$STAMP KOUT=$MOUT FRAGMENT=$MOUT/fragment.config \
	KLOG=$BUILD/logs/mainline-build.log exec "$TOP/harness/kernel.sh"
