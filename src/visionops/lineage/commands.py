"""What ``visionops lineage show|trace|verify`` and ``visionops reproduce`` print.

Each function prints its answer and returns the exit status; user errors are raised as
:class:`visionops.errors.VisionOpsError` for the command line to print.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from visionops.errors import RegistryError
from visionops.lineage.account import account, render_account
from visionops.lineage.mermaid import render_mermaid
from visionops.lineage.record import resolve_version
from visionops.lineage.trace import parse_query, render_trace, trace, trace_report
from visionops.lineage.verify import Verification, targets, verify


def show_command(registry: Path, reference: str, output: str = "text") -> int:
    """Prints one version's account as ``text``, ``json`` or ``mermaid``."""
    model, version = resolve_version(registry, reference)
    info = account(registry, model, version)
    if output == "json":
        print(json.dumps(info, indent=2, sort_keys=True))
    elif output == "mermaid":
        print(render_mermaid(info), end="")
    else:
        print(render_account(info))
    return 0


def trace_command(registry: Path, query: str, project_dir: Path, as_json: bool = False) -> int:
    """Prints every version that used the data ``query`` names."""
    parsed = parse_query(query, project_dir)
    uses = trace(registry, parsed)
    if as_json:
        print(json.dumps(trace_report(parsed, uses), indent=2, sort_keys=True))
    else:
        print(render_trace(parsed, uses))
    return 0


def verify_command(
    registry: Path, reference: str | None, project_dir: Path, as_json: bool = False
) -> int:
    """Verifies the versions named (all when ``None``); 1 when anything is wrong."""
    result = verify(registry, targets(registry, reference), project_dir)
    if as_json:
        report = {
            "intact": not result.problems,
            "problems": result.problems,
            "versions": [asdict(check) for check in result.versions],
            "chains": result.chains,
            "events": result.events,
            "notes": result.notes,
        }
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print(render_verification(result))
    return 1 if result.problems else 0


def render_verification(result: Verification) -> str:
    """One line per version and per audit log, each problem under it, then a verdict."""
    lines = []
    for check in result.versions:
        state = f"FAILED, {_count(len(check.problems), 'problem')}" if check.problems else "intact"
        lines.append(
            f"{check.model}:{check.version}  {state}: {check.files} files, "
            f"{check.outputs} DVC outputs checked"
        )
        lines += [f"    {problem}" for problem in check.problems]
        lines += [f"    note: {note}" for note in check.notes]
    for model, problems in result.chains.items():
        state = "BROKEN" if problems else "intact"
        events = _count(result.events.get(model, 0), "event")
        lines.append(f"events log of {model}  {state}: {events}")
        lines += [f"    {problem}" for problem in problems]
    lines += [f"note: {note}" for note in result.notes]
    problems = result.problems
    if problems:
        lines.append(f"FAILED: {_count(len(problems), 'problem')}")
    else:
        outputs = sum(check.outputs for check in result.versions)
        lines.append(
            f"all intact: {_count(len(result.versions), 'version')}, "
            f"{_count(len(result.chains), 'events log')}, {_count(outputs, 'DVC output')}"
        )
    return "\n".join(lines)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def reproduce_command(
    registry: Path,
    reference: str,
    project_dir: Path,
    *,
    keep: bool = False,
    allow_dirty: bool = False,
    until: str | None = None,
    as_json: bool = False,
) -> int:
    """Reruns a version's pipeline; prints identical or different and why. 0 if identical."""
    from visionops.lineage.reproduce import reproduce

    if ":" not in reference and "@" not in reference:
        raise RegistryError(f"say which version: {reference}:VERSION or {reference}@LABEL")
    model, version = resolve_version(registry, reference)
    result = reproduce(
        registry, model, version, project_dir, keep=keep, allow_dirty=allow_dirty, until=until
    )
    if as_json:
        print(json.dumps({"model": model, "version": version, **asdict(result)}, default=str))
        return 0 if result.identical else 1
    verdict = "identical" if result.identical else "different"
    print(f"{model}:{version}: {verdict} weights")
    print(f"  recorded    {result.recorded_weights}")
    print(f"  reproduced  {result.reproduced_weights or 'none written'}")
    if result.differences and result.identical:
        # e.g. a record made before model.keras was written byte-identically
        print("  files that differ byte for byte although the weights are the same:")
        print("\n".join(f"    {line}" for line in result.differences))
    elif result.differences:
        print("  differences from the record (the first is where the runs part):")
        print("\n".join(f"    {line}" for line in result.differences))
    elif not result.identical:
        print("  every recorded input and cached output matches: training is not deterministic")
    print("\n".join(f"  note: {note}" for note in result.notes))
    if result.worktree is not None:
        print(f"  kept: {result.worktree} (log: {result.worktree.parent / 'repro.log'})")
    return 0 if result.identical else 1
