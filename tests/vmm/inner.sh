#!/bin/sh
# The real-VMM stage's inner guest: load the edu DMA test driver, which binds
# the edu behind the accelerated vSMMU and runs its cases at probe, then print
# what the stage judges: what the driver and the SMMU driver said, and any
# kernel report with what follows it (the whole log is not dumped: the
# inner console is slow).
insmod /tests/edu_dma.ko
# A fault event comes after the DMA that caused it, through the host's
# vEVENTQ and QEMU: wait (15 s at most each) until every IOVA the driver
# announced is the address of a translation fault event in the log.
for a in $(dmesg | grep -o 'edu-dma: fault expected at 0x[0-9a-f]*' | grep -o '0x[0-9a-f]*$'); do
	i=0
	until dmesg | grep -A3 'event 0x10 received' | grep -q "$a\$" || [ $i -ge 15 ]; do
		sleep 1
		i=$((i + 1))
	done
done
dmesg | grep -E -A4 'edu-dma|arm-smmu-v3|iommu group|tegra241|CMDQV'
dmesg | grep -E -A12 'BUG:|WARNING:|Oops|Kernel panic|UBSAN:|KASAN:|INFO: task|rcu: INFO|hung_task|soft lockup'
dmesg | grep -q 'edu-dma: 0 failed'
