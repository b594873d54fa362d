#!/usr/bin/env bash
# Usage: ./test.sh [PYTEST ARGS...]   (default: every test except the soak, on
#                                      INTAKE_TEST_WORKERS workers, one more than the CPUs)
#
# Installs what is missing, lints, then runs pytest. Tests use the servers named by
# INTAKE_TEST_* variables, else testcontainers with a Docker engine, else this machine's
# PostgreSQL and RabbitMQ plus SeaweedFS and sshd on free ports (see tests/conftest.py).
# Each pytest-xdist worker is a run of its own: its database, queue prefix, bucket, S3
# and SFTP servers. Most tests wait on servers and processes, so workers beyond the CPUs
# still help.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/lib.sh

scripts/install.sh --with-browser --with-prometheus  # the console's browser test; Prometheus
if ! docker_engine; then
  [[ -n ${INTAKE_TEST_DATABASE_URL:-} ]] || ensure_postgres
  [[ -n ${INTAKE_TEST_AMQP_URL:-} ]] || ensure_rabbitmq
fi
.venv/bin/ruff check .
if (($# == 0)); then
  set -- -m "not soak" -n "${INTAKE_TEST_WORKERS:-$(($(nproc) + 1))}" --dist worksteal
fi
exec .venv/bin/pytest "$@"
