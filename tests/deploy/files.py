"""Read the deployment files as Docker and compose would: Dockerfile instructions and compose services."""

from __future__ import annotations

import json
import re

import yaml

from service.config import REPO_ROOT

DOCKERFILE = REPO_ROOT / "Dockerfile"
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENTRYPOINT = REPO_ROOT / "docker" / "entrypoint.sh"
IMAGE_ROOT = "/app"  # where the Dockerfile puts the repository's files


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    lines = [line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    return [(word.upper(), rest.strip()) for word, _, rest in
            (line.strip().partition(" ") for line in joined.splitlines() if line.strip())]


def last(instruction: str) -> str:
    """The arguments of the last `instruction` (the one in force in the final stage)."""
    return [args for name, args in dockerfile_instructions() if name == instruction][-1]


def healthcheck_command() -> list[str]:
    """The HEALTHCHECK's exec-form command."""
    _, _, command = last("HEALTHCHECK").partition("CMD ")
    return json.loads(command)


def native_path(image_path: str) -> str:
    """A path inside the image as the same file in this checkout."""
    return str(REPO_ROOT / image_path.removeprefix(IMAGE_ROOT + "/"))


def compose_services() -> dict[str, dict]:
    return yaml.safe_load(COMPOSE_FILE.read_text())["services"]


def interpolated_compose(env: dict[str, str]) -> dict:
    """The compose file with its ${VAR}, ${VAR:-default} and ${VAR:?error} filled from `env` as compose does;
    a required variable that is unset or empty is a KeyError naming it."""

    def fill(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2) or "", match.group(3) or ""
        if env.get(name):
            return env[name]
        if op == ":?":
            raise KeyError(f"{name}: {arg}")
        return arg if op == ":-" else ""

    text = re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", fill, COMPOSE_FILE.read_text())
    return yaml.safe_load(text.replace("$$", "$"))
