#!/usr/bin/env bash
# Judge, from the host side, a boot on the CMDQV machine (boot.sh
# MACHINE=cmdqv): the kernel took the emulated CMDQV and sent its own SMMU
# commands through VINTF0's queues. Appends a framed TAP section
# "host:cmdqv" to the console log for report.awk, from the console and the
# device's trace (LOG.cmdqv).
#
#   cmdqv-host.sh LOG [disabled]
#
# "disabled": the kernel was booted with arm_smmu_v3.disable_cmdqv=1, so it
# must have left the CMDQV alone: no VCMDQ executed a command.
. "$(dirname "$0")/lib.sh"

LOG=${1:?usage: cmdqv-host.sh LOG [disabled]}
MODE=${2:-active}
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
if [ -f "$TRACE" ]; then
	while read -r count q; do
		out+=("# VINTF0 $q: $count commands")
	done < <(host_cmds | { grep -o 'vcmdq=[0-9]*' || true; } | sort | uniq -c)
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
else
	result "$((fallback == 0 ? 1 : 0))" no_fallback
	result "$((total > 0 ? 0 : 1))" host_commands_through_vintf0
	result "$((errors == 0 ? 0 : 1))" no_vintf0_command_error
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
