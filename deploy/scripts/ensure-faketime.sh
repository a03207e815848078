#!/usr/bin/env bash
# Makes sure libfaketime is installed: the chaos runs' clock faults run silo processes on faked
# clocks with it. Installs it from Debian's packages when missing (as root).
ensure_faketime() {
  if ls /usr/lib/*/faketime/libfaketimeMT.so.1 /usr/lib/faketime/libfaketimeMT.so.1 >/dev/null 2>&1; then
    return
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "libfaketime is not installed; run as root to install it (the chaos tests fake silo clocks with it)." >&2
    exit 1
  fi
  echo "Installing libfaketime from Debian packages..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null
}
