#!/bin/sh
# The packages' smoke boot (harness/package.sh smoke), run by the test
# initramfs's /init: load the modules the packaged kernel has as modules
# (listed in /tests/modules/order, dependencies first), give the first edu
# to vfio-pci as an admin would, and run the probe. Its exit status is ours.
for m in $(cat /tests/modules/order 2>/dev/null); do
	insmod "/tests/modules/$m" || echo "smoke: insmod $m failed"
done
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor")" = 0x1234 ] && [ "$(cat "$d/device")" = 0x11e8 ] || continue
	echo vfio-pci >"$d/driver_override"
	[ -e "$d/driver" ] && echo "${d##*/}" >"$d/driver/unbind"
	echo "${d##*/}" >/sys/bus/pci/drivers_probe
	break
done
uname -r
/tests/cmdqv-probe
/tests/cmdqv-probe --json
