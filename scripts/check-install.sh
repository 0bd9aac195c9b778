#!/usr/bin/env bash
# Builds the Debian package and checks what a clinic PC would install: the files where the
# units expect them, the units and rules through systemd's own verifiers where this machine
# has them (it says when it has not), and the configuration through `pend --check-config`.
# Run by .ci/run; needs root for apt (systemd, udev) and cargo-deb (installed if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf -- '--- %s\n' "$*"; }

missing=()
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v udevadm >/dev/null 2>&1 || [ -x /bin/udevadm ] || missing+=(udev)
command -v dpkg-deb >/dev/null 2>&1 || missing+=(dpkg)
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v cargo-deb >/dev/null 2>&1; then
    say "installing cargo-deb"
    cargo install cargo-deb --locked --quiet
fi

say "building the package"
cargo build --release --quiet -p pend -p penctl --bin pend --bin penctl
cargo deb -p pend --no-build --quiet
deb=$(ls -t target/debian/pend_*.deb | head -n 1)
say "package: $deb ($(du -h "$deb" | cut -f1))"
dpkg-deb --info "$deb" | sed -n '/Package:/,$p'
dpkg-deb --contents "$deb" | awk '{print $1, $6}'

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
dpkg-deb -x "$deb" "$root"
dpkg-deb -e "$deb" "$root/DEBIAN"
fail=0
expect() { if [ -e "$root$1" ]; then echo "ok   $1"; else echo "MISSING $1"; fail=1; fi; }
say "files where the units and rules expect them"
for f in /usr/bin/pend /usr/bin/penctl \
         /usr/lib/systemd/system/pend.service /usr/lib/systemd/system/pend.socket \
         /usr/lib/udev/rules.d/70-pen.rules /usr/lib/sysusers.d/pend.conf \
         /usr/lib/tmpfiles.d/pend.conf /etc/pend/pend.toml \
         /usr/share/man/man8/pend.8.gz /usr/share/man/man1/penctl.1.gz \
         /usr/share/bash-completion/completions/penctl /usr/share/zsh/vendor-completions/_penctl \
         /usr/share/fish/vendor_completions.d/penctl.fish /DEBIAN/postinst /DEBIAN/conffiles; do
    expect "$f"
done
exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$root/usr/lib/systemd/system/pend.service")
expect "$exec_start"
grep -qx /etc/pend/pend.toml "$root/DEBIAN/conffiles" && echo "ok   /etc/pend/pend.toml is a conffile" \
    || { echo "pend.toml is not a conffile"; fail=1; }

say "the packaged configuration passes pend --check-config"
"$root/usr/bin/pend" --config "$root/etc/pend/pend.toml" --check-config

say "systemd-analyze verify"
if command -v systemd-analyze >/dev/null 2>&1; then
    # --root: the units' ExecStart= and the like are looked up in the unpacked package; the
    # units they depend on (sysinit.target...) come from this machine's systemd. The man
    # pages are checked above as files (`man` cannot look inside --root).
    cp -an /lib/systemd/system/. "$root/usr/lib/systemd/system/" 2>/dev/null || true
    # A unit that loads can still carry unknown keys or bad values, which verify only warns
    # about: any output at all fails the check.
    verify=$(systemd-analyze verify --man=no --root="$root" \
        "$root/usr/lib/systemd/system/pend.socket" "$root/usr/lib/systemd/system/pend.service" 2>&1) \
        || verify="${verify:-exit status $?}"
    if [ -n "$verify" ]; then
        echo "$verify"
        echo "systemd-analyze verify found problems"; fail=1
    else
        echo "ok   units verify ($(systemd-analyze --version | head -n 1))"
    fi
    systemd-analyze security --offline=true --root="$root" pend.service 2>/dev/null | tail -n 1 \
        || echo "(systemd-analyze security --offline needs systemd >= 253; skipped)"
else
    echo "systemd-analyze is not available here; units parse-checked by cli/tests/install.rs only"
fi

say "udevadm verify"
udevadm=$(command -v udevadm || echo /bin/udevadm)
if "$udevadm" verify --help >/dev/null 2>&1; then
    "$udevadm" verify --resolve-names=never "$root/usr/lib/udev/rules.d/70-pen.rules" || fail=1
else
    echo "udevadm verify is not available ($("$udevadm" --version 2>/dev/null || echo no udevadm): it needs systemd >= 254);"
    echo "the rules are parse-checked by cli/tests/install.rs instead"
fi
[ $fail = 0 ] && say "install checks passed" || { say "install checks FAILED"; exit 1; }
