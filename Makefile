# Tegra241 CMDQV virtualization for Linux 6.12 LTS: the patch series and the
# harness that builds, boots and tests it. See README.md.
#
#   make deps        install build and test tools (root; Debian 12)
#   make             the product: Grace host kernel packages (linux-image,
#                    linux-headers) from Debian's arm64 config + the series,
#                    in build/packages, no -dbg (PKG_DBG=1 adds it); resumes where it stopped
#   make package-config  only merge and check that config (part of make check)
#   make package-smoke   boot the packaged kernel under the test QEMU, run the probe
#   make all         build the arm64 test kernel and the test programs
#   make qemu        our qemu-system-aarch64: pinned upstream QEMU + qemu/patches,
#                    cached in $CACHE/qemu, linked as build/qemu/qemu-system-aarch64
#   make check       build, boot under QEMU with an emulated SMMUv3, run every test
#                    (three boots: QEMU's IORT; one upgraded with CANWBS; the real-VMM stage)
#   make vmm         the real-VMM stage: Debian's QEMU 11.1 inside the test guest
#                    (KVM at the emulated EL2) gives its guest an accelerated vSMMU
#                    with a Tegra241 CMDQV (VMM_CMDQV=off: without)
#   make bench       build, boot and print the figures of tests/bench
#   make stress      build, boot and run tests/stress/iommufd_stress for DURATION
#                    seconds (default 1800; SEED=N, THREADS=N, PROCS=N); MODE=smmu:
#                    tests/stress/smmu_stress, nesting on the SMMU with edu DMA
#   make conformance mainline 7.3's own iommufd kselftests on our test kernel,
#                    judged against tests/conformance/expected-fail
#   make bench-smmu  vSMMU invalidation throughput, ours next to mainline 7.3
#                    (ROUNDS=N: N rounds, median; builds 'make mainline' first;
#                    guest time counts instructions, ICOUNT= for wall time;
#                    CHECKERS=0: both kernels without KASAN, lockdep, kmemleak)
#   make mainline    mainline 7.3 with the test kernel's configuration (build/obj-mainline)
#   make mainline-config  only configure it: every fragment line must survive
#                    7.3's Kconfig (part of make check, so the reference cannot rot)
#   make base-check  does the series apply on Debian's newest linux-source-6.12 of
#                    each pinned release? (FULL=1: build and test it too; pins unchanged)
#   make BASE=trixie …   another pinned base (configs/bases), in build/base-trixie
#   make tree        (re)create build/linux from the base + patches/ (FORCE=1 to discard work)
#   make export      write build/linux's commits after 'base' back to patches/
#   make lint        checkpatch --strict, kernel-doc, uAPI identical to mainline
#   make sparse      sparse (C=2) over the directories the series touches
#
# Narrowing a run:  make check TESTS=kunit KUNIT_GLOB='arm-smmu-v3*'
#                   make check TESTS=iommufd KSFT_ARGS='-f iommufd_ioas'
#                   make run TESTS='e2e canwbs'   (the end-to-end programs in both boots)

SHELL := /bin/bash
export CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/cmdqv-lts

# BASE=<name>: another base pinned in configs/bases (bookworm: Debian 12,
# trixie: Debian 13). Its tree, objects and packages go to build/base-<name>,
# so that the default base's stay.
DEFAULT_BASE := $(shell sed -n 's/^DEFAULT_BASE=//p' harness/lib.sh)
BASE    ?= $(DEFAULT_BASE)
BUILD   := $(CURDIR)/build$(if $(filter-out $(DEFAULT_BASE),$(BASE)),/base-$(BASE))
export BASE BUILD
# CHECKERS=0 (for make bench-smmu): both kernels without the test
# configuration's checkers (KASAN, UBSAN, lockdep, kmemleak), objects in
# build/obj-test-nochk and build/obj-mainline-nochk
export CHECKERS ?= 1
NOCHK   := $(if $(filter 0,$(CHECKERS)),-nochk)
KOUT    := $(BUILD)/obj-test$(NOCHK)
IMAGE   := $(KOUT)/arch/arm64/boot/Image
MIMAGE  := $(BUILD)/obj-mainline$(NOCHK)/arch/arm64/boot/Image
TESTBIN := $(BUILD)/tests

