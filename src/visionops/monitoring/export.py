"""``visionops feedback export``: labelled production images as an image folder.

Each labelled image whose encoded bytes were captured is written as
``<target>/<true class>/<request id>-<instance>.<png|jpg|...>``, the layout the
``image_folder`` source reads, with ``<target>/feedback.json`` beside the class folders:
which segments and labels it came from (names and sha256), who sent each label and
when. The folder is built beside ``target`` and swapped in whole, so the data version
is never half-written. List it among ``ingestion.source`` to train on it with the rest
(docs/production-loop.md); DVC tracks it as any data folder.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from visionops.errors import ConfigError
from visionops.monitoring.events import EXPORTED, record_event
from visionops.monitoring.feedback import FeedbackStore
from visionops.monitoring.layout import list_segments
from visionops.monitoring.records import RAW, read_segments, to_png

MANIFEST = "feedback.json"
MANIFEST_FORMAT = 1
_SIGNATURES = ((b"\x89PNG", "png"), (b"\xff\xd8", "jpg"), (b"GIF8", "gif"), (b"BM", "bmp"))


def _suffix(data: bytes) -> str:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return next((suffix for magic, suffix in _SIGNATURES if data.startswith(magic)), "png")


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes."""
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def export_feedback(folder: Path, model: str, target: Path) -> dict[str, Any]:
    """Writes the labelled images of ``model`` under ``target``; returns the manifest.

    Raises:
        ConfigError: There is no label, or no labelled image was captured.
    """
    labelled = FeedbackStore(folder, model).labelled()
    if not labelled:
        raise ConfigError(
            f"model {model!r} has no feedback labels in {folder}; send some to "
            f"POST /v1/models/{model}:feedback or `visionops feedback import FILE.csv`"
        )
    segments = list_segments(folder, model)
    wanted = list(labelled)
    target = Path(target)
    staging = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}")
    staging.mkdir(parents=True)
    items, used, per_class = [], [], Counter()
    try:
        for path in segments:
            table = read_segments(
                [path],
                ("request_id", "instance", "sha256", "image", "encoding", "height", "width"),
            )
            table = table.filter(pc.is_in(table.column("request_id"), pa.array(wanted)))
            if table.num_rows == 0:
                continue
            used.append({"name": path.name, "sha256": file_sha256(path), "rows": table.num_rows})
            for request_id, instance, sha256, stored, encoding, height, width in zip(
                *table.to_pydict().values(), strict=True
            ):
                if stored is None:
                    continue
                image = stored
                if encoding == RAW:  # uint8 pixels as sent: stored losslessly as PNG
                    image = to_png(np.frombuffer(stored, np.uint8).reshape(height, width, -1))
                entry = labelled[request_id]
                label = entry["labels"][instance]
                name = f"{label}/{request_id}-{instance}.{_suffix(image)}"
                (staging / label).mkdir(exist_ok=True)
                (staging / name).write_bytes(image)
                per_class[label] += 1
                items.append(
                    {
                        "file": name,
                        "request_id": request_id,
                        "instance": instance,
                        "label": label,
                        "predicted": entry["predicted"][instance],
                        "version": entry["version"],
                        "sender": entry["sender"],
                        "labelled_at": entry["time"],
                        "input_sha256": sha256,
                        "segment": path.name,
                    }
                )
        if not items:
            raise ConfigError(
                f"none of the {len(labelled)} labelled request(s) of {model!r} has a captured "
                "image in the log (prediction_log.capture_images, or purged); nothing to export"
            )
        labels_file = FeedbackStore(folder, model).path
        manifest = {
            "format": MANIFEST_FORMAT,
            "model": model,
            "images": len(items),
            "labelled_requests": len(labelled),
            "images_per_class": dict(sorted(per_class.items())),
            "senders": dict(Counter(item["sender"] for item in items)),
            "labels_file": {"name": labels_file.name, "sha256": file_sha256(labels_file)},
            "segments": used,
            "items": sorted(items, key=lambda item: item["file"]),
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        _swap(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    summary = {key: value for key, value in manifest.items() if key != "items"}
    record_event(folder, EXPORTED, {"target": str(target), **summary})
    return manifest


def _swap(staging: Path, target: Path) -> None:
    """Puts ``staging`` where ``target`` is, replacing it."""
    if target.exists():
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(target)


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The export manifest of an image folder, without its per-image items; None if it
    has none."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ConfigError(f"{path} cannot be read: {error}") from error
    return {key: value for key, value in manifest.items() if key != "items"} | {
        "sha256": file_sha256(path)
    }
