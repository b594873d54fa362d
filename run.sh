#!/usr/bin/env bash
# Usage: ./run.sh        (stop everything with ./stop.sh; data is kept)
#
# Brings the whole system up. With a reachable Docker engine: compose/docker-compose.yml.
# Otherwise every service runs as a local process against this machine's PostgreSQL and
# RabbitMQ, SeaweedFS as the S3 server (unless INTAKE_S3_ENDPOINT names a reachable one)
# and a private sshd as the demo SFTP server. Settings are generated once into
# $STATE/intake.env (STATE=${INTAKE_STATE_DIR:-.state}); edit that file to change them.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/lib.sh

STATE=${INTAKE_STATE_DIR:-$PWD/.state}
ENV_FILE=$STATE/intake.env
SERVICES=(admin:8000 discovery:8101 downloader:8102 uploader:8103 notifier:8104 processor:8105)
ADMIN=http://127.0.0.1:8000

has() { grep -q "^$1=" "$ENV_FILE"; }

# setting KEY DEFAULT: append KEY to the env file unless it is there already. A value in
# the environment wins over DEFAULT, but only when the key is first written.
setting() { has "$1" || printf "%s='%s'\n" "$1" "${!1:-$2}" >>"$ENV_FILE"; }

token() { python3 -c "import secrets; print(secrets.token_urlsafe($1))"; }

load_env() {
  set -a
  # shellcheck source=/dev/null
  source "$ENV_FILE"
  set +a
}

write_env_file() {
  mkdir -p "$STATE"
  [[ -f $ENV_FILE ]] || install -m 600 /dev/stdin "$ENV_FILE" <<'EOF'
# Intake settings for ./run.sh (every INTAKE_* is explained in .env.example). Written once;
# edits are kept. To change the console password, edit ADMIN_CONSOLE_PASSWORD and delete
# the INTAKE_ADMIN_PASSWORD_HASH line: the next ./run.sh derives it again.
EOF
  has INTAKE_SECRET_KEY || setting INTAKE_SECRET_KEY "$(python3 -c \
    'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')" # Fernet
  # No INTAKE_DATABASE_URL / INTAKE_AMQP_URL: local mode uses the defaults (this machine's
  # PostgreSQL and RabbitMQ accounts), compose builds them from the passwords below.
  setting INTAKE_S3_ENDPOINT 127.0.0.1:8333
  has INTAKE_S3_ACCESS_KEY || setting INTAKE_S3_ACCESS_KEY "intake-$(token 9)"
  has INTAKE_S3_SECRET_KEY || setting INTAKE_S3_SECRET_KEY "$(token 32)"
  setting INTAKE_S3_BUCKET intake
  # Docker mode's accounts (compose/docker-compose.yml): no server keeps a default one.
  has POSTGRES_SUPERUSER_PASSWORD || setting POSTGRES_SUPERUSER_PASSWORD "$(token 24)"
  has POSTGRES_INTAKE_PASSWORD || setting POSTGRES_INTAKE_PASSWORD "$(token 24)"
  has RABBITMQ_INTAKE_PASSWORD || setting RABBITMQ_INTAKE_PASSWORD "$(token 24)"
  has MINIO_ROOT_PASSWORD || setting MINIO_ROOT_PASSWORD "$(token 24)"
  has GRAFANA_ADMIN_PASSWORD || setting GRAFANA_ADMIN_PASSWORD "$(token 24)"
  setting INTAKE_SPOOL_DIR "$STATE/spool"
  has INTAKE_ADMIN_TOKEN || setting INTAKE_ADMIN_TOKEN "$(token 32)"
  has INTAKE_SESSION_SECRET || setting INTAKE_SESSION_SECRET "$(token 32)"
  has ADMIN_CONSOLE_PASSWORD || setting ADMIN_CONSOLE_PASSWORD "$(token 12)"
  has DEMO_SFTP_PASSWORD || setting DEMO_SFTP_PASSWORD "$(token 12)"
  load_env
  if ! has INTAKE_ADMIN_PASSWORD_HASH; then
    setting INTAKE_ADMIN_PASSWORD_HASH "$(printf '%s\n' "$ADMIN_CONSOLE_PASSWORD" |
      .venv/bin/python -m services.admin.hash_password)"
    load_env
  fi
}

