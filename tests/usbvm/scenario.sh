#!/bin/busybox sh
# The real-USB scenario, run by init.sh inside the VM with the real binaries. Each step
# prints its evidence and `STEP n ...: PASS|FAIL`; the exit code is non-zero if any failed.
SAMPLES=$(cat /etc/usbvm-samples)
S=/run/pend/pend.sock
FAILED=0
ms() { awk '{printf "%d", $1 * 1000}' /proc/uptime; }
pass() { echo "STEP $1: PASS $2"; }
fail() { echo "STEP $1: FAIL $2"; FAILED=1; }
udc_of() { echo "/sys/kernel/config/usb_gadget/pen-$1/UDC"; }
# wait_for SECONDS COMMAND...: until COMMAND succeeds
wait_for() {
  n=$(($1 * 10)); shift
  while [ $n -gt 0 ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; n=$((n - 1)); done
  return 1
}
listed() { penctl --socket "$1" list | grep -q "$2"; }
both_enumerated() { grep -qsx PEN-A /sys/bus/usb/devices/*/serial && grep -qsx PEN-B /sys/bus/usb/devices/*/serial; }

echo "---- plugging two gadget pens (pen-sim --usb), one per dummy controller ----"
# PEN-A's cable is pulled (its gadget unbinds itself) as its 4th move request arrives, before
# answering it: step 3's unplug lands while a request is in flight, every time.
taskset 0x2 pen-sim --usb --serial PEN-A --seed 1 --udc dummy_udc.0 --fault unplug-on-move=4 \
  > /tmp/pen-a.log 2>&1 &
taskset 0x2 pen-sim --usb --serial PEN-B --seed 2 --udc dummy_udc.1 > /tmp/pen-b.log 2>&1 &
wait_for 20 both_enumerated || { echo "gadgets did not enumerate"; cat /tmp/pen-a.log /tmp/pen-b.log; exit 1; }
udevadm settle -t 10
for d in /sys/bus/usb/devices/*; do
  if [ -f "$d/serial" ] && grep -q PEN "$d/serial"; then
    node=/dev/bus/usb/$(printf %03d "$(cat "$d/busnum")")/$(printf %03d "$(cat "$d/devnum")")
    echo "[usbvm] $(cat "$d/serial"): $(cat "$d/idVendor"):$(cat "$d/idProduct") at ${d##*/}, speed $(cat "$d/speed"), node $(ls -l "$node")"
  fi
done

echo "---- step 0: a pend whose user is not in group pen lists the pens as not accessible ----"
mkdir -p /tmp/nopen && chown nopen:nopen /tmp/nopen
HOME=/tmp/nopen start-stop-daemon -S -c nopen:nopen -x /bin/pend -- --socket /tmp/nopen/pend.sock \
  --state-dir /tmp/nopen/state --no-json-socket > /tmp/nopen/pend.log 2>&1 &
NOPEN=$!
if wait_for 30 listed /tmp/nopen/pend.sock PEN-B; then
  out=$(penctl --socket /tmp/nopen/pend.sock list); echo "$out"
  if echo "$out" | grep -q "PEN-A.*no access to /dev/bus/usb" && echo "$out" | grep -q "fix: install the pen's udev rule"; then
    pass "0 (no access shown with its fix)" ""
  else fail "0 (no access shown with its fix)" ""; fi
else fail "0 (no access shown with its fix)" "pend as nopen did not list the pens"; cat /tmp/nopen/pend.log; fi
kill $NOPEN; wait $NOPEN

echo "---- latency, raw: nusb bulk round trips straight to PEN-B (Status request/reply) ----"
RAW=$(taskset 0x1 pen-usb-bench raw PEN-B --samples "$SAMPLES" 2>&1); echo "$RAW"
if echo "$RAW" | grep -q "^ZLP ok"; then
  pass "0b (a 512-byte message ended by a zero-length packet, the next request answered)" ""
else fail "0b (zero-length packet framing)" ""; fi

echo "---- step 1: pend (user pend, group pen through the udev rule) lists both pens ----"
mkdir -p /run/pend /var/lib/pend && chown pend:pend /run/pend /var/lib/pend
# start-stop-daemon -c sets the user and its groups from /etc/group (initgroups), as
# systemd's User= would.
HOME=/var/lib/pend taskset 0x1 start-stop-daemon -S -c pend:pend -x /bin/pend -- --socket $S \
  --state-dir /var/lib/pend --log-level debug > /tmp/pend.log 2>&1 &
PEND=$!
wait_for 30 test -S $S || { echo "pend did not start"; cat /tmp/pend.log; exit 1; }
wait_for 20 sh -c "penctl --socket $S list | grep -q 'PEN-A *ready' && penctl --socket $S list | grep -q 'PEN-B *ready'"
out=$(penctl --socket $S list); echo "$out"
echo "pend runs as: $(grep -E '^(Uid|Gid|Groups)' /proc/$PEND/status | tr -s '\t' ' ' | tr '\n' ';')"
if echo "$out" | grep -q "PEN-A *ready.*usb" && echo "$out" | grep -q "PEN-B *ready.*usb" \
   && [ "$(awk '/^Uid/ {print $2}' /proc/$PEND/status)" = 101 ]; then
  pass "1 (both pens listed by serial, pend not root)" ""
