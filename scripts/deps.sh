#!/usr/bin/env bash
# Installs the Debian packages chunkex needs, only those missing.
set -euo pipefail

# dpkg-dev and file: cpack's dependency scan for the .deb (scripts/package.sh,
# and the cross-host test, which installs the server from the package);
# iproute2: that test's network namespaces; clang-format: the style test.
packages=(cmake ninja-build g++ libasio-dev libfmt-dev nlohmann-json3-dev doctest-dev
          libcli11-dev libssl-dev dpkg-dev file iproute2 clang-format "$@")
missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
