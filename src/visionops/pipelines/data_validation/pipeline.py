"""The data validation pipeline: raw dataset -> reports -> validated manifest."""

from kedro.pipeline import Pipeline, node

from visionops.pipelines.data_validation.nodes import (
    gate_dataset,
    validate_images,
    validation_metrics,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Creates the data validation pipeline."""
    return Pipeline(
        [
            node(
                validate_images,
                inputs=[
                    "raw_dataset",
                    "images_suite",
                    "dataset_suite",
                    "classes_suite",
                    "drift_reference",
                    "params:data_validation",
                ],
                outputs=[
                    "validation_report",
                    "image_profile",
                    "data_profile",
                    "data_docs",
                    "data_drift_plot",
                ],
                name="validate_images",
            ),
            node(
                validation_metrics,
                inputs="validation_report",
                outputs="validation_metrics",
                name="validation_metrics",
            ),
            node(
                gate_dataset,
                inputs=[
                    "raw_dataset",
                    "validation_report",
                    "params:model_name",
                    "params:ingestion",
                ],
                outputs="validated_dataset",
                name="gate_dataset",
            ),
        ]
    )
