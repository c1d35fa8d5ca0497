#!/usr/bin/env bash
# Install the system tools the test suite drives for real (firewalls in network namespaces, validators).
# Idempotent: does nothing when everything is present. Needs root and apt (Debian/Ubuntu); elsewhere it says
# what is missing and the tests that need it skip with that reason.
set -euo pipefail

declare -A packages=(
  [nft]=nftables
  [iptables-restore]=iptables
  [ip]=iproute2
  [ping]=iputils-ping
  [xmllint]=libxml2-utils
  [ufw]=ufw
  [nmap]=nmap
  [firewall-offline-cmd]=firewalld
  [chromium]=chromium
  [java]=openjdk-17-jre-headless
)
missing=()
for tool in "${!packages[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${packages[$tool]}")
done
# firewalld's own service-file reader (python3-firewall) validates firewalld output offline.
[ -f /usr/lib/python3/dist-packages/firewall/core/io/service.py ] || missing+=(python3-firewall)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-deps: missing ${missing[*]} (needs root and apt-get); the tests that use them will skip" >&2
  exit 0
fi
echo "install-test-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The tests drive firewalld offline; a running daemon would only get in the way.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl disable --now firewalld >/dev/null 2>&1 || true
fi
