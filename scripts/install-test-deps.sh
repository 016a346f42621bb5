#!/usr/bin/env bash
# Installs the Debian packages the test suite uses when they are missing: Chromium for the dashboard
# tests. As root it runs apt-get; otherwise it prints the command to run and fails.
set -euo pipefail

declare -A binary_of=([chromium]=/usr/bin/chromium)
missing=()
for pkg in "${!binary_of[@]}"; do
  [ -x "${binary_of[$pkg]}" ] || missing+=("$pkg")
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
