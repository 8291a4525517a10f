"""Approvals of a version for production, and the gate that counts them before promotion.

An approval is an ``approval`` event in the model's hash-chained audit log
(:mod:`visionops.registry.events`), naming the version, who approved it, why and when;
it cannot be edited or removed without breaking the chain. A person counts once per
version however often they approve it. How many people a promotion to production needs
is the project's ``approvals.required`` (conf/base/release.yml, read by
:mod:`visionops.registry.release_settings`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from visionops.errors import RegistryError
from visionops.files import locked
from visionops.registry.events import APPROVED, acting_user, append_event
from visionops.registry.history import approvers, require_version
from visionops.registry.layout import LABELS_LOCK, read_labels


@dataclass(frozen=True)
class ApprovalRule:
    """How many distinct people must approve a version before it becomes production.

    Attributes:
        required: The number of people; 0 turns the gate off.
        source: Where the number was set (a file, or ``the default``), for messages.
    """

    required: int = 0
    source: str = "the default"


def approve(
    root: Path, model: str, version: int, *, reason: str, actor: str | None = None
) -> dict[str, Any]:
    """Logs an ``approval`` event of ``version`` by ``actor``.

    Args:
        root: The registry's root folder.
        model: The model's name.
        version: The version approved; it must exist.
        reason: Why, for the audit log; required.
        actor: Who approves; ``$VISIONOPS_ACTOR`` or the OS user when not given (no
            host name: one person approving from two machines counts once).

    Returns:
        The event as logged.

    Raises:
        RegistryError: The model or version does not exist, the reason or actor is
            empty, or the log is unreadable.
    """
    require_version(root, model, version)
    if not reason.strip():
        raise RegistryError("a reason is required: say why, for the audit log (--reason TEXT)")
    who = (actor if actor is not None else acting_user()).strip()
    if not who:
        raise RegistryError("--actor is empty: give the name of the person approving")
    with locked(root / LABELS_LOCK):  # the labels logged with the event are the current ones
        return append_event(
            root,
            model,
            APPROVED,
            version=version,
            labels=read_labels(root).get(model, {}),
            reason=reason,
            actor=who,
        )


def check_approvals(
    events: list[dict[str, Any]], model: str, version: int, label: str, rule: ApprovalRule
) -> None:
    """Refuses to move ``label`` onto ``version`` without the approvals ``rule`` asks for.

    Raises:
        RegistryError: Fewer distinct people approved the version than required; the
            message says how many are required, where that is set, and who approved.
    """
    names = approvers(events, version)
    if len(names) >= rule.required:
        return
    have = f"{len(names)}: {', '.join(names)}" if names else "none"
    raise RegistryError(
        f"{model}:{version} cannot become {label}: it needs approvals from "
        f"{rule.required} distinct people (approvals.required in {rule.source}) and has "
        f"{have}. Each approver runs: visionops models approve {model}:{version} "
        "--reason TEXT"
    )
