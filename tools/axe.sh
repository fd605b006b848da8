#!/usr/bin/env bash
# Install axe-core (pinned in tools/axe/package.json and package-lock.json, with its hash) from
# the npm registry into .node-axe/ (git-ignored) on first use, and print the path of
# axe.min.js, which the console's browser tests inject into each page. Later runs reuse the
# install until the lock file changes. Needs Node.js 18 or later and npm.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${AXE_TOOLS:-$repo_root/.node-axe}"

command -v npm >/dev/null || { echo "axe.sh: npm (Node.js) is needed" >&2; exit 1; }
if ! cmp -s "$repo_root/tools/axe/package-lock.json" "$tools/.installed-lock" 2>/dev/null; then
  echo "axe.sh: installing axe-core (pinned) into $tools" >&2
  rm -rf "$tools"
  mkdir -p "$tools"
  cp "$repo_root/tools/axe/package.json" "$repo_root/tools/axe/package-lock.json" "$tools/"
  if ! (cd "$tools" && npm ci --no-audit --no-fund --ignore-scripts >install.log 2>&1); then
    cat "$tools/install.log" >&2
    echo "axe.sh: npm ci failed (log above)" >&2
    exit 1
  fi
  cp "$tools/package-lock.json" "$tools/.installed-lock"
fi
echo "$tools/node_modules/axe-core/axe.min.js"
