#!/usr/bin/env bash
# Install PostgreSQL + the TimescaleDB extension for the local stack. Idempotent.
#
#   Debian 13: Debian ships postgresql-17-timescaledb, so this is a plain apt install.
#   Debian 12: no TimescaleDB package exists, so Debian 13's source package is built
#              against the installed PostgreSQL 15 (about 30 s) and the installed files
#              are cached as a tarball, so later runs on the same machine only unpack it.
#
# Progress goes to stdout; command output goes to the log ($IOC_INSTALL_LOG, default
# under the cache dir), whose path is printed on failure.
set -euo pipefail

CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/ioc"
mkdir -p "$CACHE_DIR"
LOG="${IOC_INSTALL_LOG:-$CACHE_DIR/install-timescaledb.log}"
mkdir -p "$(dirname "$LOG")"
: >"$LOG"
export DEBIAN_FRONTEND=noninteractive

say() { echo "[install-timescaledb] $*"; }
die() { echo "[install-timescaledb] ERROR: $*" >&2; exit 1; }
run() { echo "+ $*" >>"$LOG"; "$@" >>"$LOG" 2>&1 || die "'$*' failed; see $LOG"; }

[ "$(id -u)" -eq 0 ] || die "must run as root (it installs Debian packages); try: sudo $0"
[ -r /etc/debian_version ] || die "unsupported OS: only Debian 12 (bookworm) and 13 (trixie) are supported"
DEBIAN_MAJOR="$(cut -d. -f1 /etc/debian_version)"
case "$DEBIAN_MAJOR" in
  12) PG_MAJOR=15 ;;
  13) PG_MAJOR=17 ;;
  *) die "unsupported Debian version '$(cat /etc/debian_version)': only Debian 12 (bookworm) and 13 (trixie) are supported" ;;
esac
PG_CONFIG="/usr/lib/postgresql/$PG_MAJOR/bin/pg_config"

# Two stacks (other state dirs) may install at once: one at a time.
exec 9>"$CACHE_DIR/install.lock"
flock 9

installed() { [ -x "$PG_CONFIG" ] && [ -f "$("$PG_CONFIG" --sharedir)/extension/timescaledb.control" ]; }
if installed; then
  say "TimescaleDB already installed for PostgreSQL $PG_MAJOR"
  exit 0
fi

apt_install() {
  # The system lists may be missing or stale on a fresh machine: refresh once on failure.
  apt-get install -y --no-install-recommends "$@" >>"$LOG" 2>&1 && return 0
  run apt-get update
  run apt-get install -y --no-install-recommends "$@"
}

if [ "$DEBIAN_MAJOR" = 13 ]; then
  say "installing postgresql-$PG_MAJOR and postgresql-$PG_MAJOR-timescaledb (apt)"
  apt_install "postgresql-$PG_MAJOR" "postgresql-$PG_MAJOR-timescaledb"
  installed || die "packages installed but timescaledb.control is missing; see $LOG"
  say "done"
  exit 0
fi

# --- Debian 12: build from Debian 13's source package, cached by version. ---
[ -x "$PG_CONFIG" ] || { say "installing postgresql-$PG_MAJOR (apt)"; apt_install "postgresql-$PG_MAJOR"; }
PKGLIBDIR="$("$PG_CONFIG" --pkglibdir)"
SHAREDIR="$("$PG_CONFIG" --sharedir)"

# Any cached build for this PostgreSQL major and Debian major will do; take the newest.
CACHED="$(ls "$CACHE_DIR"/timescaledb-*-pg"$PG_MAJOR"-debian"$DEBIAN_MAJOR".tar.gz 2>/dev/null | sort -V | tail -n1 || true)"
if [ -n "$CACHED" ]; then
  say "unpacking cached build $CACHED"
  run tar -xzf "$CACHED" -C /
  installed && { say "done"; exit 0; }
  say "cached build is incomplete; rebuilding"
fi

WORK="$CACHE_DIR/build"
rm -rf "$WORK"
mkdir -p "$WORK/lists/partial" "$WORK/cache/archives/partial" "$WORK/src"
# A private apt configuration with only trixie's sources: the system's lists stay untouched.
echo "deb-src http://deb.debian.org/debian trixie main" >"$WORK/sources.list"
APT_PRIVATE=(-o Dir::Etc::SourceList="$WORK/sources.list" -o Dir::Etc::SourceParts=/dev/null
             -o Dir::State::Lists="$WORK/lists" -o Dir::Cache="$WORK/cache"
             -o APT::Sandbox::User=root)

say "fetching Debian 13's timescaledb source package"
run apt-get "${APT_PRIVATE[@]}" update
(cd "$WORK/src" && run apt-get "${APT_PRIVATE[@]}" source --download-only timescaledb)
DSC="$(ls "$WORK"/src/timescaledb_*.dsc 2>/dev/null | head -n1 || true)"
[ -n "$DSC" ] || die "no timescaledb .dsc downloaded; see $LOG"

say "installing build dependencies (postgresql-server-dev-$PG_MAJOR, cmake, build-essential)"
apt_install "postgresql-server-dev-$PG_MAJOR" cmake build-essential

say "building $(basename "$DSC" .dsc) against PostgreSQL $PG_MAJOR (about 30 s)"
run dpkg-source -x "$DSC" "$WORK/src/timescaledb"
cd "$WORK/src/timescaledb"
# The dfsg source has only the Apache-licensed part; telemetry off for a local stack.
run ./bootstrap -DAPACHE_ONLY=ON -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF \
    -DUSE_TELEMETRY=OFF -DPG_CONFIG="$PG_CONFIG"
run make -C build -j"$(nproc)" install
installed || die "build finished but timescaledb.control is missing; see $LOG"

VERSION="$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$SHAREDIR/extension/timescaledb.control")"
TARBALL="$CACHE_DIR/timescaledb-$VERSION-pg$PG_MAJOR-debian$DEBIAN_MAJOR.tar.gz"
# Paths relative to / so the cache unpacks in place.
(cd / && run tar -czf "$TARBALL.tmp" \
    $(cd / && ls -d "${PKGLIBDIR#/}"/timescaledb*.so "${SHAREDIR#/}"/extension/timescaledb*))
mv "$TARBALL.tmp" "$TARBALL"
rm -rf "$WORK"
say "done; cached as $TARBALL"
