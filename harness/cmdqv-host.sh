#!/usr/bin/env bash
# Judge, from the host side, a boot on the CMDQV machine (boot.sh
# MACHINE=cmdqv): the kernel took the emulated CMDQV and sent its own SMMU
# commands through VINTF0's queues. Appends a framed TAP section
# "host:cmdqv" to the console log for report.awk, from the console and the
# device's trace (LOG.cmdqv).
#
#   cmdqv-host.sh LOG [quiet | disabled | bypass | vm on|off|on+off]
#
# "quiet": no test of the boot drove a device (KUnit, the mock only): as the
# default, but with no traffic to send, VINTF0's command count is not judged.
# "disabled": the kernel was booted with arm_smmu_v3.disable_cmdqv=1, so it
# must have left the CMDQV alone: no VCMDQ executed a command.
# "bypass": booted with arm_smmu_v3.bypass_vcmdq=1: the driver took the
# CMDQV (for VMs) but sends the host's own commands through the SMMU's
# queue, none through VINTF0's.
# "vm on": the boot ran VMs (the real-VMM stage) whose VMM asked for the
# CMDQV (QEMU's cmdqv=on): their guests' TLBIs ran in their own VINTFs' queues
# with their VMIDs, none trapped (to QEMU, and so through the SMMU's own
# queue), and when the
# last VM was gone no VINTF but VINTF0 held a queue, a SID slot or an enable.
# "vm off": VMs without the CMDQV; their TLBIs are counted, not judged.
# "vm on+off": both kinds of VM (vmm.sh VMM_COMPARE=1): judged as "on" but
# for the trapped TLBIs, which the VM without the CMDQV made.
. "$(dirname "$0")/lib.sh"

LOG=${1:?usage: cmdqv-host.sh LOG [quiet | disabled | bypass | vm on|off|on+off]}
MODE=${2:-active}
VM_CMDQV=${3:-}
TRACE=$LOG.cmdqv

n=0
out=()
result() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		out+=("ok $n $2")
	else
		out+=("not ok $n $2")
	fi
}
skip() {
	n=$((n + 1))
	out+=("ok $n $1 # SKIP $2")
}

# How many console lines (not the harness's own) match $1. No grep -q in
# a pipeline: with pipefail, a writer cut short by SIGPIPE fails it.
console_has() {
	local n
	n=$(tr -d '\r' <"$LOG" | grep -a -v '^@@@ \|^# ' | grep -a -c -e "$1" || true)
	[ "${n:-0}" -gt 0 ]
}

# Commands executed by VINTF0's queues without an error, per VCMDQ
host_cmds() {
	[ -f "$TRACE" ] || return 0
	grep -a -o 'tegra241_cmdqv_emu_cmd vintf=0 lvcmdq=[0-9]* vcmdq=[0-9]* [A-Z_0-9]* .* err=0' \
		"$TRACE" || true
}

# Commands the SMMU's own queue executed (each traced as
# smmuv3_cmdq_consume, then its opcode)
smmu_cmdq_cmds() {
	[ -f "$TRACE" ] || { echo 0; return; }
	grep -a -c 'smmuv3_cmdq_consume ' "$TRACE" || true
}

found=1
console_has 'found companion CMDQV device' && found=0
fallback=1
console_has 'Falling back to standard SMMU CMDQ' && fallback=0
total=$(host_cmds | wc -l)
errors=0
if [ -f "$TRACE" ]; then
	errors=$(grep -a -c 'tegra241_cmdqv_emu_cmd vintf=0 .* err=[1-9]' "$TRACE" || true)
fi

out+=("# trace: $TRACE")
main=$(smmu_cmdq_cmds)
out+=("# commands through the SMMU's own queue: $main")
if [ -f "$TRACE" ]; then
	while read -r count q; do
		out+=("# VINTF0 $q: $count commands")
	done < <(host_cmds | { grep -o ' vcmdq=[0-9]*' || true; } | sed 's/^ //' | sort | uniq -c)
	while read -r count c; do
		out+=("# VINTF0 $c: $count")
	done < <(host_cmds | awk '{ print $5 }' | sort | uniq -c | sort -rn | sed 8q)
fi