# register_demo HOST PORT HOST_KEY: add the demo server through the admin API; when it is
# there already, set its connection (address, account, password, host key) to this run's,
# which a new .state makes anew: its stored password is sealed with INTAKE_SECRET_KEY.
register_demo() {
  python3 - "$ADMIN/api/servers" "$1" "$2" "$3" <<'PY'
import json
import os
import sys
import urllib.error
import urllib.request

url, host, port, host_key = sys.argv[1:]
headers = {"Content-Type": "application/json",
           "Authorization": f"Bearer {os.environ['INTAKE_ADMIN_TOKEN']}"}


def call(method: str, target: str, body: dict | None = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(target, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as exc:
        sys.exit(f"error: {method} {target} answered {exc.code}: "
                 f"{exc.read().decode(errors='replace')}")


connection = {"host": host, "port": int(port), "username": "intake-demo",
              "password": os.environ["DEMO_SFTP_PASSWORD"], "host_key": host_key.strip()}
demo = next((server for server in call("GET", url) if server["name"] == "demo"), None)
if demo is None:
    call("POST", url, {"name": "demo", **connection, "remote_dir": "inbox", "pattern": "*",
                       "recursive": False, "poll_interval_s": 5, "min_file_age_s": 2})
    print("registered the demo SFTP server as 'demo'")
else:
    call("PATCH", f"{url}/{demo['id']}", connection)
PY
}

logins() {
  echo "console user ${INTAKE_ADMIN_USER:-admin} password $ADMIN_CONSOLE_PASSWORD; API: Authorization: Bearer \$INTAKE_ADMIN_TOKEN (in $ENV_FILE)"
}

admin_ready() { [[ $(http_status "$ADMIN/readyz") == 2?? ]]; }

run_with_docker() {
  compose up -d --build
  wait_until 180 "the admin service on $ADMIN/readyz" admin_ready
  register_demo sftp 22 "$(compose exec -T sftp cat /etc/ssh/ssh_host_ed25519_key.pub)"
  cat <<EOF

Intake runs in Docker (compose/docker-compose.yml).
  Admin UI          $ADMIN/        API docs $ADMIN/schema
  Admin logins      $(logins)
  RabbitMQ UI       http://127.0.0.1:15672/  (intake/\$RABBITMQ_INTAKE_PASSWORD, vhost intake); notifications: Queues > file_imports
  MinIO console     http://127.0.0.1:9001/   (intake-root/\$MINIO_ROOT_PASSWORD) S3 API 127.0.0.1:9000, bucket $INTAKE_S3_BUCKET
  Demo SFTP         127.0.0.1:2222 user intake-demo password $DEMO_SFTP_PASSWORD
  Grafana           http://127.0.0.1:3000/   (admin/\$GRAFANA_ADMIN_PASSWORD) dashboard Intake pipeline; Prometheus http://127.0.0.1:9090/
  Drop a file       echo hello > /tmp/hello.txt && sftp -P 2222 intake-demo@127.0.0.1 <<< 'put /tmp/hello.txt inbox/'
  Logs              docker compose -f compose/docker-compose.yml logs -f
  Stop              ./stop.sh
EOF
}

# service_urls: NAME=URL,... of every local service, for the admin's services panel.
service_urls() {
  local entry urls=()
  for entry in "${SERVICES[@]}"; do urls+=("${entry%:*}=http://127.0.0.1:${entry#*:}"); done
  local IFS=,
  echo "${urls[*]}"
}

wait_service() {
  local name=$1 port=$2 deadline=$((SECONDS + 90))
  until [[ $(http_status "http://127.0.0.1:$port/readyz") == 2?? ]]; do
    if [[ $(scripts/supervisor.sh status "$STATE" "$name") == FATAL ]] ||
      ((SECONDS > deadline)); then
      echo "error: $name is not ready on http://127.0.0.1:$port/readyz;" \
        "last lines of $STATE/logs/$name.log:" >&2
      tail -n 30 "$STATE/logs/$name.log" >&2
      die "$name did not start; ./stop.sh stops what did"
    fi
    sleep 0.3
  done
}

start_s3() {
  local host=${INTAKE_S3_ENDPOINT%:*} port=${INTAKE_S3_ENDPOINT##*:}
  if [[ $(http_status "http://$INTAKE_S3_ENDPOINT/") != 000 ]]; then
    return # ours from an earlier run, or the user's MinIO
  fi
  [[ $host == 127.0.0.1 || $host == localhost ]] ||
    die "the S3 server INTAKE_S3_ENDPOINT=$INTAKE_S3_ENDPOINT (in $ENV_FILE) does not answer"
  AWS_ACCESS_KEY_ID=$INTAKE_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$INTAKE_S3_SECRET_KEY \
    scripts/s3-server.sh start "$STATE/s3" "$port"
}

run_locally() {
  # Processing jobs read local files under jobs/ and log their results beside it.
  export INTAKE_JOBS_LOCAL_ROOT=${INTAKE_JOBS_LOCAL_ROOT:-$STATE/jobs}
  export INTAKE_RESULTS_LOG=${INTAKE_RESULTS_LOG:-$STATE/results.log}
  mkdir -p "$STATE/logs" "$INTAKE_SPOOL_DIR" "$INTAKE_JOBS_LOCAL_ROOT"
  # The code's default URLs: this machine's PostgreSQL (trust auth on loopback) and
  # RabbitMQ's guest account, which the services refuse without this development flag.
  export INTAKE_ALLOW_DEFAULT_CREDENTIALS=true
  local database_url=${INTAKE_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/intake}
  if [[ $database_url == postgresql://*@127.0.0.1:5432/* ]]; then
    ensure_postgres
    local db=${database_url##*/}
    db=${db%%\?*}
    psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" |
      grep -q 1 || createdb -h 127.0.0.1 -U postgres "$db"
  fi
  [[ ${INTAKE_AMQP_URL:-@127.0.0.1:5672} != *@127.0.0.1:5672* ]] || ensure_rabbitmq
  start_s3
  scripts/sftp-server.sh start "$STATE/sftp" 2222 intake-demo "$DEMO_SFTP_PASSWORD"

  INTAKE_SERVICE_URLS=$(service_urls) \
    scripts/supervisor.sh start "$STATE" "$PWD/.venv/bin/python" "${SERVICES[@]}"
  local entry
  for entry in "${SERVICES[@]}"; do wait_service "${entry%:*}" "${entry#*:}"; done
  register_demo 127.0.0.1 2222 "$(<"$STATE/sftp/hostkey.pub")"
  # The drop command below checks the demo server's key against this file, not the user's
  # ~/.ssh/known_hosts: a key made anew after .state was removed must not be refused there.
  echo "[127.0.0.1]:2222 $(cut -d' ' -f1,2 "$STATE/sftp/hostkey.pub")" >"$STATE/sftp/known_hosts"

  local rabbit_ui="(management plugin off: rabbitmq-plugins enable rabbitmq_management)"
  [[ $(http_status http://127.0.0.1:15672/) == 000 ]] ||
    rabbit_ui="http://127.0.0.1:15672/ (guest/guest)"
  cat <<EOF

Intake runs as local processes (state in $STATE).
  Admin UI      $ADMIN/   API docs $ADMIN/schema
  Admin logins  $(logins)
  RabbitMQ      $rabbit_ui
  S3            $INTAKE_S3_ENDPOINT bucket $INTAKE_S3_BUCKET access key $INTAKE_S3_ACCESS_KEY secret key $INTAKE_S3_SECRET_KEY
  Demo SFTP     127.0.0.1:2222 user intake-demo password $DEMO_SFTP_PASSWORD
  Drop a file   echo hello > /tmp/hello.txt && sftp -i $STATE/sftp/client_key -P 2222 -o UserKnownHostsFile=$STATE/sftp/known_hosts intake-demo@127.0.0.1 <<< 'put /tmp/hello.txt inbox/'
  Notifications queue ${INTAKE_NOTIFY_QUEUE:-file_imports}; watch them live (leaves the queue alone):
                .venv/bin/python scripts/watch-notifications.py $ENV_FILE
                depth: rabbitmqctl list_queues name messages
  Jobs          CSV column sums: see the README ("Processing jobs"); local files go in $INTAKE_JOBS_LOCAL_ROOT,
                results are logged to $INTAKE_RESULTS_LOG
  Logs          $STATE/logs/<service>.log   (S3: $STATE/s3/weed.log, SFTP: $STATE/sftp/sshd.log)
  Supervisor    .venv/bin/supervisorctl -c $STATE/supervisord.conf status   (restarts crashed services)
  Stop          ./stop.sh
EOF
}

scripts/install.sh
write_env_file
if docker_engine; then
  run_with_docker
else
  run_locally
fi
