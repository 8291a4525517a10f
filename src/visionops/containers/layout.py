"""Where things are inside the visionops image; the Dockerfile and every spec agree.

tests/container/test_specs.py checks the Dockerfile against these names.
"""

from __future__ import annotations

DEFAULT_IMAGE = "visionops:latest"
# The working directory: pyproject.toml, conf/ and src/ are in the image; data/ and
# registry/ are mounted here.
PROJECT_DIR = "/project"
DATA_DIR = f"{PROJECT_DIR}/data"
REGISTRY_DIR = f"{PROJECT_DIR}/registry"
# The image's default user; Kubernetes runs the pods as it, compose as the host user.
USER_ID = 1000
GROUP_ID = 1000
SERVE_PORT = 8501
GRPC_PORT = 8500  # TF Serving's gRPC API
HEALTH_PATH = "/healthz"
HEALTHCHECK = (
    "python",
    "-c",
    f"import urllib.request; urllib.request.urlopen("
    f"'http://127.0.0.1:{SERVE_PORT}{HEALTH_PATH}', timeout=4)",
)


def stage_command(stage: str) -> list[str]:
    """The container command that runs one stage (one Kedro pipeline)."""
    return ["kedro", "run", "--pipelines", stage]


def serve_command() -> list[str]:
    """The container command of the model server, reachable from outside the container."""
    return [
        "visionops",
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        str(SERVE_PORT),
        "--grpc-port",
        str(GRPC_PORT),
    ]


def schedule_command() -> list[str]:
    """The container command of one scheduler check (retrains when a trigger fires)."""
    return ["visionops", "schedule", "--once"]


def resource_name(stage: str) -> str:
    """A stage's name as Kubernetes and Argo accept it (DNS-1123: no underscores)."""
    return stage.replace("_", "-")