# What the full run executes, in order: KUnit and test programs in the first
# boot ("stress": a minute of tests/stress/iommufd_stress, STRESS_SEED=N;
# "conformance": mainline's own iommufd kselftests; "e2e": the
# end-to-end programs, tests/e2e, in this boot and the next); "canwbs" adds
# the second boot (IORT with CANWBS), "bypass" a third like it with
# arm_smmu_v3.bypass_vcmdq=1, "vmm" the real-VMM stage's boot (QEMU 11.1
# inside the guest); all three need ACPI boots.
TESTS ?= kunit iommufd iommufd_fail_nth stress conformance e2e $(if $(filter dt,$(BOOT)),,canwbs bypass vmm)
export KUNIT_GLOB KSFT_ARGS BOOT TIMEOUT

.PHONY: base-check all deps tree export kernel selftests check run bench stress bench-smmu mainline lint sparse clean \
	package package-config package-smoke vmm mainline-config conformance qemu

.DEFAULT_GOAL := package

all: kernel selftests

package:
	@harness/tree.sh ensure
	@harness/package.sh build

package-config:
	@harness/tree.sh ensure
	@harness/package.sh config

# Boot what 'make' built on the test machine and run the probe there.
package-smoke:
	@harness/package.sh smoke

deps:
	@harness/deps.sh

tree:
	@harness/tree.sh create

export:
	@harness/tree.sh export

kernel:
	@harness/tree.sh ensure
	@harness/kernel.sh

selftests: kernel
	@harness/selftests.sh $(TESTBIN)
	@harness/conformance.sh build $(TESTBIN)

check: all qemu lint package-config mainline-config
	@harness/run.sh $(IMAGE) $(TESTBIN) "$(TESTS)"

# An unchanged QEMU 11.1 (arm64, trixie-backports) as the client of our uAPI,
# on the CMDQV machine with cmdqv=on (VMM_CMDQV=off: without it, to compare).
vmm: kernel qemu
	@harness/vmm.sh run $(IMAGE)

# Figures measured in the test guest: object memory and ioctl timing on the
# mock, and the VM lifecycle on the Tegra241 CMDQV KUnit model (a slow case).
bench: all qemu
	@KUNIT_SLOW=1 KUNIT_GLOB='tegra241-cmdqv-kunit-test.*lifecycle_cost' \
		harness/run.sh $(IMAGE) $(TESTBIN) "kunit iommufd_bench"

# The seeded multi-threaded stress of /dev/iommu on the mock: make stress
# DURATION=60 SEED=1 (harness/stress.sh: defaults, the guest's timeout);
# MODE=smmu: of nesting on the emulated SMMU, with the edu devices' DMA.
stress: all qemu
	@MODE=$(MODE) DURATION=$(DURATION) SEED=$(SEED) THREADS=$(THREADS) PROCS=$(PROCS) \
		harness/stress.sh $(IMAGE) $(TESTBIN)

# Mainline 7.3's iommufd kselftests, unchanged, against our kernel: the
# first boot of make check runs them too.
conformance: all qemu
	@harness/run.sh $(IMAGE) $(TESTBIN) conformance

# Mainline 7.3 with the test kernel's configuration, for comparison figures.
mainline:
	@harness/mainline.sh

mainline-config:
	@CONFIG_ONLY=1 harness/mainline.sh

# IOMMU_HWPT_INVALIDATE on a vSMMU: ours and mainline's, same QEMU, one run.
bench-smmu: all mainline
	@harness/bench-smmu.sh $(IMAGE) $(MIMAGE) $(TESTBIN)

# Our own QEMU (pinned upstream + qemu/patches), built once per input.
qemu:
	@harness/qemu.sh

# Debian's newest 6.12 against the pins (configs/bases), never moving them.
base-check:
	@harness/base-check.sh

# Boot what is already built, without rebuilding.
run:
	@harness/run.sh $(IMAGE) $(TESTBIN) "$(TESTS)"

lint: kernel
	@harness/lint.sh

sparse: kernel
	@harness/sparse.sh

clean:
	rm -rf $(KOUT) $(TESTBIN) $(BUILD)/run $(BUILD)/run-vmm $(BUILD)/bench-smmu $(BUILD)/logs
