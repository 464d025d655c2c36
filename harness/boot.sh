#!/usr/bin/env bash
# Boot the test kernel under QEMU (TCG) on an emulated SMMUv3 with an 'edu'
# DMA device behind it, and save the console log. How QEMU ended (timeout,
# boot watchdog, an exit status other than 0) is written into the log as an
# "@@@ cmdqv-…" line for the judge, report.awk; this script fails only when it
# could not run QEMU at all.
#
#   boot.sh IMAGE INITRAMFS LOG [extra kernel args…]
#
# BOOT=acpi (default: UEFI firmware, ACPI tables, as on Grace) or BOOT=dt.
# TIMEOUT=seconds for the whole guest run; BOOT_TIMEOUT=seconds to reach /init.
# EL2=1 boots the kernel at EL2 (virtualization=on), so that it runs KVM;
# MEM=size of the guest's RAM (default 2G). QEMU=the emulator (default
# qemu-system-aarch64 from PATH; 'make qemu' builds build/qemu/qemu-system-aarch64).
# ICOUNT=N: QEMU's -icount shift=N,sleep=off: guest time advances 2^N ns per
# guest instruction and skips idle periods, so a time measured inside the
# guest counts its own instructions and not the host's load (QEMU then runs
# the vCPUs in turn on one thread; slower, for benchmarks). QEMU_ARGS=more
# QEMU arguments (split at spaces, e.g. a TCG plugin), KARGS=more kernel ones.
# QEMU_CPU=QEMU's -cpu (default max,pauth-impdef=on: every feature QEMU has).
. "$(dirname "$0")/lib.sh"

IMAGE=${1:?usage: boot.sh IMAGE INITRAMFS LOG [args]}
INITRD=${2:?usage: boot.sh IMAGE INITRAMFS LOG [args]}
LOG=${3:?usage: boot.sh IMAGE INITRAMFS LOG [args]}
shift 3
BOOT=${BOOT:-acpi}
TIMEOUT=${TIMEOUT:-1500}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-180}
EFI_FW=${EFI_FW:-/usr/share/qemu-efi-aarch64/QEMU_EFI.fd}
QEMU=${QEMU:-qemu-system-aarch64}

need_tools "$QEMU" timeout
[ -f "$IMAGE" ] || die "no kernel image at $IMAGE; run 'make kernel'"
[ -f "$INITRD" ] || die "no initramfs at $INITRD; 'make run' builds it"

# 'iommu=smmuv3' puts an SMMUv3 (stage 1 + stage 2 + nesting in QEMU >= 10)
# in front of the PCIe root complex; everything on it, edu included, is
# translated. Two edu devices at fixed addresses (Stream IDs 0x8 and 0x10):
# the tests use the first, and smmu_nested's smmu_two_edu the second as a
# bystander that the first one's bad input must not disturb. pauth-impdef:
# the architected pointer-auth hash is very slow under TCG, and the tests do
# not depend on which hash is used.
#
# MACHINE=smmuv3 (default) is that machine. MACHINE=cmdqv has the same SMMUv3
# as a device with an emulated Tegra241 CMDQV beside it (cmdqv=on without
# accel: our QEMU patches, 'make qemu'), which the kernel finds through the
# DSDT's NVDA200C node, as on Grace. Every register write to the CMDQV and
# every command one of its queues executes is traced into LOG.cmdqv, so that
# tests can judge what the hardware saw; so is every command the SMMU's own
# queue executes (smmuv3_cmdq_consume, then smmuv3_cmdq_opcode), and QEMU's
# guest-error log goes there too.
machine=virt,gic-version=3
smmu=()
case ${MACHINE:-smmuv3} in
smmuv3) machine+=,iommu=smmuv3 ;;
cmdqv)
	[ "$BOOT" = acpi ] || die "MACHINE=cmdqv needs BOOT=acpi: the kernel finds a CMDQV only through ACPI"
	smmu=(-device arm-smmuv3,primary-bus=pcie.0,stage=nested,cmdqv=on
		-trace "tegra241_cmdqv_emu_*" -trace smmuv3_cmdq_consume
		-trace smmuv3_cmdq_opcode -d guest_errors -D "$LOG.cmdqv")
	;;
