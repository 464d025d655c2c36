#!/bin/sh
# The real-VMM stage's inner guest: load the edu DMA test driver, which binds
# the edu behind the accelerated vSMMU and runs its cases at probe, then print
# what the stage judges: what the driver and the SMMU driver said, and any
# kernel report with what follows it (the whole log is not dumped: the
# inner console is slow).
insmod /tests/edu_dma.ko
dmesg | grep -E 'edu-dma|arm-smmu-v3|iommu group'
dmesg | grep -E -A12 'BUG:|WARNING:|Oops|Kernel panic|UBSAN:|KASAN:|INFO: task|rcu: INFO|hung_task|soft lockup'
dmesg | grep -q 'edu-dma: 0 failed'
