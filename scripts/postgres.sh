#!/usr/bin/env bash
# Starts (or reuses) a private PostgreSQL for the demo and the tests, and
# prints its DATABASE_URL on the last line of stdout.
#
#   scripts/postgres.sh start   initialise if needed, start, create the database
#   scripts/postgres.sh stop    stop it
#
# Environment: DOWSER_PG_DIR (data folder, default .data/postgres in the
# repository), DOWSER_PG_PORT (default 55432), DOWSER_PG_DB (default dowser).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
dir=${DOWSER_PG_DIR:-$top/.data/postgres}
port=${DOWSER_PG_PORT:-55432}
db=${DOWSER_PG_DB:-dowser}

log() { printf 'postgres: %s\n' "$*" >&2; }

find_bin() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		[ -x "$d/initdb" ] && { echo "$d"; return 0; }
	done
	command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
	return 1
}

bin=$(find_bin || true)
if [ -z "$bin" ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		log "server binaries missing; installing Debian's postgresql package"
		apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
		bin=$(find_bin)
	else
		log "PostgreSQL server binaries not found. Install them, e.g.: sudo apt-get install postgresql"
		exit 1
	fi
fi

# initdb and postgres refuse to run as root: run them as the postgres user,
# which must be able to reach the data folder.
as_pg() { "$@"; }
if [ "$(id -u)" = 0 ]; then
	id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
	as_pg() { (cd / && runuser -u postgres -- "$@"); }
	mkdir -p "$dir"
	chown postgres "$dir"
	if ! as_pg test -w "$dir"; then
		# The checkout sits where postgres cannot reach (a 0700 home, say):
		# keep the data in a private folder under /tmp named for that folder.
		dir=/tmp/dowser-pg-$(printf '%s' "$dir" | sha256sum | cut -c1-12)
		log "postgres cannot reach the checkout; using $dir"
		mkdir -p "$dir" && chown postgres "$dir" && chmod 700 "$dir"
	fi
fi

url="postgres://postgres@127.0.0.1:$port/$db?sslmode=disable"

start_server() {
	if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" && ! as_pg "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
		# Another checkout's private server holds the port: share it. Every
		# test makes a database of its own, so sharing is harmless.
		log "reusing the PostgreSQL already listening on 127.0.0.1:$port"
		return
	fi
	mkdir -p "$dir"
	if [ ! -f "$dir/PG_VERSION" ]; then
		log "initialising $dir"
		as_pg "$bin/initdb" -D "$dir" -U postgres --auth=trust --encoding=UTF8 --locale=C >/dev/null
	fi
	if ! as_pg "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
		log "starting on 127.0.0.1:$port"
		# fsync off: this server holds demo and test data only.
		as_pg "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
			-o "-h 127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" start >/dev/null
	fi
}

case "${1:-start}" in
start)
	start_server
	if ! "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$db'" postgres | grep -q 1; then
		"$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE \"$db\"" postgres
	fi
	echo "$url"
	;;
stop)
	if [ -f "$dir/PG_VERSION" ]; then as_pg "$bin/pg_ctl" -D "$dir" -m fast stop >/dev/null || true; fi
	;;
*)
	echo "usage: $0 start|stop" >&2
	exit 2
	;;
esac
