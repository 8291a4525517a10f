"""Project pipelines: one per stage, found by find_pipelines(); __default__ runs them all."""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

from visionops.stages import STAGES

__all__ = ["STAGES", "register_pipelines"]


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects.
    """
    pipelines = find_pipelines(raise_errors=True)
    # find_pipelines() loads only the pipelines a run asks for; __default__ joins
    # whichever were loaded (all of them when __default__ itself is asked for).
    pipelines["__default__"] = sum(
        (pipelines[name] for name in STAGES if name in pipelines), Pipeline([])
    )
    return pipelines
