#!/bin/sh
# Install the Debian packages the tests use (as root, with apt); elsewhere, say what is missing.
# git: the tests commit as the manager does. chromium: the dashboard's browser tests.
# systemd-container: the nspawn runtime's tests boot real containers. dbus: a real bus.
set -eu
need=""
command -v git >/dev/null 2>&1 || need="$need git"
[ -x /usr/bin/chromium ] || need="$need chromium"
command -v systemd-nspawn >/dev/null 2>&1 || need="$need systemd-container"
# nftables, iproute2: outbound containers' bridges, NAT and the rules that keep the host out.
command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ] || need="$need nftables"
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || need="$need iproute2"
command -v dbus-daemon >/dev/null 2>&1 || need="$need dbus"
# debootstrap: the D-Bus test boots a minimal Debian with systemd (kept in .cache/).
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need="$need debootstrap"
# nix-bin: nix-instantiate parses nix/ (the NixOS module, package and flake).
command -v nix-instantiate >/dev/null 2>&1 || need="$need nix-bin"
[ -z "$need" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages:$need"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
elif [ -n "${CI:-}" ]; then
    echo "missing Debian packages:$need (CI needs root with apt-get)" >&2
    exit 1
else
    echo "note: missing$need; tests that need them will skip (install them to run everything)" >&2
fi
