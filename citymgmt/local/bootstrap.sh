#!/usr/bin/env bash
# Set-up shared by `make run` and `make test`: system packages, then the virtualenv.
# Idempotent: with nothing changed it only checks and returns in well under a second.
#   bootstrap.sh run   server packages for the embedded PostgreSQL+PostGIS and Redis (unless URLs are set)
#   bootstrap.sh test  the same, always (tests start throwaway servers), plus Chromium for browser tests
set -euo pipefail

mode=${1:-run}
cd "$(dirname "$0")/../.."
venv=${VENV:-.venv}

say() { printf 'citymgmt setup: %s\n' "$*" >&2; }

installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

pg_major() {
  # The newest PostgreSQL server major version installed, or nothing.
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | sort -V -r); do
    basename "$(dirname "$(dirname "$d")")"
    return 0
  done
}

apt_install() {
  local runner=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      runner=(sudo -n)
    else
      say "missing system packages: $*"
      say "install them with:  sudo apt-get install -y $*"
      exit 1
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    say "missing system packages (Debian/Ubuntu names): $*; this machine has no apt-get, install the equivalents"
    exit 1
  fi
  say "installing system packages: $*"
  # Refresh the package lists only when one of the packages is unknown to them.
  local p
  for p in "$@"; do
    if ! apt-cache show "$p" >/dev/null 2>&1; then
      "${runner[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
      break
    fi
  done
  "${runner[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2
}

need=()
want_servers=0
if [ "$mode" = test ] || [ -z "${DATABASE_URL:-}" ]; then want_servers=1; fi

if command -v dpkg-query >/dev/null 2>&1; then
  if [ "$mode" = test ] || [ -z "${DATABASE_URL:-}" ]; then
    major=$(pg_major || true)
    if [ -z "$major" ]; then
      # Install the distribution's default server first: its major version names the PostGIS package.
      apt_install postgresql
      major=$(pg_major || true)
      [ -n "$major" ] || { say "postgresql installed but no server binary found under /usr/lib/postgresql"; exit 1; }
    fi
    installed "postgresql-$major-postgis-3" || need+=("postgresql-$major-postgis-3")
  fi
  if [ "$mode" = test ] || [ -z "${REDIS_URL:-}" ]; then
    command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
  fi
  if [ "$mode" = test ]; then
    [ -x /usr/bin/chromium ] || need+=(chromium)
    installed fonts-wqy-microhei || need+=(fonts-wqy-microhei)  # Chinese glyphs in the browser tests' screenshots
    command -v haproxy >/dev/null 2>&1 || need+=(haproxy)  # the load balancer of the two-instance tests
  fi
  if [ "${#need[@]}" -gt 0 ]; then apt_install "${need[@]}"; fi
elif [ "$want_servers" = 1 ]; then
  for cmd in initdb redis-server; do
    command -v "$cmd" >/dev/null 2>&1 || { say "no dpkg here and '$cmd' not found: install PostgreSQL with PostGIS 3 and Redis"; exit 1; }
  done
fi

# Python: the first interpreter of at least 3.11.
python=${PYTHON:-}
if [ -z "$python" ]; then
  for cand in python3.13 python3.12 python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      python=$cand
      break
    fi
  done
fi
[ -n "$python" ] || { say "Python 3.11 or newer is required (apt-get install python3)"; exit 1; }

stamp="$venv/.citymgmt-installed"
want=$(cat pyproject.toml constraints.txt 2>/dev/null | sha256sum | cut -c1-64)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/citymgmt" ]; then
  exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
  say "creating $venv with $python"
  if ! "$python" -m venv "$venv" 2>/dev/null; then
    rm -rf "$venv"
    pyver=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    if command -v dpkg-query >/dev/null 2>&1; then apt_install "python$pyver-venv"; fi
    "$python" -m venv "$venv"
  fi
fi
say "installing the project and its dev extras into $venv (first run takes a minute)"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >&2
"$venv/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]' >&2
echo "$want" > "$stamp"
say "virtualenv ready"
