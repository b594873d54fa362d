# shellcheck shell=bash
# Helpers shared by the scripts in this repository; `source` it, do not run it.

# The repository's root, wherever the sourcing script was started from.
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() {
  echo "error: $*" >&2
  exit 1
}

# read_pid PIDFILE: print the pid PIDFILE holds; fail quietly when there is none (a daemon
# such as sshd removes its own pidfile while it exits).
read_pid() {
  local pid
  { read -r pid <"$1"; } 2>/dev/null && [[ $pid =~ ^[0-9]+$ ]] && echo "$pid"
}

# alive PID PATTERN: PID runs and its command line contains PATTERN (so a recycled pid, or
# a zombie with its empty command line, never counts as ours).
alive() {
  kill -0 "$1" 2>/dev/null && tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" | grep -qF -- "$2"
}

# pid_alive PIDFILE PATTERN: alive, for the pid in PIDFILE.
pid_alive() {
  local pid
  pid=$(read_pid "$1") && alive "$pid" "$2"
}

# running PID: the process exists and is no zombie. For a child just started in the
# background, whose command line is still the shell's until it has exec'd.
running() {
  local state
  state=$(awk '{ print $3 }' 2>/dev/null <"/proc/$1/stat") && [[ -n $state && $state != Z ]]
}

# stop_pidfile PIDFILE PATTERN [TIMEOUT]: SIGTERM, up to TIMEOUT seconds of grace, SIGKILL;
# then PIDFILE is removed.
stop_pidfile() {
  local pid
  if pid=$(read_pid "$1") && alive "$pid" "$2"; then
    kill -TERM "$pid" 2>/dev/null || true
    reap "$pid" "$2" "${3:-30}"
  fi
  rm -f "$1"
}

# reap PID PATTERN TIMEOUT: wait for a process sent SIGTERM to exit; SIGKILL it after
# TIMEOUT seconds.
reap() {
  local deadline=$((SECONDS + $3))
  while alive "$1" "$2"; do
    if ((SECONDS >= deadline)); then
      echo "warning: pid $1 still runs $3 s after SIGTERM; sending SIGKILL" >&2
      kill -KILL "$1" 2>/dev/null || true
      wait_until 10 "pid $1 to exit" not alive "$1" "$2"
      return
    fi
    sleep 0.2
  done
}

not() { ! "$@"; }

# wait_until TIMEOUT WHAT COMMAND...: poll COMMAND until it succeeds; fail after TIMEOUT s.
wait_until() {
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@"; do
    if ((SECONDS >= deadline)); then
      echo "error: timed out waiting for $what" >&2
      return 1
    fi
    sleep 0.2
  done
}

docker_engine() { command -v docker >/dev/null && docker info >/dev/null 2>&1; }

# compose ARGS...: Compose (the v2 plugin, else Debian's docker-compose) on this project's
# compose file, with $STATE/intake.env for its ${...} variables and the services' env_file;
# an image it builds knows the checkout's commit (intake_build_info).
compose() {
  local args=(--env-file "$STATE/intake.env" -f compose/docker-compose.yml "$@")
  local commit
  commit=$(git rev-parse --short=12 HEAD 2>/dev/null) || commit=
  if docker compose version >/dev/null 2>&1; then
    INTAKE_ENV_FILE=$STATE/intake.env INTAKE_GIT_COMMIT=$commit docker compose "${args[@]}"
  else
    INTAKE_ENV_FILE=$STATE/intake.env INTAKE_GIT_COMMIT=$commit docker-compose "${args[@]}"
  fi
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# http_status URL: the HTTP status code URL answers with, or 000 when nothing answers.
http_status() {
  python3 - "$1" <<'PY'
import sys
import urllib.error
import urllib.request

try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as response:
        print(response.status)
except urllib.error.HTTPError as exc:
    print(exc.code)
except Exception:
    print("000")
PY
}

# free_ports FILE COUNT: COUNT loopback ports that are free right now. The ports saved in
# FILE are reused while they are all free, so a server keeps its ports across restarts.
free_ports() {
  python3 - "$1" "$2" <<'PY'
import contextlib
import pathlib
import socket
import sys

path, count = pathlib.Path(sys.argv[1]), int(sys.argv[2])


def bind_all(ports):
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in ports]
        for sock, port in zip(socks, ports):
            # Like the servers themselves: a port whose old connections linger is free.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
        return [sock.getsockname()[1] for sock in socks]


saved = [int(p) for p in path.read_text().split()] if path.exists() else []
try:
    ports = bind_all(saved) if len(saved) == count else None
except OSError:
    ports = None
if ports is None:
    ports = bind_all([0] * count)
    path.write_text(" ".join(map(str, ports)) + "\n")
print(*ports)
PY
}

ensure_postgres() {
  command -v pg_isready >/dev/null || die "pg_isready not found: install PostgreSQL (postgresql)"
  pg_isready -q -h 127.0.0.1 -p 5432 && return
  echo "PostgreSQL is not answering on 127.0.0.1:5432; starting it ..."
  local clusters=(/etc/postgresql/*/main) version
  [[ -d ${clusters[-1]} ]] || die "no PostgreSQL cluster in /etc/postgresql: install postgresql"
  version=$(basename "$(dirname "${clusters[-1]}")")
  pg_ctlcluster --skip-systemctl-redirect "$version" main start ||
    die "could not start PostgreSQL $version/main (see /var/log/postgresql/)"
  wait_until 60 "PostgreSQL on 127.0.0.1:5432" pg_isready -q -h 127.0.0.1 -p 5432 ||
    die "PostgreSQL did not start (see /var/log/postgresql/)"
}

ensure_rabbitmq() {
  port_open 127.0.0.1 5672 && return
  echo "RabbitMQ is not answering on 127.0.0.1:5672; starting it ..."
  command -v rabbitmq-server >/dev/null || die "rabbitmq-server not found: install rabbitmq-server"
  rabbitmq-server -detached || die "rabbitmq-server -detached failed"
  wait_until 90 "RabbitMQ on 127.0.0.1:5672" port_open 127.0.0.1 5672 ||
    die "RabbitMQ did not start (see /var/log/rabbitmq/)"
}

# state_dir DIR: create DIR if need be and print it as an absolute path (the daemons'
# configs want absolute paths).
state_dir() { mkdir -p "$1" && cd "$1" && pwd; }
