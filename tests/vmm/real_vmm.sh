#!/bin/sh
# The real-VMM stage's test program (harness/vmm.sh), run by the outer
# test guest's /init; prints KTAP. Debian's QEMU 11.1, unchanged, runs here with
# KVM and gives its own guest an accelerated vSMMU (arm-smmuv3,accel=on)
# over the first edu, bound to vfio-pci and handed over through iommufd; on
# the CMDQV machine with the Tegra241 CMDQV too (cmdqv=on), so that the inner
# guest's TLBIs go straight into a VCMDQ of the VINTF the host gave the VM.
# The inner guest (this kernel again, /tests/vmm/inner.cpio.gz) loads the
# edu DMA test driver (tests/vmm/edu_dma.c), whose cases move data through
# the DMA domain its kernel gave edu on that vSMMU, and prints its log;
# everything it prints is in $WORK/inner-N.log, and strace records every
# ioctl and mmap QEMU makes in $WORK/strace-N.log.
#
# Then QEMU is killed in the middle of a run (every iommufd object it made
# must go, which kmemleak at the end of the boot checks) and a last run must
# work as the first did.

WORK=/tmp/vmm
EDU=0000:00:01.0
QEMU=/usr/bin/qemu-system-aarch64
# Per wait (a run waits twice). On the CMDQV machine, on a 2-core host of
# 2026-12: 106-169 s to /init, 460-560 s in all
INNER_TIMEOUT=${INNER_TIMEOUT:-600}
QEMU_SERIES=$(cat /tests/vmm/qemu-series)
# QEMU's switch for the vSMMU's Tegra241 CMDQV (vmm.sh writes it): "on" on
# the CMDQV machine, where the inner guest's TLBIs go into a VCMDQ of a VINTF
# of its own, with no exit to QEMU; "off" where they trap into QEMU, which
# sends them to the host with IOMMU_HWPT_INVALIDATE.
CMDQV=$(cat /tests/vmm/cmdqv 2>/dev/null || echo off)
# "1": after the three runs with the CMDQV, a fourth without, judged the
# same, so that one boot gives both figures (vmm.sh VMM_COMPARE=1)
COMPARE=$(cat /tests/vmm/compare 2>/dev/null || echo 0)
# The inner guest's cases (edu_dma.c) with CMDQV=$1
inner_cases() {
	echo "round_trip streaming unmapped_iova unmap_revokes unmap_cost"
	[ "$1" = on ] && echo vcmdq_illegal
}
INNER_CASES=$(inner_cases $CMDQV)

mkdir -p $WORK
n=0
ok() {
	n=$((n + 1))
	echo "ok $n $1"
}
not_ok() {
	n=$((n + 1))
	echo "not ok $n $1"
}
check() {
	name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}
now() {
	cut -d' ' -f1 /proc/uptime
}
since() {
	awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'
}

kvm_ready() {
	[ -c /dev/kvm ] || { echo "# no /dev/kvm"; return 1; }
	dmesg | grep -m2 'kvm \[' | sed 's/^/# /'
	dmesg | grep -q 'kvm \[.*initialized successfully' ||
		{ echo "# KVM did not initialise (EL2 missing?)"; return 1; }
}

# As an admin would: vfio-pci takes the edu, its cdev appears
edu_to_vfio() {
	d=/sys/bus/pci/devices/$EDU
	[ -e $d ] || { echo "# no $EDU"; return 1; }
	echo vfio-pci >$d/driver_override
	[ -e $d/driver ] && echo $EDU >$d/driver/unbind
	echo $EDU >/sys/bus/pci/drivers_probe
	ls $d/vfio-dev 2>/dev/null | sed 's/^/# cdev: /'
	[ "$(basename "$(readlink $d/driver)")" = vfio-pci ] && [ -c /dev/iommu ] &&
		[ -n "$(ls $d/vfio-dev 2>/dev/null)" ]
}

qemu_version() {
	$QEMU --version | head -n1 | sed 's/^/# /'
	$QEMU --version | grep -q "version $QEMU_SERIES\."
}