*) die "MACHINE must be smmuv3 or cmdqv, not '$MACHINE'" ;;
esac
[ "${EL2:-0}" = 1 ] && machine+=,virtualization=on
icount=()
if [ -n "${ICOUNT:-}" ]; then
	[[ $ICOUNT =~ ^([0-9]|10)$ ]] || die "ICOUNT must be a shift from 0 to 10, not '$ICOUNT'"
	icount=(-icount "shift=$ICOUNT,sleep=off")
fi
qemu=("$QEMU" -machine "$machine" "${smmu[@]}" "${icount[@]}"
	-cpu "${QEMU_CPU:-max,pauth-impdef=on}" -smp 2 -m "${MEM:-2G}" -nographic -no-reboot -nic none
	-kernel "$IMAGE" -initrd "$INITRD"
	-device edu,addr=01.0 -device edu,addr=02.0)
# shellcheck disable=SC2206 # split at spaces, as documented
[ -n "${QEMU_ARGS:-}" ] && qemu+=($QEMU_ARGS)
cmdline="console=ttyAMA0 panic=-1 oops=panic"
case $BOOT in
acpi)
	[ -f "$EFI_FW" ] || die "no UEFI firmware at $EFI_FW; run 'make deps' (qemu-efi-aarch64)"
	qemu+=(-bios "$EFI_FW")
	cmdline+=" acpi=force"
	;;
dt) cmdline+=" acpi=off" ;;
*) die "BOOT must be acpi or dt, not '$BOOT'" ;;
esac
cmdline+=" $*${KARGS:+ $KARGS}"

mkdir -p "$(dirname "$LOG")"
rm -f "$LOG.cmdqv"
note "booting ($BOOT, timeout ${TIMEOUT}s): $cmdline"
echo "# qemu: ${qemu[*]} -append \"$cmdline\"" >"$LOG"
start=$(date +%s.%N)
# A kernel that never reaches /init is stopped early, not at TIMEOUT.
pidfile=$LOG.pid
rm -f "$pidfile"
(
	# Holds no pipe of ours open, so nothing waits for it once QEMU is gone.
	exec >/dev/null 2>&1
	sleep "$BOOT_TIMEOUT"
	if ! grep -aq '^@@@ cmdqv-init' "$LOG" && [ -f "$pidfile" ]; then
		echo "@@@ cmdqv-boot-timeout $BOOT_TIMEOUT" >>"$LOG"
		kill "$(cat "$pidfile")" 2>/dev/null
	fi
) &
watchdog=$!
# Progress on the terminal: the harness's own framing lines; all in $LOG.
{
	rc=0
	timeout --kill-after=10 "$TIMEOUT" "${qemu[@]}" -pidfile "$pidfile" \
		-append "$cmdline" </dev/null 2>&1 || rc=$?
	echo "$rc" >"$LOG.rc"
} | tee -a "$LOG" | { grep --line-buffered -a '^@@@ cmdqv-\(begin\|end\|done\)' || true; }
rc=$(cat "$LOG.rc")
rm -f "$LOG.rc" "$pidfile"
pkill -P "$watchdog" sleep 2>/dev/null || true
kill "$watchdog" 2>/dev/null || true
wait "$watchdog" 2>/dev/null || true
end=$(date +%s.%N)
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
	echo "@@@ cmdqv-timeout $TIMEOUT" >>"$LOG"
elif [ "$rc" != 0 ] && ! grep -aq '^@@@ cmdqv-boot-timeout' "$LOG"; then
	echo "@@@ cmdqv-qemu-exit $rc" >>"$LOG"
fi
echo "# host wall time $(echo "$end - $start" | bc) s, qemu exit $rc" >>"$LOG"
note "guest run took $(printf '%.1f' "$(echo "$end - $start" | bc)") s (qemu exit $rc)"
