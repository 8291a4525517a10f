"""The training pipeline: train/val splits -> model and history."""

from kedro.pipeline import Pipeline, node

from visionops.pipelines.training.nodes import train_model


def create_pipeline(**kwargs) -> Pipeline:
    """Creates the training pipeline."""
    return Pipeline(
        [
            node(
                train_model,
                inputs=["train_split", "val_split", "params:training"],
                outputs=["model", "training_history"],
                name="train_model",
            )
        ]
    )