# The command line QEMU documents for an accelerated vSMMU: ACPI (UEFI)
# boot, KVM, an iommufd object, the vSMMU on the root complex the
# vfio-pci device sits on. The inner vCPU is a thread of an emulated CPU
# that a busy host can leave unscheduled for tens of seconds: the lockup and
# RCU stall detectors would report the host's load, not the inner kernel
# (seen with a package build beside the stage), so they are off there.
qemu_cmd() {
	echo $QEMU -machine virt,gic-version=3 -accel kvm -cpu host -smp 1 -m 768M \
		-nographic -no-reboot -nic none \
		-bios /usr/share/qemu-efi-aarch64/QEMU_EFI.fd \
		-kernel /tests/vmm/Image -initrd /tests/vmm/inner.cpio.gz \
		-append \"console=ttyAMA0 acpi=force panic=-1 oops=panic quiet kunit.enable=0 kmemleak=off cmdqv.dmesg=off iommu.strict=1 nowatchdog rcupdate.rcu_cpu_stall_suppress=1\" \
		-object iommufd,id=iommufd0 \
		-device arm-smmuv3,primary-bus=pcie.0,id=smmuv3.0,accel=on,cmdqv=$CMDQV \
		-device vfio-pci,host=$EDU,iommufd=iommufd0
}

# Start run $1 in the background: QEMU under strace, its output in the log
start_qemu() {
	run=$1
	log=$WORK/inner-$run.log
	: >$log
	t0=$(now)
	# exec: $! is strace itself, whose death takes QEMU (--kill-on-exit)
	eval "exec strace --kill-on-exit -f -y -tt -e trace=ioctl,mmap -o $WORK/strace-$run.log $(qemu_cmd)" \
		</dev/null >$log 2>&1 &
	qpid=$!
}

# The console's lines end in CR LF; the checks want them without the CR
clean_log() {
	tr -d '\r' <$log >$log.tmp && mv $log.tmp $log
}

# Wait until the inner guest's log has $1 (a grep pattern), QEMU ends, or
# $2 seconds pass. Status 0 when the pattern came.
wait_for() {
	i=0
	while [ $i -lt "$2" ]; do
		grep -aq "$1" $log && return 0
		kill -0 $qpid 2>/dev/null || { grep -aq "$1" $log; return; }
		sleep 1
		i=$((i + 1))
	done
	return 1
}

# One whole inner run: boot, the DMA cases, its kernel log, power off
full_run() {
	start_qemu "$1"
	if wait_for '@@@ cmdqv-init' "$INNER_TIMEOUT"; then
		echo "# inner guest reached /init after $(since $t0) s"
	fi
	wait_for '@@@ cmdqv-done' "$INNER_TIMEOUT"
	done_ok=$?
	[ $done_ok = 0 ] || kill -9 $qpid 2>/dev/null
	wait $qpid
	qrc=$?
	clean_log
	echo "# run $1: QEMU exited with $qrc after $(since $t0) s"
	grep -a '^@@@ cmdqv-' $log | sed 's/^/# inner: /'
	grep -a -o 'edu-dma: unmap median .*' $log | sed "s/^/# run $1 (cmdqv=$CMDQV): /"
	# vcmdq_illegal's story, as the inner kernel told it
	grep -a -E 'edu-dma: the queue|CMDQ error|skipping command|tegra241_cmdqv: unexpected' $log |
		sort -u | head -n 8 | sed 's/^/# inner: /'
	echo "# run $1 (cmdqv=$CMDQV): IOMMU_HWPT_INVALIDATE x$(ioctl_lines $1 |
		grep -a -c ' ioctl([0-9]*</dev/iommu>, IOMMU_HWPT_INVALIDATE')"
	grep -a '^qemu-system-aarch64:' $log | sed 's/^/# /'
	[ $done_ok = 0 ] || { echo "# the inner guest did not finish; last lines:"; tail -n 20 $log | sed 's/^/#   /'; }
	return $done_ok
}

# The inner guest's result for its case $1, as one of ours
inner_case() {
	grep -a "edu-dma: not ok $1:" $log | sed 's/^/# inner: /'
	grep -aq "edu-dma: ok $1\$" $log
}

inner_probed() {
	grep -a 'arm-smmu-v3' $log | head -n 3 | sed 's/^/# inner: /'
	grep -a 'edu id' $log | sed 's/^/# inner: /'
	# 3: IOMMU_DOMAIN_DMA, a translating domain of the kernel's own
	# (7.3 no longer prints the input address size, only the output's)
	grep -aqE 'arm-smmu-v3.*: (ias [0-9]+-bit, )?oas [0-9]+-bit' $log &&
		grep -aq 'Adding to iommu group' $log &&
		grep -aq 'edu id 0x010000ed, IOMMU domain type 3$' $log
}

