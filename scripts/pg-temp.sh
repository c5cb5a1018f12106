#!/usr/bin/env bash
# A throw-away PostgreSQL for the tests, from Debian's packages (scripts/install-system-deps.sh --test installs them).
#
#   scripts/pg-temp.sh start        start it (or find it running); prints the server URL on stdout
#   scripts/pg-temp.sh url          print the URL of the running server (exit 1 when none runs)
#   scripts/pg-temp.sh stop         stop it and delete everything it wrote
#   scripts/pg-temp.sh run CMD...   start, run CMD with SESAME_TEST_DATABASE_URL set, stop even when CMD fails
#
# The cluster lives in one temporary directory per checkout (SESAME_PG_DIR overrides it), listens on a free
# 127.0.0.1 port and on a socket in that directory only, and requires a password (random, in the URL), so other
# users of the machine cannot use it. Durability is switched off: it holds nothing worth keeping.
# Run as root, the server runs as the `postgres` system user (PostgreSQL refuses root).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${SESAME_PG_DIR:-${TMPDIR:-/tmp}/sesame-pg-$(id -u)-$(printf %s "$root" | sha256sum | cut -c1-12)}"
data="$dir/data"

pg_bin() {
  local found
  for found in /usr/lib/postgresql/*/bin; do :; done # the highest installed major version
  if [ ! -x "${found:-}/pg_ctl" ]; then
    echo "pg-temp: PostgreSQL is not installed: run scripts/install-system-deps.sh --test" >&2
    exit 1
  fi
  echo "$found"
}

# Runs a server binary as the cluster's owner.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

is_running() {
  [ -f "$dir/url" ] && [ -f "$data/postmaster.pid" ] && as_owner "$(pg_bin)/pg_ctl" status -D "$data" >/dev/null 2>&1
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  if is_running; then
    cat "$dir/url"
    return
  fi
  stop_quietly
  local bin port password
  bin="$(pg_bin)"
  mkdir -m 0755 "$dir"
  mkdir -m 0700 "$data"
  password="$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')"
  (umask 077 && printf '%s\n' "$password" >"$dir/password")
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$data" "$dir/password"
  fi
  as_owner "$bin/initdb" -D "$data" -U sesame --pwfile="$dir/password" --auth=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    exit 1
  }
  rm -f "$dir/password"
  cat >>"$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$data'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
  # A port can be taken between choosing and binding it: try a few.
  for _ in 1 2 3 4 5; do
    port="$(free_port)"
    if as_owner "$bin/pg_ctl" start -D "$data" -w -t 30 -l "$data/server.log" -o "-p $port" >/dev/null; then
      (umask 077 && printf 'postgres://sesame:%s@127.0.0.1:%s/postgres\n' "$password" "$port" >"$dir/url")
      echo "pg-temp: PostgreSQL running on 127.0.0.1:$port (data in $data)" >&2
      cat "$dir/url"
      return
    fi
  done
  echo "pg-temp: PostgreSQL did not start:" >&2
  tail -n 20 "$data/server.log" >&2 || true
  exit 1
}

stop_quietly() {
  [ -e "$dir" ] || return 0
  if [ -f "$data/postmaster.pid" ]; then
    as_owner "$(pg_bin)/pg_ctl" stop -D "$data" -m immediate -w >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  start) start ;;
  url)
    if is_running; then cat "$dir/url"; else
      echo "pg-temp: no server runs (scripts/pg-temp.sh start)" >&2
      exit 1
    fi
    ;;
  stop)
    stop_quietly
    echo "pg-temp: stopped" >&2
    ;;
  run)
    shift
    [ $# -gt 0 ] || { echo "usage: $0 run CMD..." >&2; exit 2; }
    url="$(start)"
    trap 'stop_quietly; echo "pg-temp: stopped" >&2' EXIT
    trap 'exit 130' INT TERM
    SESAME_TEST_DATABASE_URL="$url" "$@"
    ;;
  *)
    echo "usage: $0 start|url|stop|run CMD..." >&2
    exit 2
    ;;
esac
