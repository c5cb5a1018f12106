#!/usr/bin/env bash
# Installs the Debian packages sesame needs to build, run and test. Idempotent: packages already present are skipped.
set -euo pipefail

build_pkgs=(build-essential pkg-config libclang-dev libxml2-dev libxmlsec1-dev libssl-dev)
runtime_pkgs=(libxmlsec1-openssl libxml2 openssl)
test_pkgs=(xmlsec1 python3-venv chromium fonts-dejavu-core postgresql)

wanted=("${build_pkgs[@]}" "${runtime_pkgs[@]}")
if [ "${1:-}" = "--test" ]; then
  wanted+=("${test_pkgs[@]}")
fi

missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing system packages: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
