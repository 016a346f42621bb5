#!/usr/bin/env bash
# Installs the Debian packages the test suite uses when they are missing: Chromium for the dashboard
# tests, PostgreSQL's server binaries for the sink tests (which start their own server). As root it
# runs apt-get; otherwise it prints the command to run and fails.
set -euo pipefail

declare -A binary_of=([chromium]=/usr/bin/chromium [postgresql]='/usr/lib/postgresql/*/bin/initdb')
missing=()
for pkg in "${!binary_of[@]}"; do
  compgen -G "${binary_of[$pkg]}" > /dev/null || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  echo "== installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
else
  echo "The tests need these Debian packages: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