else fail "1 (both pens listed by serial, pend not root)" ""; fi

echo "---- step 2: depth set on each pen; over the ceiling refused ----"
a=$(penctl --socket $S depth set PEN-A 0.5mm 2>&1); ra=$?; echo "PEN-A 0.5mm -> exit $ra: $a"
b=$(penctl --socket $S depth set PEN-B 0.3mm 2>&1); rb=$?; echo "PEN-B 0.3mm -> exit $rb: $b"
o=$(penctl --socket $S depth set PEN-A 1.2mm 2>&1); ro=$?; echo "PEN-A 1.2mm -> exit $ro: $o"
if [ $ra = 0 ] && [ $rb = 0 ] && [ $ro = 3 ] && echo "$a" | grep -q "0.500 mm" && echo "$b" | grep -q "0.300 mm"; then
  pass "2 (setpoints on both, 1.2 mm refused with exit 3)" ""
else fail "2 (setpoints on both, 1.2 mm refused with exit 3)" ""; fi

echo "---- step 3: PEN-A unplugged mid-request (UDC unbound); PEN-B keeps working ----"
( i=0; while [ $i -lt 12 ]; do echo "set 0.2mm"; echo "set 0.5mm"; i=$((i + 1)); done ) \
  | penctl --socket $S session PEN-B > /tmp/session-b.log 2>&1 &
SB=$!
( echo "set 0.3mm"; echo "set 0.6mm"; echo "set 0.3mm"; echo "set 0.6mm" ) \
  | penctl --socket $S session PEN-A > /tmp/session-a.log 2>&1
RA=$?; TEND=$(ms)
wait $SB; RB=$?
TUNPLUG=$(sed -n 's/.*cable pulled (fault) at uptime_ms=\([0-9]*\).*/\1/p' /tmp/pen-a.log)
TA=$((TEND - ${TUNPLUG:-0}))
grep "cable pulled" /tmp/pen-a.log
echo "PEN-A session: exit $RA, ended $TA ms after the unplug; its output:"
cat /tmp/session-a.log
echo "PEN-B session: exit $RB, $(grep -c 'PEN-B' /tmp/session-b.log) setpoints reported; its last lines:"; tail -n 2 /tmp/session-b.log
wait_for 5 sh -c "penctl --socket $S list | grep -q 'PEN-A *offline'"
out=$(penctl --socket $S list); echo "$out"
if [ $RA != 0 ] && [ -n "$TUNPLUG" ] && [ $TA -lt 10000 ] \
   && [ "$(grep -m1 'penctl:' /tmp/session-a.log)" = "penctl: pen PEN-A disconnected" ] && [ $RB = 0 ] \
   && [ "$(grep -c 'PEN-B' /tmp/session-b.log)" -ge 24 ] && echo "$out" | grep -q "PEN-A *offline" \
   && echo "$out" | grep -q "PEN-B *ready"; then
  pass "3 (PEN-A's in-flight setpoint failed 'disconnected', session ended ${TA} ms after the unplug; PEN-B unaffected; PEN-A offline)" ""
else fail "3 (unplug while in flight)" ""; fi

echo "---- step 4: replug PEN-A: same serial, works again ----"
T0=$(ms)
echo dummy_udc.0 > "$(udc_of PEN-A)"
wait_for 20 sh -c "penctl --socket $S list | grep -q 'PEN-A *ready'"
TB=$(($(ms) - T0))
out=$(penctl --socket $S list); echo "$out"
a=$(penctl --socket $S depth set PEN-A 0.4mm 2>&1); ra=$?; echo "PEN-A 0.4mm -> exit $ra: $a"
if echo "$out" | grep -q "PEN-A *ready" && [ $ra = 0 ]; then
  pass "4 (PEN-A back and ready ${TB} ms after replug)" ""
else fail "4 (replug)" ""; fi

echo "---- step 5: latency through pend against raw nusb, same gadget, same run ----"
PEND_RT=$(taskset 0x1 pen-usb-bench pend PEN-B --socket $S --samples "$SAMPLES" 2>&1); echo "$PEND_RT"
raw50=$(echo "$RAW" | sed -n 's/.*p50_us=\([0-9]*\).*/\1/p'); raw99=$(echo "$RAW" | sed -n 's/.*p99_us=\([0-9]*\).*/\1/p')
pend50=$(echo "$PEND_RT" | sed -n 's/.*p50_us=\([0-9]*\).*/\1/p'); pend99=$(echo "$PEND_RT" | sed -n 's/.*p99_us=\([0-9]*\).*/\1/p')
if [ -n "$raw50" ] && [ -n "$pend50" ]; then
  echo "LATENCY raw nusb p50 ${raw50} us p99 ${raw99} us | setpoint through pend p50 ${pend50} us p99 ${pend99} us | ratio p50 $(awk "BEGIN{printf \"%.2f\", $pend50 / $raw50}")x p99 $(awk "BEGIN{printf \"%.2f\", $pend99 / $raw99}")x"
  pass "5 (latency measured)" ""
else fail "5 (latency measured)" ""; fi

kill -TERM $PEND; wait $PEND; echo "pend stopped with exit $?"
echo "---- pend log (warnings and pen events) ----"
grep -E "WARN|ERROR|plugged|ready|offline|retracted|USB" /tmp/pend.log | tail -n 40
exit $FAILED
