#!/usr/bin/env bash
# Installs the browser tests' npm packages (playwright-core, pinned by tests/browser/package-lock.json) with `npm ci`.
# Idempotent: runs only when node_modules is missing or the lock file changed since the last successful install.
# The browser itself is Debian's chromium (scripts/install-system-deps.sh --test); playwright never downloads one.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/tests/browser"
stamp="$dir/node_modules/.lock.sha256"

want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
have="$(cat "$stamp" 2>/dev/null || true)"
if [ "$want" != "$have" ]; then
  echo "installing the browser tests' npm packages in $dir" >&2
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
fi

[ -x /usr/bin/chromium ] || echo "warning: /usr/bin/chromium is missing; run scripts/install-system-deps.sh --test" >&2
