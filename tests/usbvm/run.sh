#!/bin/bash
# The real-USB test: pend, penctl and two gadget pens (pen-sim --usb) in a qemu VM with a
# stock Debian kernel, whose dummy_hcd gives the whole Linux USB stack (usbfs, hot-plug
# through udev) without hardware. One command, exit 0 iff every step of scenario.sh passed:
#
#   bash tests/usbvm/run.sh
#
# It installs qemu-system-x86 (apt) if missing, fetches the kernel, busybox-static and udev
# with `apt-get download` (not installed), builds static binaries, packs an initramfs, boots
# it under software emulation (TCG: /dev/kvm on our machines cannot boot stock kernels) and
# prints the VM's console. Work files go to $PEN_USBVM_WORK (default /tmp/pen-usbvm); the
# downloads are kept there, so later runs only rebuild and boot.
#
# env: SAMPLES=300 (latency round trips each way)  VM_TIMEOUT=420  SMP=2  MEM=1024
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
W=${PEN_USBVM_WORK:-/tmp/pen-usbvm}
SAMPLES=${SAMPLES:-300}
VM_TIMEOUT=${VM_TIMEOUT:-420}
SMP=${SMP:-2}
MEM=${MEM:-1024}
mkdir -p "$W/debs"
cd "$W"
now() { date +%s.%N; }
T0=$(now)
say() { echo "=== usbvm: $*"; }

# ---------- 1. packages: Debian's, through apt only ----------
apt_ready() { ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1 || apt-get update -qq; }
if ! command -v qemu-system-x86_64 >/dev/null; then
  apt_ready
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null
fi
apt_ready
# The ABI-versioned image package changes with every kernel security update: resolve it.
KPKG=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ && !f {print $2; f=1}')
KVER=${KPKG#linux-image-}
KROOT=$W/kernels/$KVER
fetch() { (cd debs && apt-get download "$@" 2>&1 | { grep -v 'Download is performed unsandboxed' || true; }); }
if [ ! -f "$KROOT/boot/vmlinuz-$KVER" ]; then
  fetch "$KPKG"
  mkdir -p "$KROOT"; dpkg-deb -x debs/"${KPKG}"_*.deb "$KROOT"
fi
if [ ! -x bb/bin/busybox ] || [ ! -x udevroot/bin/udevadm ]; then
  fetch busybox-static udev
  rm -rf bb udevroot; mkdir -p bb udevroot
  dpkg-deb -x debs/busybox-static_*.deb bb
  dpkg-deb -x debs/udev_*.deb udevroot
fi
BB=$W/bb/bin/busybox

# ---------- 2. our binaries, static (static-pie glibc: nothing else needed in the VM) ----------
TARGET=x86_64-unknown-linux-gnu
( cd "$ROOT" && RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --quiet --target $TARGET -p pend -p penctl -p pen-sim \
      --bin pend --bin penctl --bin pen-sim --bin pen-usb-bench )
BIN=$ROOT/target/$TARGET/release

# ---------- 3. initramfs ----------
R=$W/initrd-root
rm -rf "$R"; mkdir -p "$R"/{bin,sbin,lib/modules,lib/systemd,lib64,proc,sys,dev,run,tmp,etc/udev/rules.d,var/lib}
cp "$BB" "$R/bin/busybox"
cp "$HERE/init.sh" "$R/init"; chmod 755 "$R/init"
cp "$HERE/scenario.sh" "$R/bin/scenario.sh"
cp "$BIN/pend" "$BIN/penctl" "$BIN/pen-sim" "$BIN/pen-usb-bench" "$R/bin/"
cp "$ROOT/udev/70-pen.rules" "$R/etc/udev/rules.d/"
echo "$SAMPLES" > "$R/etc/usbvm-samples"
MD=$KROOT/lib/modules/$KVER/kernel
for m in drivers/usb/common/usb-common drivers/usb/core/usbcore drivers/usb/gadget/udc/udc-core \
         drivers/usb/gadget/udc/dummy_hcd fs/configfs/configfs drivers/usb/gadget/libcomposite \
         drivers/usb/gadget/function/usb_f_fs; do
  n=$(basename $m)
  if   [ -f "$MD/$m.ko" ];    then cp "$MD/$m.ko" "$R/lib/modules/$n.ko"
  elif [ -f "$MD/$m.ko.xz" ]; then "$BB" xzcat "$MD/$m.ko.xz" > "$R/lib/modules/$n.ko"
  else say "module $m missing in $KPKG (built in?)"; fi
done
# systemd-udevd: nusb's hot-plug listens on udev's netlink group, and the pen's rule sets
# the device node's group. udevadm is systemd-udevd; copy it with the libraries it needs.
cp udevroot/bin/udevadm "$R/bin/udevadm"
ln -sf /bin/udevadm "$R/lib/systemd/systemd-udevd"
for lib in $(ldd udevroot/bin/udevadm | grep -o '/[^ ]*\.so[^ ]*'); do
  mkdir -p "$R$(dirname "$lib")"; cp -L "$lib" "$R$lib"
done
(cd "$R" && find . | "$BB" cpio -o -H newc -R 0:0 2>/dev/null | gzip -1) > initrd.gz
say "kernel $KPKG; prepared in $(awk "BEGIN{printf \"%.1f\", $(now) - $T0}") s (initramfs $(du -h initrd.gz | cut -f1))"

# ---------- 4. boot, run the scenario, power off ----------
LOG=$W/console.log
for attempt in 1 2 3; do
  : > "$LOG"
  rc=0
  timeout --kill-after=5 "$VM_TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -M pc -m "$MEM" -smp "$SMP" \
    -nodefaults -no-user-config -nographic -serial stdio -no-reboot \
    -kernel "$KROOT/boot/vmlinuz-$KVER" -initrd initrd.gz \
    -append "console=ttyS0 panic=-1 loglevel=4 mitigations=off" \
    < /dev/null 2>&1 | tee "$LOG" || rc=$?
  # A guest that never reached /init (a rare TCG boot hang) is retried; anything else counts.
  if grep -q '\[init ' "$LOG"; then break; fi
  say "attempt $attempt: the guest did not reach /init; retrying"
done
say "total $(awk "BEGIN{printf \"%.1f\", $(now) - $T0}") s"
if grep -q '^USBVM RESULT: PASS' "$LOG"; then
  say "PASS"
  exit 0
fi
say "FAIL (console log: $LOG)"
exit 1
