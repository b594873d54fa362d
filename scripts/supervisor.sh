#!/usr/bin/env bash
# Usage: scripts/supervisor.sh start STATE_DIR PYTHON NAME:PORT...
#        scripts/supervisor.sh status STATE_DIR NAME   (prints RUNNING, BACKOFF, FATAL, ...)
#        scripts/supervisor.sh stop STATE_DIR
#
# Runs `PYTHON -m services NAME` (with INTAKE_HTTP_PORT=PORT) for each NAME under
# supervisord, from .venv (the supervisor package): a service that crashes or is killed is
# started again (autorestart), with a growing delay while it keeps failing at once; after
# `startretries` failed starts it stays FATAL, which the admin's services panel shows.
# Config, socket, pidfile and logs (STATE_DIR/logs/NAME.log) live in STATE_DIR. start is
# idempotent: a running supervisord rereads the config and starts what is not running.
# stop signals every service at once (one group), SIGKILL after 45 s, then supervisord exits.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

usage() { die "usage: $0 start STATE_DIR PYTHON NAME:PORT... | status STATE_DIR NAME | stop STATE_DIR"; }

(($# >= 2)) || usage
action=$1 state=$(state_dir "$2")
mkdir -p "$state/logs"
conf=$state/supervisord.conf
pidfile=$state/supervisord.pid
supervisor_python=$repo_root/.venv/bin/python
ctl() { "$supervisor_python" -m supervisor.supervisorctl -c "$conf" "$@"; }

case $action in
  stop)
    if pid=$(read_pid "$pidfile") && alive "$pid" "$conf"; then
      echo "stopping the services (supervisord)"
      ctl shutdown >/dev/null
      reap "$pid" "$conf" 60
    fi
    rm -f "$pidfile"
    exit 0
    ;;
  status)
    (($# == 3)) || usage
    # supervisorctl status exits non-zero for any state but RUNNING: the word is the answer.
    { ctl status "intake:$3" || true; } | awk '{ print $2 }'
    exit 0
    ;;
  start) (($# >= 4)) || usage ;;
  *) usage ;;
esac
python=$3
shift 3

write_conf() {
  local entry names=()
  cat <<CONF
; Written by scripts/supervisor.sh at every ./run.sh; edits are lost.
[supervisord]
logfile=$state/logs/supervisord.log
pidfile=$pidfile
childlogdir=$state/logs
directory=$repo_root

[unix_http_server]
file=$state/supervisor.sock
chmod=0700

[supervisorctl]
serverurl=unix://$state/supervisor.sock

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
CONF
  for entry in "$@"; do
    names+=("${entry%:*}")
    cat <<CONF

[program:${entry%:*}]
command=$python -m services ${entry%:*}
environment=INTAKE_HTTP_PORT="${entry#*:}"
autorestart=true
startsecs=5
startretries=5
stopsignal=TERM
stopwaitsecs=45
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile=$state/logs/${entry%:*}.log
CONF
  done
  local IFS=,
  printf '\n[group:intake]\nprograms=%s\n' "${names[*]}"
}

write_conf "$@" >"$conf.new"
mv "$conf.new" "$conf"
if pid=$(read_pid "$pidfile") && alive "$pid" "$conf"; then
  ctl update >/dev/null
  ctl start 'intake:*' >/dev/null || true # "already started" counts as a failure
else
  "$supervisor_python" -m supervisor.supervisord -c "$conf"
  wait_until 20 "supervisord to answer on $state/supervisor.sock" ctl pid >/dev/null ||
    die "supervisord did not start; see $state/logs/supervisord.log"
fi
