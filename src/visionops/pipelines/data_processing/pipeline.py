"""The data processing pipeline: validated dataset version -> train/val/test versions."""

from kedro.pipeline import Pipeline, node

from visionops.pipelines.data_processing.nodes import split_dataset


def create_pipeline(**kwargs) -> Pipeline:
    """Creates the data processing pipeline."""
    return Pipeline(
        [
            node(
                split_dataset,
                inputs=[
                    "raw_dataset",
                    "validated_dataset",
                    "splits_suite",
                    "params:data_processing",
                    "params:data_validation.near_duplicates",
                ],
                outputs=["train_split", "val_split", "test_split", "split_summary"],
                name="split_dataset",
            )
        ]
    )
