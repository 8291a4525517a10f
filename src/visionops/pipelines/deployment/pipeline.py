"""The deployment pipeline: blessed model -> new registry version."""

from kedro.pipeline import Pipeline, node

from visionops.pipelines.deployment.nodes import register_model


def create_pipeline(**kwargs) -> Pipeline:
    """Creates the deployment pipeline."""
    return Pipeline(
        [
            node(
                register_model,
                inputs=[
                    "model",
                    "test_split",
                    "evaluation_report",
                    "blessing",
                    "data_profile",
                    "validation_report",
                    "training_metadata",
                    "model_registry",
                    "lineage_sources",
                    "run_context",
                    "params:model_name",
                    "params:deployment",
                ],
                outputs=["registered_model", "deployment_report"],
                name="register_model",
            )
        ]
    )
