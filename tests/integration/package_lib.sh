# shellcheck shell=bash
# Helpers for the tests of the Debian package, sourced after lib.sh:
#
#   source "$_LIB_DIR/package_lib.sh"   # _LIB_DIR: set by lib.sh
#
# build_package: the .deb of $CHUNKEX_BUILD_DIR, made with cpack into the
#   scratch directory (or $CHUNKEX_DEB, a package built before, e.g. by
#   scripts/package.sh), unpacked into $PKG_ROOT as `dpkg -x` does: nothing is
#   installed on the machine. Sets DEB, PKG_ROOT and UNIT (the unit's path in
#   the package, e.g. /usr/lib/systemd/system/chunkex-server.service).
# unit_value KEY: the value of KEY= in the packaged unit (the last one).
# unit_command STATE_DIR: the unit's ExecStart as words in UNIT_COMMAND, every
#   absolute path moved under $PKG_ROOT, the StateDirectory under STATE_DIR.

build_package() {
  local pkg_dir=$SCRATCH/package
  if [[ -n ${CHUNKEX_DEB:-} ]]; then
    DEB=$CHUNKEX_DEB
    [[ -f $DEB ]] || fail "CHUNKEX_DEB=$DEB: no such file"
  else
    [[ -f $CHUNKEX_BUILD_DIR/CPackConfig.cmake ]] ||
      fail "$CHUNKEX_BUILD_DIR/CPackConfig.cmake is missing: configure the build again"
    command -v dpkg-shlibdeps >/dev/null 2>&1 ||
      fail "dpkg-shlibdeps is not installed (Debian package dpkg-dev; scripts/deps.sh installs it)"
    cpack --config "$CHUNKEX_BUILD_DIR/CPackConfig.cmake" -B "$pkg_dir" \
      >"$SCRATCH/cpack.out" 2>&1 || fail "cpack failed: $(tail -n 20 "$SCRATCH/cpack.out")"
    DEB=$(find "$pkg_dir" -name 'chunkex_*.deb' -print -quit)
    [[ -n $DEB ]] || fail "cpack made no chunkex_*.deb: $(tail -n 20 "$SCRATCH/cpack.out")"
    remove_on_success "$pkg_dir"
  fi
  PKG_ROOT=$SCRATCH/root
  rm -rf "$PKG_ROOT"
  dpkg-deb -x "$DEB" "$PKG_ROOT"
  remove_on_success "$PKG_ROOT"
  UNIT=$(cd "$PKG_ROOT" && find . -path '*/systemd/system/chunkex-server.service' -print -quit)
  UNIT=${UNIT#.}
  [[ -n $UNIT ]] || fail "$DEB holds no systemd/system/chunkex-server.service"
  note "package $(basename "$DEB"), unit $UNIT"
}

unit_value() {
  local value
  value=$(sed -n "s/^$1=//p" "$PKG_ROOT$UNIT" | tail -n 1)
  [[ -n $value ]] || fail "the unit $UNIT has no $1="
  echo "$value"
}

unit_command() {
  local state_dir=$1 exec_start state word
  exec_start=$(unit_value ExecStart)
  state=/var/lib/$(unit_value StateDirectory)
  read -r -a UNIT_COMMAND <<<"$exec_start"
  for i in "${!UNIT_COMMAND[@]}"; do
    word=${UNIT_COMMAND[i]}
    [[ $word == /* ]] || continue
    if [[ $word == "$state" ]]; then
      UNIT_COMMAND[i]=$state_dir
    elif [[ -e $PKG_ROOT$word ]]; then
      UNIT_COMMAND[i]=$PKG_ROOT$word
    else
      fail "the unit's ExecStart names $word, which the package does not hold"
    fi
  done
}
