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

scripts/supervisor.sh stop "$STATE"
[[ ! -d $STATE/sftp ]] || scripts/sftp-server.sh stop "$STATE/sftp"
[[ ! -d $STATE/s3 ]] || scripts/s3-server.sh stop "$STATE/s3"
echo "stopped; data is kept in $STATE"
