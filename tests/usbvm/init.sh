#!/bin/busybox sh
# PID 1 in the test VM: mounts, USB gadget modules (two dummy controllers: two pens can be
# plugged at once), systemd-udevd with the pen's rule, the users pend runs as; then the
# scenario, then power off.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /run /tmp /dev/pts /var/lib
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
echo "[init $(cut -d' ' -f1 /proc/uptime)s] booted kernel $(uname -r)"
for m in usb-common usbcore udc-core dummy_hcd configfs libcomposite usb_f_fs; do
  args=""; [ "$m" = dummy_hcd ] && args="num=2"
  insmod /lib/modules/$m.ko $args || echo "[init] insmod $m FAILED"
done
mount -t configfs none /sys/kernel/config
echo "[init] UDCs: $(ls /sys/class/udc | tr '\n' ' ')"
# Users: pend runs as `pend`, in the system group `pen` the udev rule gives the pens to;
# `nopen` is a user outside it, to show what pend says when it may not open a pen.
cat > /etc/passwd <<'P'
root:x:0:0:root:/root:/bin/sh
pend:x:101:101:pen daemon:/var/lib/pend:/bin/sh
nopen:x:102:102:no pen access:/tmp:/bin/sh
P
cat > /etc/group <<'G'
root:x:0:
pend:x:101:
nopen:x:102:
pen:x:990:pend
G
mkdir -p /run/udev
/lib/systemd/systemd-udevd --daemon && echo "[init] systemd-udevd started"
sh /bin/scenario.sh
RC=$?
echo "[init] scenario exit code $RC"
if [ $RC = 0 ]; then echo "USBVM RESULT: PASS"; else echo "USBVM RESULT: FAIL"; fi
sync
poweroff -f
