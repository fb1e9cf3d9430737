#!/usr/bin/env bash
# `make run`: start the servers (unless URLs are set), migrate, load the demo data once, then the process set
# in the foreground. Ctrl-C stops the processes, and the embedded servers if this run started them.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${VENV:-.venv}/bin
export PATH="$PWD/$bin:$PATH"
port=${PORT:-5000}

if python3 - "$port" <<'PY'
import socket, sys
s = socket.socket()
# As gunicorn binds: connections of a previous run in TIME_WAIT do not make the port busy; a listener does.
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(0)
sys.exit(1)
PY
then
  echo "citymgmt: port $port on 127.0.0.1 is in use; stop what uses it or run: PORT=5001 make run" >&2
  exit 1
fi

started_here=0
if ! citymgmt services status >/dev/null 2>&1; then started_here=1; fi
citymgmt services up
stop_services() {
  if [ "$started_here" = 1 ]; then
    echo "citymgmt: stopping the embedded servers (data kept under ./var)"
    citymgmt services down || true
  fi
}
trap stop_services EXIT

citymgmt db upgrade
# The demo city on first start, unless CITYMGMT_DEMO is off or the database holds another city (or the unloaded demo).
demo_state=$(citymgmt demo load --if-empty --if-enabled)
echo "$demo_state"

cat <<TXT

  citymgmt is starting at http://127.0.0.1:$port  (health: http://127.0.0.1:$port/healthz)
  Sign in: http://127.0.0.1:$port/login    API: http://127.0.0.1:$port/api/v1/docs
TXT
case "$demo_state" in
  "demo city loaded"|"demo city already loaded")
    cat <<TXT
  Demo accounts (password demo-password): admin, inspector, operator, leader, dispatcher, supervisor,
  and handler-<department>, e.g. handler-bj-water, handler-110101-sanitation.
TXT
    ;;
  *)
    echo "  No demo city: sign in with the accounts made by citymgmt users create."
    ;;
esac
cat <<TXT
  Ctrl-C stops everything.

TXT
honcho start -f Procfile -p "$port"
