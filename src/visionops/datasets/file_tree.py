"""A folder of files, such as a static HTML site, saved and loaded as path -> bytes.

kedro-datasets' ``PartitionedDataset`` writes partitions one by one into the live
folder and leaves stale files behind; this dataset replaces the whole folder at once.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractDataset


class FileTreeDataset(AbstractDataset[dict[str, bytes], dict[str, bytes]]):
    """Saves and loads a folder as a mapping of relative POSIX path to file content.

    Saving writes the new tree into a hidden sibling folder, moves the old folder aside,
    moves the new one in and only then deletes the old one, so a reader never sees old
    and new files mixed and a failed save leaves the previous tree as it was.
    """

    def __init__(self, path: str, metadata: dict[str, Any] | None = None) -> None:
        """Creates the dataset.

        Args:
            path: The folder that holds the tree.
            metadata: Free-form metadata, ignored by Kedro.
        """
        self._path = Path(path)
        self.metadata = metadata

    def load(self) -> dict[str, bytes]:
        if not self._path.is_dir():
            raise FileNotFoundError(f"no file tree at {self._path}; run the node that saves it")
        return {
            file.relative_to(self._path).as_posix(): file.read_bytes()
            for file in sorted(self._path.rglob("*"))
            if file.is_file()
        }

    def save(self, data: dict[str, bytes]) -> None:
        files = _checked_files(data)
        if self._path.exists() and not self._path.is_dir():
            raise ValueError(
                f"{self._path} is a file, not a folder; remove it or pick another path"
            )
        parent = self._path.parent
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=parent, prefix=f".{self._path.name}.", suffix=".new"))
        staging.chmod(0o755)  # mkdtemp makes it private; the tree is meant to be read.
        try:
            for relative, content in files.items():
                target = staging / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
            self._swap_in(staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _swap_in(self, staging: Path) -> None:
        """Replaces the folder at ``self._path`` with ``staging``."""
        if not self._path.exists():
            os.rename(staging, self._path)
            return
        retired = Path(
            tempfile.mkdtemp(dir=self._path.parent, prefix=f".{self._path.name}.", suffix=".old")
        )
        retired.rmdir()  # Only the unique name is wanted; rename needs it free.
        os.rename(self._path, retired)
        try:
            os.rename(staging, self._path)
        except BaseException:
            os.rename(retired, self._path)
            raise
        # The new tree is in place: a leftover hidden folder is no reason to fail the save.
        shutil.rmtree(retired, ignore_errors=True)

    def _exists(self) -> bool:
        return self._path.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}


def _checked_files(data: Mapping[str, Any]) -> dict[PurePosixPath, bytes]:
    """The mapping's files as safe relative paths and bytes, checked before anything is written.

    Raises:
        ValueError: A key is not a relative path inside the tree.
        TypeError: ``data`` is not a mapping, or a value is neither bytes nor str.
    """
    if not isinstance(data, Mapping):
        raise TypeError(f"a file tree is a mapping of path to bytes, got {type(data).__name__}")
    files: dict[PurePosixPath, bytes] = {}
    for key, value in data.items():
        relative = PurePosixPath(key) if isinstance(key, str) else None
        if (
            relative is None
            or relative.is_absolute()
            or ".." in relative.parts
            or "\\" in key
            or not relative.parts
        ):
            raise ValueError(
                f"file tree key {key!r} is not a relative path inside the tree; "
                "use forward slashes, no leading '/' and no '..'"
            )
        content = value.encode("utf-8") if isinstance(value, str) else value
        if not isinstance(content, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"file tree value for {key!r} is a {type(value).__name__}; give bytes or str"
            )
        files[relative] = bytes(content)
    return files
