#!/usr/bin/env bash
# Builds the Debian package in one command: installs what is missing, builds
# the programs (Release, install prefix /usr) in build-pkg/ (or
# $CHUNKEX_PKG_BUILD_DIR), runs cpack, checks the unit with
# `systemd-analyze verify` where systemd's tools are installed, and prints the
# path of chunkex_<version>_amd64.deb.
#
#   scripts/package.sh
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  "") ;;
  -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "package: unknown argument '$1'" >&2; exit 2 ;;
esac

scripts/deps.sh
build_dir="${CHUNKEX_PKG_BUILD_DIR:-build-pkg}"
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DBUILD_TESTING=OFF >/dev/null
cmake --build "$build_dir" --target chunkex-server chunkex-client chunkex-gen

rm -f "$build_dir"/chunkex_*.deb
(cd "$build_dir" && cpack >cpack.log 2>&1) || { cat "$build_dir/cpack.log" >&2; exit 1; }
deb=$(find "$build_dir" -maxdepth 1 -name 'chunkex_*.deb' -print -quit)
[ -n "$deb" ] || { echo "package: cpack made no .deb (see $build_dir/cpack.log)" >&2; exit 1; }

# A -dev package among the dependencies would mean a build tool leaked in.
depends=$(dpkg-deb -f "$deb" Depends)
if grep -qE -- '-dev([ ,]|$)' <<<"$depends"; then
  echo "package: a -dev package in Depends: $depends" >&2
  exit 1
fi

if command -v systemd-analyze >/dev/null 2>&1; then
  # The unit checked as installed: the package unpacked into a scratch root,
  # with this machine's own units beside it (sysinit.target and the rest
  # that every service depends on). verify reports unknown keys and bad
  # values as warnings and still exits 0, so any output is a failure.
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  dpkg-deb -x "$deb" "$root"
  unit=$(cd "$root" && find . -name chunkex-server.service -path '*/systemd/system/*' | sed 's|^\.||')
  mkdir -p "$root/usr/lib/systemd/system"
  for dir in /lib/systemd/system /usr/lib/systemd/system; do # one directory where /usr is merged
    [ -d "$dir" ] && cp -rn "$dir/." "$root/usr/lib/systemd/system/"
  done
  status=0
  verify=$(systemd-analyze verify --root="$root" "$unit" 2>&1) || status=$?
  if [ "$status" -ne 0 ] || [ -n "$verify" ]; then
    echo "package: systemd-analyze verify failed on $unit (exit $status):" >&2
    echo "$verify" >&2
    exit 1
  fi
  echo "unit $unit: systemd-analyze verify passed"
else
  echo "unit not verified: systemd-analyze is not installed (Debian package systemd)"
fi
echo "Depends: $depends"
realpath "$deb"