# unmapped_iova's and unmap_revokes's DMAs fault in the inner guest's stage 1; the outer SMMU
# reports them to our kernel, which forwards them through QEMU's vEVENTQ
# into the vSMMU's event queue: the inner driver logs them (0x10: translation)
# The driver names each IOVA; it must be the input address (the third word)
# of a translation fault event. inner.sh waits for as many events as the
# driver announced: the last DMA's event comes after the driver's last line.
inner_fault_event() {
	grep -a -E 'edu-dma: (fault expected|[0-9]+ failed)|event 0x10 received' $log |
		sed 's/^/# inner: /'
	want=$(sed -n 's/.*edu-dma: fault expected at 0x\([0-9a-f]*\)$/\1/p' $log | sort -u)
	[ -n "$want" ] || { echo "# the driver announced no fault"; return 1; }
	for a in $want; do
		hex=$(printf '0x%016x' 0x$a)
		if grep -a -A3 'event 0x10 received' $log | grep -aq "	$hex\$"; then
			echo "# fault at $hex reported to the inner guest"
		else
			echo "# no translation fault event at $hex"
			return 1
		fi
	done
}

# The inner kernel took the CMDQV QEMU gave its vSMMU (NVDA200C in its DSDT)
# and kept it: a guest-owned VINTF, whose queues QEMU gets from the host
inner_cmdqv() {
	grep -a -E 'CMDQV|tegra241|Falling back' $log | sed 's/^/# inner: /'
	grep -aq 'found companion CMDQV device' $log &&
		! grep -aq 'Falling back to standard SMMU CMDQ' $log
}

# QEMU mapped the VINTF's page 0 from the iommufd, one 64 KiB page, and no
# mmap of the iommufd failed
vintf_page_mapped() {
	grep -a 'mmap(.*</dev/iommu>' $WORK/strace-$1.log | sed 's/^/#   /'
	grep -a 'mmap(.*</dev/iommu>' $WORK/strace-$1.log | grep -aq ', 65536, .* = 0x' &&
		! grep -a 'mmap(.*</dev/iommu>' $WORK/strace-$1.log | grep -aq '= -1 '
}

INNER_REPORTS='BUG:|WARNING:|Oops|Kernel panic|unreferenced object|UBSAN:|KASAN:|INFO: task|rcu: INFO'
inner_clean() {
	! grep -a -E -A12 "$INNER_REPORTS" $log | sed 's/^/# inner: /' | grep .
}

# Every ioctl on an iommufd or VFIO file must succeed, but for the ones
# below, which QEMU makes knowing they may fail and which fail the same way on
# mainline: it probes (an IOVA_RANGES call to learn the size, the Tegra241
# HW_INFO type for cmdqv=auto, VFIO features and IRQ indexes edu lacks, a
# hot reset edu cannot do) and maps edu's BAR for peer-to-peer, which
# iommufd cannot pin. IOAS_CHANGE_PROCESS (mainline 6.14, for CPR live
# update) is not in this kernel: QEMU only blocks CPR without it.
EXPECTED_FAILS="iommufd:IOMMU_IOAS_IOVA_RANGES:EMSGSIZE iommufd:IOMMU_GET_HW_INFO:EOPNOTSUPP
iommufd:IOMMU_IOAS_MAP:EFAULT iommufd:IOMMU_IOAS_UNMAP:ENOENT
iommufd:IOMMU_IOAS_CHANGE_PROCESS:ENOTTY vfio:VFIO_DEVICE_GET_IRQ_INFO:EINVAL
vfio:VFIO_DEVICE_FEATURE:ENOTTY vfio:VFIO_DEVICE_GET_PCI_HOT_RESET_INFO:ENODEV"
# ...and the ones that make the vSMMU, each at least once and never failing
# (with CMDQV=$1). With the CMDQV the guest's TLBIs no longer trap, but QEMU
# still sends its CFGI_CDs with IOMMU_HWPT_INVALIDATE; it allocates a HW
# queue for each VCMDQ the guest enables.
needed() {
	echo "IOMMU_GET_HW_INFO IOMMU_VIOMMU_ALLOC IOMMU_VDEVICE_ALLOC IOMMU_HWPT_ALLOC"
	echo "IOMMU_HWPT_INVALIDATE IOMMU_VEVENTQ_ALLOC"
	[ "$1" = on ] && echo IOMMU_HW_QUEUE_ALLOC
}

