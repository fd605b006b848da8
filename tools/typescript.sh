#!/usr/bin/env bash
# Generate TypeScript types from the OpenAPI document (openapi-typescript), as a frontend's
# client would, and type-check tests/typescript/*.ts against them (tsc --noEmit, strict).
#
# The tools are pinned in tools/typescript/package.json and package-lock.json and installed
# on first use (npm ci, from the npm registry) into .node-typescript/, git-ignored; later runs
# reuse them until the lock file changes. Needs Node.js 18 or later and npm.
#
# Usage: tools/typescript.sh [openapi document]   (default: configs/openapi.yaml)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${TYPESCRIPT_TOOLS:-$repo_root/.node-typescript}"
spec="$(realpath "${1:-$repo_root/configs/openapi.yaml}")"

command -v npm >/dev/null || { echo "typescript.sh: npm (Node.js) is needed" >&2; exit 1; }
if ! cmp -s "$repo_root/tools/typescript/package-lock.json" "$tools/.installed-lock" 2>/dev/null; then
  echo "typescript.sh: installing openapi-typescript and typescript (pinned) into $tools" >&2
  rm -rf "$tools"
  mkdir -p "$tools"
  cp "$repo_root/tools/typescript/package.json" "$repo_root/tools/typescript/package-lock.json" "$tools/"
  if ! (cd "$tools" && npm ci --no-audit --no-fund --ignore-scripts >install.log 2>&1); then
    cat "$tools/install.log" >&2
    echo "typescript.sh: npm ci failed (log above)" >&2
    exit 1
  fi
  cp "$tools/package-lock.json" "$tools/.installed-lock"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$repo_root"/tests/typescript/*.ts "$work/"
cd "$work"
checked=(*.ts)
"$tools/node_modules/.bin/openapi-typescript" "$spec" --output "$work/api.d.ts" >"$work/generate.log" 2>&1 ||
  { cat "$work/generate.log" >&2; echo "typescript.sh: openapi-typescript failed" >&2; exit 1; }
"$tools/node_modules/.bin/tsc" --noEmit --strict --target es2022 --module esnext --moduleResolution bundler "${checked[@]}"
echo "typescript.sh: ok, ${checked[*]} type-checked against the types generated from $(basename "$spec")"
