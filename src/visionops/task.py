"""What makes two datasets the same classification task: class names and image shape.

A model in the registry learns one task. Data with other classes or another input
shape cannot be compared with it (drift, champion scores) nor replace it; it is a new
model, named by the ``model_name`` parameter. The validation and evaluation stages
both ask :func:`task_difference` and stop with :func:`new_model_advice`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from visionops.errors import VisionOpsError


class DifferentTaskError(VisionOpsError):
    """The data is not the task of the model it would train a version of."""


def _shape(shape: Sequence[int]) -> str:
    return "x".join(str(int(side)) for side in shape)


def _classes(names: Sequence[str]) -> str:
    names = [str(name) for name in names]
    shown = ", ".join(names[:5]) + (f", ... ({len(names)} in all)" if len(names) > 5 else "")
    return f"[{shown}]"


def task_difference(
    class_names: Sequence[str],
    image_shape: Sequence[int],
    known_class_names: Sequence[str],
    known_image_shape: Sequence[int],
) -> str | None:
    """How this data differs from the task a model learned, or None when it does not.

    An empty ``known_class_names`` (a record that did not keep them) is not compared.
    """
    differences = []
    if known_class_names and [str(n) for n in class_names] != [str(n) for n in known_class_names]:
        differences.append(f"classes {_classes(class_names)}, not {_classes(known_class_names)}")
    if known_image_shape and list(map(int, image_shape)) != list(map(int, known_image_shape)):
        differences.append(f"images {_shape(image_shape)}, not {_shape(known_image_shape)}")
    return "; ".join(differences) or None


def new_model_advice(
    model_name: str, known: str, difference: str, ingestion: dict[str, Any]
) -> str:
    """The one line that says this is a different task and how to train it.

    Args:
        model_name: The model this run would add a version to.
        known: What the data was compared with, e.g. ``production version 2``.
        difference: :func:`task_difference`'s answer.
        ingestion: The ``ingestion`` parameters, to repeat in the command.
    """
    source = ingestion.get("source", "digits")
    command = f"dvc exp run -S ingestion.source={source}"
    if source != "digits":
        command += f" -S ingestion.path={ingestion.get('path')}"
    return (
        f"this data is a different task from {model_name!r} ({known}): {difference}; "
        f"train it as a new model beside it: {command} -S model_name=NAME"
    )


def require_same_task(
    data: tuple[Sequence[str], Sequence[int]],
    known: tuple[Sequence[str], Sequence[int]],
    model_name: str,
    version: int,
    ingestion: dict[str, Any],
) -> None:
    """Raises unless ``data`` (class names, image shape) is the task ``known`` of the
    production version ``version`` of ``model_name``.

    Raises:
        DifferentTaskError: One line naming the difference and the new-model command.
    """
    difference = task_difference(*data, *known)
    if difference is not None:
        known_as = f"production version {version}"
        raise DifferentTaskError(new_model_advice(model_name, known_as, difference, ingestion))