# strace -f splits a call that another thread interrupts into
# "ioctl(... <unfinished ...>" and "<... ioctl resumed>...) = R": join them
ioctl_lines() {
	awk '
		/<unfinished \.\.\.>$/ { sub(/ <unfinished \.\.\.>$/, ""); pend[$1] = $0; next }
		/<\.\.\. ioctl resumed>/ { r = $0; sub(/.*<\.\.\. ioctl resumed>/, "", r); print pend[$1] r; next }
		/ ioctl\(/ { print }' $WORK/strace-$1.log
}

# Count every ioctl QEMU made; status 0 when the rules above hold
ioctls_ok() {
	ioctl_lines $1 | awk -v expected="$EXPECTED_FAILS" -v needed="$(needed $CMDQV)" '
		# The request as strace names it; the iommufd ones it does not
		# know by their number (iommufd.h)
		function req_name(line,    r, nr) {
			r = line
			sub(/^[^,]*, /, "", r)
			if (r ~ /^_IOC\(/) {
				nr = r
				sub(/^_IOC\([^,]*, 0x3b, /, "", nr)
				sub(/,.*/, "", nr)
				if (nr == "0x90") return "IOMMU_VIOMMU_ALLOC"
				if (nr == "0x91") return "IOMMU_VDEVICE_ALLOC"
				if (nr == "0x92") return "IOMMU_IOAS_CHANGE_PROCESS"
				if (nr == "0x93") return "IOMMU_VEVENTQ_ALLOC"
				if (nr == "0x94") return "IOMMU_HW_QUEUE_ALLOC"
				return "_IOC_" nr
			}
			sub(/[ ,].*/, "", r)
			return r
		}
		BEGIN {
			n = split(expected, e)
			for (i = 1; i <= n; i++) allowed[e[i]] = 1
			nneed = split(needed, need)
		}
		/ ioctl\(/ {
			total++
			kind = "other"
			if ($0 ~ /ioctl\([0-9]+<\/dev\/iommu>/) kind = "iommufd"
			else if ($0 ~ /ioctl\([0-9]+<\/dev\/vfio\//) kind = "vfio"
			else if ($0 ~ /ioctl\([0-9]+<anon_inode:kvm/ || $0 ~ /ioctl\([0-9]+<\/dev\/kvm>/) kind = "kvm"
			count[kind]++
			req = req_name($0)
			if ($0 ~ /= -1 /) {
				failed[kind]++
				if (kind == "kvm" || kind == "other") {
					err = $0
					sub(/.*= -1 /, "", err)
					sub(/ .*/, "", err)
					other_fail[kind ":" req ":" err]++
				}
				if (kind == "iommufd" || kind == "vfio") {
					err = $0
					sub(/.*= -1 /, "", err)
					sub(/ .*/, "", err)
					key = kind ":" req ":" err
					if (key in allowed) {
						known[key]++
					} else {
						bad++
						print "#   unexpected failure: " $0
					}
				}
			} else if (kind == "iommufd") {
				good[req]++
			}
		}
		END {
			for (k in known) print "#   failed as expected: " k " x" known[k]
			# Not judged: KVM capability probes and the like
			for (k in other_fail) print "#   failed (not iommufd/VFIO): " k " x" other_fail[k]
			for (i = 1; i <= nneed; i++)
				if (!(need[i] in good)) {
					bad++
					print "#   never succeeded: " need[i]
				}
			printf "# ioctls: %d (iommufd %d, vfio %d, kvm %d, other %d); failed: iommufd %d, vfio %d, kvm %d, other %d\n",
				total, count["iommufd"], count["vfio"], count["kvm"], count["other"],
				failed["iommufd"], failed["vfio"], failed["kvm"], failed["other"]
			exit bad > 0
		}' 
}

# The iommufd ioctls in the order QEMU made them, once each with a count
ioctl_sequence() {
	ioctl_lines $1 | grep -a ' ioctl([0-9]*</dev/iommu>' |
		sed -e 's/.*ioctl([0-9]*<\/dev\/iommu>, //' \
			-e 's/^_IOC([^,]*, 0x3b, \(0x9[0-4]\),[^)]*)/iommufd-cmd-\1/' \
			-e 's/^\([A-Za-z_0-9-]*\).* = \(.*\)$/\1 = \2/' |
		uniq -c | sed 's/^/#   /'
}

echo "TAP version 13"
cmdqv_checks=0
[ "$CMDQV" = on ] && cmdqv_checks=2
# A run judged alone (judge_run): 3 checks and its cases
compare_checks=0
[ "$COMPARE" = 1 ] && [ "$CMDQV" = on ] &&
	compare_checks=$((3 + $(inner_cases off | wc -w)))
echo "1..$((13 + cmdqv_checks + compare_checks + 2 * $(echo $INNER_CASES | wc -w)))"
check kvm_ready kvm_ready
check edu_to_vfio edu_to_vfio
check qemu_version qemu_version
echo "# $(qemu_cmd)"

# A whole run ($1) and what every run is judged on
judge_run() {
	full_run $1
	check inner_run_$1 test $done_ok = 0
	for c in $INNER_CASES; do
		check "inner_$1.$c" inner_case "$c"
	done
	check inner_kernel_clean_$1 inner_clean
	echo "# iommufd ioctls of run $1:"
	ioctl_sequence $1
	check ioctls_succeed_$1 ioctls_ok $1
}

judge_run 1
check inner_vsmmu inner_probed
check inner_fault_event inner_fault_event
if [ "$CMDQV" = on ]; then
	check inner_cmdqv inner_cmdqv
	check vintf_page_mapped vintf_page_mapped 1
fi

# The objects that make a vSMMU, each made (status 0) in run $1 so far
vsmmu_made() {
	for req in IOMMU_VIOMMU_ALLOC IOMMU_VDEVICE_ALLOC IOMMU_HWPT_ALLOC 'IOMMU_VEVENTQ_ALLOC|0x3b, 0x93'; do
		ioctl_lines $1 | grep -a ' ioctl([0-9]*</dev/iommu>' | grep -a -E "$req" |
			grep -aq ' = 0$' || { echo "# run $1: no $req yet"; return 1; }
	done
}

kvm_vms() {
	ls /sys/kernel/debug/kvm 2>/dev/null | grep -c '^[0-9]*-[0-9]*$'
}

# Kill QEMU while its guest is running its DMA cases, with the vIOMMU, the
# vDEVICE, nested HWPTs and the vEVENTQ in place
start_qemu 2
killed=1
vms=0
if wait_for '@@@ cmdqv-begin kselftest:inner.sh' "$INNER_TIMEOUT"; then
	sleep 2
	vms=$(kvm_vms)
	# QEMU itself, not strace (which goes with it: --kill-on-exit)
	qemu_pid=$(pidof qemu-system-aarch64)
	if vsmmu_made 2 && [ -n "$qemu_pid" ] && kill -9 $qemu_pid; then
		killed=0
		echo "# run 2: QEMU killed after $(since $t0) s, with a vSMMU and $vms VM(s)"
	fi
fi
kill -9 $qpid 2>/dev/null
wait $qpid
clean_log
check qemu_killed_midway test $killed = 0

# The VM goes away asynchronously once its files are closed; the edu's
# VFIO file is free only then. Its debugfs directory ("PID-FD") tells.
vm_gone() {
	[ $killed = 0 ] && [ "$vms" -ge 1 ] && [ -d /sys/kernel/debug/kvm ] ||
		{ echo "# no VM was killed, or KVM's debugfs is missing"; return 1; }
	i=0
	while [ "$(kvm_vms)" != 0 ]; do
		[ $i -ge 120 ] && { echo "# the killed VM is still there after $i s"; return 1; }
		sleep 1
		i=$((i + 1))
	done
	echo "# the killed VM was gone $i s after the kill"
}
check killed_vm_torn_down vm_gone

# After the kill, a run works as the first one did
judge_run 3

# The same run without the CMDQV, for the figures beside run 1's
if [ "$COMPARE" = 1 ] && [ "$CMDQV" = on ]; then
	CMDQV=off
	INNER_CASES=$(inner_cases off)
	judge_run 4
fi
