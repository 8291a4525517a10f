"""Whether a blessed candidate becomes a new version: the deployment decision.

Pure: it reads a snapshot of the registry (versions, labels, and the weights sha256
each version was trained to), never the file system, so the deployment stage and its
tests decide alike.
"""

from __future__ import annotations

from typing import Any

from visionops.registry.layout import CANDIDATE, PRODUCTION


def _describe_production(version: int | None) -> str:
    return "no production version" if version is None else f"production version {version}"


def why_not_deployed(
    blessing: dict[str, Any], model_name: str, registry: dict[str, Any], weights_sha256: str
) -> str | None:
    """Why the candidate must not be registered, or None if it may be.

    - Not blessed: the blessing's reason.
    - Already registered: a version with the same weights sha256 exists, so a rerun on
      the same inputs registers nothing new and says which version it is.
    - Stale blessing: a blessing holds only against the production model it was
      compared with. If production has moved since (a promotion, a rollback, or a
      deployment after the evaluation's results were cached), the comparison says
      nothing about the model now in production, and deploying on it could replace a
      better one. A forced blessing does not rest on the comparison, so it stands.

    Args:
        blessing: The evaluation's decision, with ``champion_version``.
        model_name: The model the candidate would be a version of.
        registry: ``{model: {"versions": [...], "labels": {...}, "weights": {v: sha}}}``.
        weights_sha256: The candidate's weights digest (training metadata).
    """
    if not blessing["blessed"]:
        return f"not deployed: {blessing['reason']}"
    entry = registry.get(model_name, {})
    same = sorted(
        int(version)
        for version, digest in (entry.get("weights") or {}).items()
        if digest and digest == weights_sha256
    )
    if same:
        labels = sorted(k for k, v in entry.get("labels", {}).items() if v == same[0])
        tags = f" [{', '.join(labels)}]" if labels else ""
        return (
            f"not registered again: these weights (sha256 {weights_sha256[:16]}) are "
            f"{model_name}:{same[0]}{tags} already"
        )
    compared, current = blessing.get("champion_version"), entry.get("labels", {}).get(PRODUCTION)
    if compared != current and not blessing.get("forced"):
        return (
            f"not deployed: the evaluation compared this model with "
            f"{_describe_production(compared)}, but the registry now has "
            f"{_describe_production(current)}; evaluate again against it "
            "(dvc repro --force --single-item evaluation, then dvc repro)"
        )
    return None


def next_version(model_name: str, registry: dict[str, Any]) -> int:
    """The number the next registered version of ``model_name`` gets."""
    return max(registry.get(model_name, {}).get("versions", []), default=0) + 1


def labels_to_move(
    labels: tuple[str, ...], model_name: str, version: int, approvals: dict[str, Any]
) -> tuple[tuple[str, ...], str | None]:
    """The labels a new version gets, and why production is not among them.

    A version just registered has no approvals yet, so where the release gate asks for
    some (``approvals["required"]`` above 0, set in ``approvals["source"]``), production
    is left where it is and the version is labelled ``candidate`` instead: it reaches
    production through ``visionops models approve`` and ``models promote``, which check
    the approvals. Otherwise the labels asked for are moved as they are.
    """
    required = int(approvals.get("required", 0))
    if PRODUCTION not in labels or required == 0:
        return labels, None
    kept = tuple(label for label in labels if label != PRODUCTION)
    kept += () if CANDIDATE in kept else (CANDIDATE,)
    reference = f"{model_name}:{version}"
    note = (
        f"production not moved: {approvals.get('source', 'the release settings')} requires "
        f"{required} approval(s) from distinct people; {reference} is labelled "
        f"{', '.join(kept)}. Approve it with `visionops models approve {reference} --reason "
        f"...` ({required} people), then `visionops models promote {reference} --to "
        "production`."
    )
    return kept, note