result "$found" companion_cmdqv_found
# The DSDT gives the CMDQV an interrupt: the ACPI walk must take it (the
# KUnit case that walks the PCI root complex's resources says the same of
# PNP0A08, on purpose)
console_has 'NVDA200C:[0-9]*: tegra241_cmdqv: no interrupt' && irq=1 || irq=0
result "$irq" error_interrupt_found
if [ "$MODE" = disabled ]; then
	console_has 'Detected disable_cmdqv=true'
	result $? disable_cmdqv_honoured
	result "$((fallback == 0 ? 0 : 1))" falls_back_to_smmu_cmdq
	result "$((total == 0 ? 0 : 1))" no_vcmdq_command
elif [ "$MODE" = bypass ]; then
	result "$((fallback == 0 ? 1 : 0))" no_fallback
	result "$((total == 0 ? 0 : 1))" bypass_vcmdq_honoured
	result "$((main > 0 ? 0 : 1))" host_commands_through_smmu_cmdq
else
	result "$((fallback == 0 ? 1 : 0))" no_fallback
	if [ "$MODE" = quiet ]; then
		skip host_commands_through_vintf0 "no test in this boot drove a device"
	else
		result "$((total > 0 ? 0 : 1))" host_commands_through_vintf0
	fi
	result "$((errors == 0 ? 0 : 1))" no_vintf0_command_error
fi

# The commands the VMs' own VINTFs (1 and up) executed, as
# "VINTF OPCODE VMID ERR"
vm_cmds() {
	[ -f "$TRACE" ] || return 0
	sed -n 's/.*tegra241_cmdqv_emu_cmd vintf=\([0-9]*\) lvcmdq=[0-9]* vcmdq=[0-9-]* \([A-Z_0-9]*\) .*vmid=\([0-9]*\) .*err=\([0-9-]*\).*/\1 \2 \3 \4/p' \
		"$TRACE" | awk '$1 != 0'
}

# A guest TLBI that trapped to the VMM reaches the host as an
# IOMMU_HWPT_INVALIDATE, which the kernel sends through the SMMU's own
# queue (as mainline does), not a VCMDQ: with the CMDQV in use the host sends
# nothing else of the NH forms there (its own go through VINTF0). A command
# of the SMMU's queue is traced as smmuv3_cmdq_consume, then its opcode; one
# of a VCMDQ as its opcode alone (then tegra241_cmdqv_emu_cmd).
trapped_tlbis() {
	[ -f "$TRACE" ] || { echo 0; return; }
	awk '
		/smmuv3_cmdq_consume / { main = 1; next }
		/smmuv3_cmdq_opcode / {
			if (main && $0 ~ /TLBI_NH_(VA|VAA|ASID)$/) n++
			main = 0
		}
		END { print n + 0 }' "$TRACE"
}

# The register writes to the config page (VINTF and allocation registers
# included), in order, as "OFFSET VALUE" in decimal
config_writes() {
	[ -f "$TRACE" ] || return 0
	sed -n 's/.*tegra241_cmdqv_emu_write offset=0x\([0-9a-f]\{1,4\}\) value=0x\([0-9a-f]*\) .*/\1 \2/p' "$TRACE" |
		awk '
		function hex(s,    i, n) {
			n = 0
			for (i = 1; i <= length(s); i++)
				n = n * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
			return n
		}
		{ print hex($1), hex($2) }'
}

# Replay them: what the VMs left behind, one line each. CMDQ_ALLOC(q) at
# 0x200 + 4q (bit 0 allocated, bits 20:15 the VINTF); VINTF v's registers
# at 0x1000 + 0x100v: CONFIG (bit 0 enable), SID_MATCH(s) at 0x40 + 4s (bit
# 0 enable).
vm_leftovers() {
	config_writes | awk '
		{ reg[$1] = $2 }
		END {
			for (off in reg) {
				v = reg[off]
				off += 0
				vi = int(v / 32768) % 64
				if (off >= 512 && off < 1024 && v % 2 && vi != 0)
					printf "CMDQ_ALLOC(%d) = %d: allocated to VINTF%d\n", (off - 512) / 4, v, vi
				if (off < 4352 || off >= 4096 + 256 * 64 || v % 2 == 0)
					continue
				vi = int((off - 4096) / 256)
				r = (off - 4096) % 256
				if (r == 0)
					printf "VINTF%d CONFIG = %d: enabled\n", vi, v
				else if (r >= 64 && r < 128)
					printf "VINTF%d SID_MATCH(%d) = %d: matching\n", vi, (r - 64) / 4, v
			}
		}'
}

