#!/bin/sh
# The real-VMM stage's inner guest: load the edu DMA test driver, which binds
# the edu behind the accelerated vSMMU and runs its cases at probe, then show
# what it and the SMMU driver said (the whole log follows at the end anyway).
insmod /tests/edu_dma.ko || exit 1
dmesg | grep -E 'edu-dma|arm-smmu-v3|iommu group'
dmesg | grep -q 'edu-dma: 0 failed'
