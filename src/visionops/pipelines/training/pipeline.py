"""The training pipeline: train/val splits -> model, history and metadata."""

from kedro.pipeline import Pipeline, node

from visionops.pipelines.training.nodes import train_model


def create_pipeline(**kwargs) -> Pipeline:
    """Creates the training pipeline."""
    return Pipeline(
        [
            node(
                train_model,
                inputs=[
                    "train_split",
                    "val_split",
                    "training_checkpoints",
                    "training_live_log",
                    "params:training",
                ],
                outputs=["model", "training_history", "training_metadata", "training_performance"],
                name="train_model",
            )
        ]
    )
