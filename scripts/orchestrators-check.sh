#!/usr/bin/env bash
# Runs pipelines/ under real orchestrators on the local Docker engine, end to end, and
# says which passed.
#
#   scripts/orchestrators-check.sh       # or: make orchestrators-check
#
# airflow: `airflow dags test visionops` (Airflow 3) runs the six stage containers and
# registers the model; bad data fails the validation task with its error in the task
# log and no task after it runs; both DAGs of pipelines/ (DockerOperator and
# KubernetesPodOperator) load with each stage's operations. compose: the commands of
# pipelines/docker-compose.yml's header, word for word, under Compose v2: every stage
# and the registered model, the server, `down`; bad data fails the validation service.
# These are tests/container/test_airflow.py and test_compose.py; their fixtures build
# what is missing: the Docker engine and the image (scripts/build-image.sh) and
# .orchestrators/ (scripts/orchestrators-env.sh). The last line reads
# `airflow=pass|fail compose=pass|fail`; the exit status is 0 when both pass.
set -uo pipefail
cd "$(dirname "$0")/.."

PYTEST=${PYTEST:-.venv/bin/pytest}

if "$PYTEST" tests/container/test_airflow.py; then airflow=pass; else airflow=fail; fi
if "$PYTEST" tests/container/test_compose.py; then compose=pass; else compose=fail; fi
echo "airflow=$airflow compose=$compose"
[ "$airflow" = pass ] && [ "$compose" = pass ]
