#!/usr/bin/env bash
# Makes sure a Chromium is there for the browser tests: Debian's chromium
# package, installed with apt-get when missing and we are root. Prints the
# browser's path.
set -euo pipefail
for b in "${DOWSER_CHROMIUM:-}" chromium chromium-browser; do
	[ -n "$b" ] && command -v "$b" >/dev/null 2>&1 && { command -v "$b"; exit 0; }
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "chromium: installing Debian's chromium package for the browser tests" >&2
	apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2
	command -v chromium
	exit 0
fi
echo "chromium: not found. Install it (e.g. sudo apt-get install chromium) or set DOWSER_CHROMIUM." >&2
exit 1
