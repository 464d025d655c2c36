#!/usr/bin/env bash
# Install what the harness needs on Debian 12 (x86_64 or arm64), as root.
# Idempotent: a second run installs nothing and takes seconds.
. "$(dirname "$0")/lib.sh"

command -v apt-get >/dev/null || die "apt-get not found: the harness expects Debian 12 (bookworm)"

# QEMU 10.0 from bookworm-backports: bookworm's 7.2 emulates SMMUv3 stage 1
# only (no nesting) and its 'edu' rejects a 4 KiB DMA. See README.
BPO=/etc/apt/sources.list.d/cmdqv-lts-bookworm-backports.sources
have_bpo() {
	grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/
}

changed=0
need_root() {
	[ "$(id -u)" = 0 ] || die "$1; 'make deps' must run as root for that (sudo make deps)"
}
if ! have_bpo; then
	need_root "bookworm-backports is not in apt's sources"
	cat >"$BPO" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	changed=1
fi

native=$(dpkg --print-architecture)
if [ "$native" != arm64 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
	# The guest's busybox is Debian's arm64 busybox-static.
	need_root "dpkg does not know the arm64 architecture"
	dpkg --add-architecture arm64
	changed=1
fi

pkgs=(make gcc libc6-dev ccache sparse bc bison flex perl python3 libssl-dev
	libelf-dev cpio gzip xz-utils file kmod rsync git procps coreutils dwarves
	dpkg-dev debhelper mmdebstrap libglib2.0-dev libfdt-dev ninja-build
	python3-venv)
# mmdebstrap: the real-VMM stage unpacks Debian's arm64 QEMU 11.1 with it.
# glib, libfdt, ninja, python3-venv: 'make qemu' (harness/qemu.sh) builds our
# own qemu-system-aarch64; configure takes its meson from the QEMU tree.
# The packages' linux-headers carries kernel tools built for arm64 (sign-file)
[ "$native" != arm64 ] && pkgs+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross libssl-dev:arm64)
bpo_pkgs=(qemu-system-arm qemu-efi-aarch64)

missing=()
for p in "${pkgs[@]}" "${bpo_pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
# An older qemu from bookworm itself does not count.
if dpkg --compare-versions "$(dpkg-query -W -f='${Version}' qemu-system-arm 2>/dev/null || echo 0)" lt 1:10; then
	missing+=(qemu-system-arm)
fi

if [ $changed = 1 ] || [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || die "missing: ${missing[*]:-apt setup}; 'make deps' must run as root to install them (sudo make deps)"
	note "apt-get update"
	apt-get update -qq >/dev/null || die "apt-get update failed: check network access to deb.debian.org, then rerun 'make deps'"
fi
if [ ${#missing[@]} -gt 0 ]; then
	note "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null ||
		die "apt-get install failed for: ${pkgs[*]}; see apt's message above, then rerun 'make deps'"
	apt-get install -y -qq --no-install-recommends -t bookworm-backports "${bpo_pkgs[@]}" >/dev/null ||
		die "apt-get install -t bookworm-backports ${bpo_pkgs[*]} failed; rerun 'make deps'"
fi
note "dependencies ready: $(qemu-system-aarch64 --version | head -n1)"
