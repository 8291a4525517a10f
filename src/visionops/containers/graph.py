"""Which stage needs which: read from the Kedro pipelines' dataset inputs and outputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from kedro.pipeline import Pipeline

from visionops.errors import ConfigError
from visionops.stages import STAGES


def stage_dependencies(
    pipelines: Mapping[str, Pipeline], stages: Sequence[str] = STAGES
) -> dict[str, list[str]]:
    """Each stage's upstream stages: those that write a dataset it reads.

    Args:
        pipelines: Kedro pipelines by name, one per stage.
        stages: The stages in run order; a stage may only depend on earlier ones.

    Returns:
        ``{stage: [upstream stage, ...]}`` for every stage, upstream in run order.

    Raises:
        ConfigError: A stage has no pipeline, or reads what a later stage writes.
    """
    missing = [stage for stage in stages if stage not in pipelines]
    if missing:
        raise ConfigError(
            f"no Kedro pipeline for stage(s) {', '.join(missing)}; "
            "src/visionops/pipelines/ must hold one pipeline per stage of visionops.stages"
        )
    writes = {stage: set(pipelines[stage].all_outputs()) for stage in stages}
    dependencies: dict[str, list[str]] = {}
    for position, stage in enumerate(stages):
        reads = set(pipelines[stage].inputs())
        later = [other for other in stages[position + 1 :] if reads & writes[other]]
        if later:
            raise ConfigError(
                f"stage {stage} reads what the later stage {later[0]} writes "
                f"({', '.join(sorted(reads & writes[later[0]]))}); reorder visionops.stages"
            )
        dependencies[stage] = [other for other in stages[:position] if reads & writes[other]]
    return dependencies


def project_pipelines(project_dir: Path) -> Mapping[str, Pipeline]:
    """The project's registered Kedro pipelines, as ``kedro run`` finds them."""
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(Path(project_dir).resolve())
    return pipelines
