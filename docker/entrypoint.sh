#!/bin/sh
# Container entrypoint. No arguments or `serve`: check the models, then run the API in the foreground
# (exec: the server replaces the shell, so it receives `docker stop`'s SIGTERM itself).
# Anything else runs as given, e.g. `facever db upgrade` for the compose `migrate` service.
set -eu

if [ "$#" -eq 0 ] || [ "$1" = "serve" ]; then
    [ "$#" -gt 0 ] && shift
    python "$(dirname "$0")/preflight.py"
    exec facever serve --host "${HOST:-0.0.0.0}" --port "${PORT:-8000}" --workers "${WORKERS:-1}" "$@"
fi
exec "$@"
