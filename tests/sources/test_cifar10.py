"""CIFAR-10 ``cifar-10-batches-py`` folders, read without trusting their pickles."""

from __future__ import annotations

import os
import pickle
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from visionops.errors import SourceError
from visionops.sources import read_source
from visionops.sources.cifar10 import read_cifar10

LABEL_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
PLANE = 32 * 32


def make_batch(labels: list[int], name: bytes = b"training batch 1 of 5") -> dict[bytes, Any]:
    """A batch dict as the official files hold it; pixel values encode the image index."""
    data = np.zeros((len(labels), 3 * PLANE), dtype=np.uint8)
    for index in range(len(labels)):
        data[index] = index + 1
    return {
        b"batch_label": name,
        b"labels": list(labels),
        b"data": data,
        b"filenames": [f"img_{index}.png".encode() for index in range(len(labels))],
    }


def write_pickle(path: Path, content: object, protocol: int | None = 2) -> Path:
    """Pickles ``content`` to ``path`` (protocol 2 like the official files by default)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(content, protocol=protocol))
    return path


def write_meta(root: Path) -> Path:
    """Writes ``batches.meta`` naming the ten classes as bytes."""
    meta = {b"label_names": [name.encode() for name in LABEL_NAMES], b"num_vis": 3072}
    return write_pickle(root / "batches.meta", meta)


@pytest.fixture
def cifar(tmp_path: Path) -> Path:
    """A folder with a three-image training batch and a two-image test batch."""
    root = tmp_path / "cifar-10-batches-py"
    train = make_batch([6, 9, 9])
    train[b"data"][0, 0 * PLANE + 0 * 32 + 1] = 250  # red at row 0, column 1
    train[b"data"][0, 1 * PLANE + 2 * 32 + 3] = 123  # green at row 2, column 3
    train[b"data"][0, 2 * PLANE + 31 * 32 + 0] = 77  # blue at row 31, column 0
    write_pickle(root / "data_batch_1", train)
    write_pickle(root / "test_batch", make_batch([3, 8], b"testing batch 1 of 1"))
    write_meta(root)
    return root


def test_images_come_out_nhwc_with_pixels_in_place(cifar: Path) -> None:
    """Channel-first rows become [N, 32, 32, 3] with each value at its pixel."""
    dataset = read_cifar10(cifar)
    assert dataset.images.shape == (5, 32, 32, 3)
    assert dataset.images.dtype == np.uint8
    assert dataset.images[0, 0, 1, 0] == 250
    assert dataset.images[0, 2, 3, 1] == 123
    assert dataset.images[0, 31, 0, 2] == 77
    assert dataset.images[0, 0, 0, 0] == 1
    assert (dataset.images[2] == 3).all()


def test_batches_are_merged_with_labels_and_class_names(cifar: Path) -> None:
    """Training and test batches are merged in order, classes named by batches.meta."""
    dataset = read_source("cifar10", str(cifar), {})
    assert len(dataset) == 5
    assert dataset.labels.tolist() == [6, 9, 9, 3, 8]
    assert dataset.labels.dtype == np.int64
    assert dataset.class_names == LABEL_NAMES
    assert dataset.source_ids.tolist()[2:4] == ["data_batch_1:2", "test_batch:0"]
    assert len(set(dataset.source_ids.tolist())) == 5


def test_python3_default_protocol_pickles_load(tmp_path: Path) -> None:
    """Batches re-saved by Python 3 with its default protocol and str keys still load."""
    batch = {key.decode(): value for key, value in make_batch([1, 2]).items()}
    write_pickle(tmp_path / "data_batch_2", batch, protocol=None)
    write_pickle(tmp_path / "batches.meta", {"label_names": list(LABEL_NAMES)}, protocol=None)
    dataset = read_cifar10(tmp_path)
    assert dataset.labels.tolist() == [1, 2]
    assert dataset.class_names == LABEL_NAMES
    assert (dataset.images[1] == 2).all()


def _exec_payload(marker: Path) -> tuple[Callable[..., Any], tuple[Any, ...]]:
    return exec, (f"open(r'{marker}', 'w').write('pwned')",)


def _system_payload(marker: Path) -> tuple[Callable[..., Any], tuple[Any, ...]]:
    return os.system, (f"touch '{marker}'",)


def _subprocess_payload(marker: Path) -> tuple[Callable[..., Any], tuple[Any, ...]]:
    return subprocess.call, (["touch", str(marker)],)


def malicious_batch(reduce: tuple[Callable[..., Any], tuple[Any, ...]]) -> dict[bytes, Any]:
    """A batch whose data runs ``reduce`` when unpickled by an ordinary unpickler."""

    class Exploit:
        def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
            return reduce

    return {b"batch_label": b"evil", b"labels": [0], b"data": Exploit()}


PAYLOADS = [_exec_payload, _system_payload, _subprocess_payload]


def test_malicious_payload_is_live_under_plain_pickle(tmp_path: Path) -> None:
    """Control: the crafted batch really runs code when loaded with pickle.loads."""
    marker = tmp_path / "control-marker"
    pickle.loads(pickle.dumps(malicious_batch(_exec_payload(marker)), protocol=2))
    assert marker.read_text() == "pwned"


@pytest.mark.parametrize("payload", PAYLOADS, ids=["exec", "os.system", "subprocess"])
def test_malicious_batch_is_refused_without_running_code(
    cifar: Path, tmp_path: Path, payload: Callable[[Path], Any]
) -> None:
    """A batch pickle that calls code is refused, naming the file, and nothing runs."""
    marker = tmp_path / "pwned-marker"
    batch = write_pickle(cifar / "data_batch_1", malicious_batch(payload(marker)))
    with pytest.raises(SourceError, match=str(batch)):
        read_cifar10(cifar)
    assert not marker.exists()


def test_malicious_meta_is_refused_without_running_code(cifar: Path, tmp_path: Path) -> None:
    """batches.meta goes through the same restricted unpickler as the batches."""
    marker = tmp_path / "meta-marker"
    meta = write_pickle(cifar / "batches.meta", malicious_batch(_exec_payload(marker)))
    with pytest.raises(SourceError, match=str(meta)):
        read_cifar10(cifar)
    assert not marker.exists()


def test_missing_folder(tmp_path: Path) -> None:
    """A folder that does not exist is named in the error."""
    missing = tmp_path / "cifar-10-batches-py"
    with pytest.raises(SourceError, match=str(missing)):
        read_cifar10(missing)


def test_folder_without_batches(tmp_path: Path) -> None:
    """A folder with metadata but no batch file is refused and says what to point at."""
    write_meta(tmp_path)
    with pytest.raises(SourceError, match="data_batch_1") as raised:
        read_cifar10(tmp_path)
    assert str(tmp_path) in str(raised.value)


def test_missing_meta(cifar: Path) -> None:
    """Without batches.meta the classes cannot be named; the file is named instead."""
    meta = cifar / "batches.meta"
    meta.unlink()
    with pytest.raises(SourceError, match=str(meta)):
        read_cifar10(cifar)


def test_batch_with_wrong_data_shape(cifar: Path) -> None:
    """Data that is not uint8 [N, 3072] is refused, naming the batch."""
    batch = make_batch([0, 1])
    batch[b"data"] = np.zeros((2, 1024), dtype=np.uint8)
    path = write_pickle(cifar / "data_batch_2", batch)
    with pytest.raises(SourceError, match=str(path)) as raised:
        read_cifar10(cifar)
    assert "3072" in str(raised.value)


def test_batch_that_is_not_a_pickle(cifar: Path) -> None:
    """A batch file holding text is refused, naming the file."""
    path = cifar / "test_batch"
    path.write_text("not a pickle")
    with pytest.raises(SourceError, match=str(path)):
        read_cifar10(cifar)
