#!/usr/bin/env bash
# Make an IORT that upgrades QEMU's: every PCI root complex node gets the
# CANWBS memory access flag (IORT issue E.f: bit 2 of the memory flags byte,
# node offset 23), the OEM revision goes up by one (the kernel takes an initrd
# table only over an older revision of the same OEM ID and table ID) and the
# checksum is fixed.
#
#   iort-canwbs.sh HEX OUT.aml
#
# HEX is the table as hex digits (whitespace ignored), as the guest's /init
# prints it on its "@@@ cmdqv-iort" console line. Plain bash: no xxd.
. "$(dirname "$0")/lib.sh"

IN=${1:?usage: iort-canwbs.sh HEX OUT.aml}
OUT=${2:?usage: iort-canwbs.sh HEX OUT.aml}

hex=$(tr -d ' \t\r\n' <"$IN")
[[ $hex =~ ^([0-9a-fA-F][0-9a-fA-F])+$ ]] || die "$IN: not hex bytes (pairs of hex digits)"
n=$((${#hex} / 2))
bytes=()
for ((i = 0; i < n; i++)); do
	bytes[i]=$((16#${hex:2*i:2}))
done

le32() {
	echo $((bytes[$1] | bytes[$1 + 1] << 8 | bytes[$1 + 2] << 16 | bytes[$1 + 3] << 24))
}

put_le32() {
	local off=$1 val=$2 i
	for i in 0 1 2 3; do
		bytes[off + i]=$(((val >> (8 * i)) & 0xff))
	done
}

sum() {
	local s=0 b
	for b in "${bytes[@]}"; do
		s=$((s + b))
	done
	echo $((s & 0xff))
}

[ "$n" -ge 48 ] || die "$IN: $n bytes, too short for an IORT"
[ "${hex:0:8}" = 494f5254 ] || [ "${hex:0:8}" = 494F5254 ] ||
	die "$IN: signature is not IORT"
[ "$(le32 4)" = "$n" ] || die "$IN: header length $(le32 4), but $n bytes"
[ "$(sum)" = 0 ] || die "$IN: bad checksum: the table as read is corrupt"

count=$(le32 36)
off=$(le32 40)
rc=0
for ((i = 0; i < count; i++)); do
	[ $((off + 16)) -le "$n" ] || die "$IN: node $i at $off runs past the table"
	len=$((bytes[off + 1] | bytes[off + 2] << 8))
	if [ "$len" -lt 16 ] || [ $((off + len)) -gt "$n" ]; then
		die "$IN: node $i at $off has a bad length $len"
	fi
	if [ "${bytes[off]}" = 2 ]; then
		[ "$len" -ge 24 ] || die "$IN: root complex node at $off is only $len bytes"
		bytes[off + 23]=$((bytes[off + 23] | 0x04))
		rc=$((rc + 1))
	fi
	off=$((off + len))
done
[ "$rc" -ge 1 ] || die "$IN: no PCI root complex node"

rev=$(le32 24)
put_le32 24 $((rev + 1))
bytes[9]=0
bytes[9]=$(((256 - $(sum)) & 0xff))

mkdir -p "$(dirname "$OUT")"
# printf's format turns each \xHH into that byte, NUL included.
# shellcheck disable=SC2059
printf "$(printf '\\x%02x' "${bytes[@]}")" >"$OUT.tmp"
[ "$(stat -c %s "$OUT.tmp")" = "$n" ] || die "wrote $(stat -c %s "$OUT.tmp") bytes, not $n"
mv "$OUT.tmp" "$OUT"
note "IORT upgrade: $n bytes, CANWBS set in $rc root complex node(s), OEM revision $rev -> $((rev + 1))"
