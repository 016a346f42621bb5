#!/usr/bin/env bash
# Rivulet's whole test suite: installs what the tests need (npm packages, Debian packages when run as
# root), then type-checks, lints and runs every test file with node's test runner.
set -euo pipefail
cd "$(dirname "$0")/.."

# npm packages, when missing or older than the lockfile.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

bash scripts/install-test-deps.sh

echo "== typecheck"
npx tsc --noEmit
echo "== lint"
npx eslint .
echo "== tests"
# Node 20 does not expand globs for --test: list the files.
mapfile -t files < <(find test -name '*.test.ts' | sort)
node --import tsx --test --test-timeout=300000 "${files[@]}"