# Each VINTF the VMs got, with the VMID the host programmed (CONFIG writes
# with ENABLE: VMID in bits 16:1, HYP_OWN bit 17), as "VINTF VMID HYP_OWN"
vm_vintfs() {
	config_writes | awk '
		$1 >= 4352 && $1 < 4096 + 256 * 64 && ($1 - 4096) % 256 == 0 && $2 % 2 {
			print int(($1 - 4096) / 256), int($2 / 2) % 65536, int($2 / 131072) % 2
		}'
}

if [ "$MODE" = vm ]; then
	out+=("# the VMs' VINTFs (VINTF VMID HYP_OWN), in the order enabled:")
	while read -r v vmid own; do
		out+=("#   VINTF$v VMID $vmid HYP_OWN $own")
	done < <(vm_vintfs)
	while read -r count op; do
		out+=("# VMs' queues: $op x$count")
	done < <(vm_cmds | awk '$4 == 0 { print $2 }' | sort | uniq -c | sort -rn)
	trapped=$(trapped_tlbis)
	out+=("# guest TLBIs trapped, run by the SMMU's own queue: $trapped")
	vintfs=$(vm_vintfs | wc -l)
	guest_owned=$(vm_vintfs | awk '$3 != 0' | wc -l)
	tlbis=$(vm_cmds | awk '$4 == 0 && $2 ~ /TLBI_NH_/' | wc -l)
	# Every TLBI of a VM carries the VMID its VINTF was enabled with
	wrong_vmid=$(vm_cmds | awk -v list="$(vm_vintfs | awk '{ printf "%s:%s ", $1, $2 }')" '
		BEGIN { n = split(list, l); for (i = 1; i <= n; i++) ok[l[i]] = 1 }
		$2 ~ /TLBI_/ && !(($1 ":" $3) in ok) { bad++ } END { print bad + 0 }')
	# The inner guest's one hostile command per run (edu_dma.c's
	# vcmdq_illegal: CFGI_ALL, CERROR_ILL) is the only error allowed
	vm_errors=$(vm_cmds | awk '$4 != 0 && !($2 ~ /CFGI_(STE_RANGE|ALL)$/ && $4 == 1)' | wc -l)
	illegal=$(vm_cmds | awk '$2 ~ /CFGI_(STE_RANGE|ALL)$/ && $4 == 1' | wc -l)
	out+=("# illegal commands the VMs' queues stopped on: $illegal")
	while read -r l; do
		out+=("#   left behind: $l")
	done < <(vm_leftovers)
	if [ "$VM_CMDQV" != off ]; then
		result "$((vintfs > 0 && guest_owned == 0 ? 0 : 1))" vm_vintf_guest_owned
		result "$((tlbis > 0 ? 0 : 1))" vm_tlbis_in_own_vintf
		result "$((wrong_vmid == 0 ? 0 : 1))" vm_tlbis_carry_vmid
		result "$((vm_errors == 0 ? 0 : 1))" vm_commands_no_other_error
		result "$((illegal > 0 ? 0 : 1))" vm_illegal_command_stopped
		# ...and it is the VM's business: the host logs no error of its own
		console_has 'unexpected error reported\|CMDQ error' && quiet=1 || quiet=0
		result "$quiet" vm_error_not_logged_by_host
		[ "$VM_CMDQV" = on ] && result "$((trapped == 0 ? 0 : 1))" no_trapped_guest_tlbi
	else
		result "$((vintfs == 0 ? 0 : 1))" no_vintf_without_cmdqv
	fi
	[ -z "$(vm_leftovers)" ] && left=0 || left=1
	result "$left" vm_state_cleared
fi

{
	echo "@@@ cmdqv-begin host:cmdqv"
	echo "TAP version 13"
	echo "1..$n"
	echo "# host commands through VINTF0's VCMDQs: $total"
	printf '%s\n' "${out[@]}"
	echo "@@@ cmdqv-end host:cmdqv rc=0"
} >>"$LOG"
note "CMDQV: host commands through VINTF0's VCMDQs: $total"
