#!/usr/bin/env bash
# Installs a Debian package when what it provides is missing (as root); otherwise says why the
# tests need it and stops.
#   ensure_debian_package <package> <what needs it> <command that succeeds once it is installed...>
ensure_debian_package() {
  local package=$1 why=$2
  shift 2
  if "$@" >/dev/null 2>&1; then
    return
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "$package is not installed; run as root to install it ($why)." >&2
    exit 1
  fi
  echo "Installing $package from Debian packages..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
}
