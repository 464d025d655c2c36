# The devices of our qemu-system-aarch64 (harness/qemu.sh), which is
# configured --without-default-devices: only what is set here, and what it
# selects, is built. qemu.sh copies this file into the QEMU tree as
# configs/devices/aarch64-softmmu/cmdqv-test.mak.
#
# The board harness/boot.sh runs: -machine virt selects the GIC (v3, with
# the virtualization extension for EL2=1), PL011, fw_cfg (-kernel, -initrd
# and the UEFI -bios's boot), pflash, the PCIe host bridge, ACPI with IORT.
CONFIG_ARM_VIRT=y
# -machine virt,iommu=smmuv3 and -device arm-smmuv3,primary-bus=pcie.0;
# virt selects it already, set here because the tests are about it.
CONFIG_ARM_SMMUV3=y
# -device edu: the DMA device the tests assign. Not through PCI_DEVICES or
# TEST_DEVICES: without default devices, what they imply stays off.
CONFIG_EDU=y
