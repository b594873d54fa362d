#!/usr/bin/env bash
# Usage: ./stop.sh — stops what ./run.sh started (services first, then the demo SFTP and
# S3 servers) and keeps every bit of data; ./run.sh starts it all again.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/lib.sh

STATE=${INTAKE_STATE_DIR:-$PWD/.state}

if docker_engine; then
  [[ ! -f $STATE/intake.env ]] || compose stop
  exit
fi

# Signal every service at once so that they drain in parallel, then wait for each.
declare -A signalled # pidfile -> pid
for pidfile in "$STATE"/pids/*.pid; do
  [[ -e $pidfile ]] || continue
  name=$(basename "$pidfile" .pid)
  if pid=$(read_pid "$pidfile") && alive "$pid" "-m services $name"; then
    echo "stopping $name"
    kill -TERM "$pid"
    signalled[$pidfile]=$pid
  else
    rm -f "$pidfile"
  fi
done
for pidfile in "${!signalled[@]}"; do
  reap "${signalled[$pidfile]}" "-m services $(basename "$pidfile" .pid)" 45
  rm -f "$pidfile"
done
[[ ! -d $STATE/sftp ]] || scripts/sftp-server.sh stop "$STATE/sftp"
[[ ! -d $STATE/s3 ]] || scripts/s3-server.sh stop "$STATE/s3"
echo "stopped; data is kept in $STATE"
