#!/usr/bin/env bash
# Makes sure nftables is installed: the chaos runs' partitions drop packets between silo
# processes with it (as root). Installs it from Debian's packages when missing.
ensure_nftables() {
  if command -v nft >/dev/null 2>&1; then
    return
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "nftables is not installed; run as root to install it (the chaos tests cut packets with it)." >&2
    exit 1
  fi
  echo "Installing nftables from Debian packages..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables >/dev/null
}
