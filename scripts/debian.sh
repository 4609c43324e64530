# Sourced by scripts/setup.sh and scripts/setup-editors.sh (after they define `say`):
# ensure_debian_packages PKG... installs the Debian packages that are not installed yet.
ensure_debian_packages() {
  local need=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
  done
  [ ${#need[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    say "missing Debian packages (${need[*]}); run 'make setup' as root"; exit 1
  fi
  say "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # another apt may be running (unattended upgrades, a parallel set-up): wait for its lock
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}
