"""TF Serving's ``model_version_policy``: which versions of a model a server loads.

``models.config`` gives each model one of three policies, as TensorFlow Serving reads
them (``FileSystemStoragePathSourceConfig.ServableVersionPolicy``):

- ``latest { num_versions: N }``: the N highest versions on disk (N defaults to 1,
  and a model with no policy at all gets ``latest`` 1);
- ``all {}``: every version on disk;
- ``specific { versions: 2 versions: 3 }``: exactly those versions.

visionops writes ``specific``, naming every labelled version and the newest one
(:func:`served_policy`), and ``visionops serve`` loads what the policy says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from visionops.registry.textproto import Field, TextProtoError, fields

LATEST, ALL, SPECIFIC = "latest", "all", "specific"


@dataclass(frozen=True)
class VersionPolicy:
    """One model's ``model_version_policy``.

    Attributes:
        kind: ``latest``, ``all`` or ``specific``.
        num_versions: How many of the highest versions ``latest`` serves.
        versions: The versions ``specific`` serves.
    """

    kind: str = LATEST
    num_versions: int = 1
    versions: frozenset[int] = frozenset()

    def select(self, on_disk: Iterable[int]) -> set[int]:
        """The versions among ``on_disk`` that this policy serves."""
        present = set(on_disk)
        if self.kind == ALL:
            return present
        if self.kind == SPECIFIC:
            return present & self.versions
        return set(sorted(present)[-self.num_versions :]) if present else set()

    def describe(self) -> str:
        """The policy in words, for messages: ``specific versions [1, 3]``."""
        if self.kind == ALL:
            return "all versions"
        if self.kind == SPECIFIC:
            return f"specific versions {sorted(self.versions)}"
        return f"the latest {self.num_versions} version{'s' if self.num_versions > 1 else ''}"

    def to_text(self) -> str:
        """The ``model_version_policy`` field in text format, on one line."""
        if self.kind == ALL:
            body = "all {}"
        elif self.kind == SPECIFIC:
            listed = "".join(f" versions: {version}" for version in sorted(self.versions))
            body = f"specific {{{listed} }}" if listed else "specific {}"
        else:
            body = f"latest {{ num_versions: {self.num_versions} }}"
        return f"model_version_policy {{ {body} }}"


def served_policy(labels: Mapping[str, int], on_disk: Iterable[int]) -> VersionPolicy:
    """The policy visionops writes: every labelled version and the newest on disk.

    TF Serving assigns a label only to a version it has loaded, so each labelled
    version must be in the policy; the newest is there so that a version just
    registered answers by number before any label points at it.
    """
    versions = set(labels.values()) | set(sorted(on_disk)[-1:])
    return VersionPolicy(SPECIFIC, versions=frozenset(versions))


def parse_policy(config: list[Field]) -> VersionPolicy:
    """The version policy of one parsed ``config { ... }`` message of models.config.

    Raises:
        TextProtoError: The policy is not one TF Serving would accept.
    """
    policies = fields(config, "model_version_policy")
    if not policies:
        return VersionPolicy()
    if len(policies) > 1 or not isinstance(policies[0], list) or len(policies[0]) != 1:
        raise TextProtoError("model_version_policy must hold one of latest, all or specific")
    ((kind, body),) = policies[0]
    if kind not in (LATEST, ALL, SPECIFIC) or not isinstance(body, list):
        raise TextProtoError(f"unknown model_version_policy {kind!r}")
    if kind == ALL:
        return VersionPolicy(ALL)
    if kind == SPECIFIC:
        versions = fields(body, "versions")
        if not all(isinstance(version, int) and version >= 0 for version in versions):
            raise TextProtoError(f"specific versions must be whole numbers, not {versions}")
        return VersionPolicy(SPECIFIC, versions=frozenset(versions))
    counts = fields(body, "num_versions")
    if len(counts) > 1 or not all(isinstance(count, int) and count >= 0 for count in counts):
        raise TextProtoError(f"latest num_versions must be one whole number, not {counts}")
    # The proto's default is 0, which TF Serving reads as 1: it serves at least one.
    return VersionPolicy(LATEST, num_versions=max(counts[0] if counts else 1, 1))
