#!/usr/bin/env bash
# Debian packages that tickwire builds and tests against. Idempotent; run as root (CI is root).
set -euo pipefail
PKGS=(build-essential pkg-config python3-dev iproute2
  # DPDK 22.11 (headers + EAL/ethdev/mbuf libs) and the virtual-device PMDs the tests and benches use
  libdpdk-dev dpdk librte-bus-vdev23 librte-mempool-ring23 librte-net-pcap23 librte-net-af-packet23
  librte-net-af-xdp23 librte-net-null23 libxdp1 libbpf1
  # kernel-path sources: AF_XDP (libxdp/libbpf xsk API), clang for the XDP program, test tools
  libxdp-dev libbpf-dev clang llvm linux-libc-dev iputils-ping ethtool)
missing=()
for p in "${PKGS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then echo "system-deps: need root to install: ${missing[*]}" >&2; exit 1; fi
  echo "system-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
