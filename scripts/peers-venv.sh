#!/usr/bin/env bash
# Creates (or refreshes) the Python virtualenv used by the real-peer SAML tests in tests/peers/.
# Idempotent: the venv is created only when missing, and tests/peers/requirements.txt is installed
# only when its sha256 differs from the stamp left by the last successful install.
# The tests also need Debian's xmlsec1 (scripts/install-system-deps.sh --test installs it).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
req="$root/tests/peers/requirements.txt"
stamp="$venv/.peers-requirements.sha256"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
  echo "creating virtualenv $venv" >&2
  "$python" -m venv "$venv"
fi

want="$(sha256sum "$req" | cut -d' ' -f1)"
have="$(cat "$stamp" 2>/dev/null || true)"
if [ "$want" != "$have" ]; then
  echo "installing $req into $venv" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
  echo "$want" >"$stamp"
fi

command -v xmlsec1 >/dev/null || echo "warning: xmlsec1 is not installed; the peer tests will fail" >&2
