"""The evaluation pipeline: model and test split -> metrics, plots, blessing."""

from kedro.pipeline import Pipeline, node

from visionops.pipelines.evaluation.nodes import (
    bless_model,
    evaluate_model,
    headline_metrics,
    plot_confusion_matrix,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Creates the evaluation pipeline."""
    return Pipeline(
        [
            node(
                evaluate_model,
                inputs=[
                    "model",
                    "test_split",
                    "production_model",
                    "params:model_name",
                    "params:ingestion",
                    "params:evaluation",
                ],
                outputs=[
                    "evaluation_report",
                    "test_predictions",
                    "worst_mistakes_plot",
                    "evaluation_performance",
                ],
                name="evaluate_model",
            ),
            node(
                headline_metrics,
                inputs="evaluation_report",
                outputs="metrics",
                name="headline_metrics",
            ),
            node(
                bless_model,
                inputs=["evaluation_report", "run_context", "params:evaluation"],
                outputs="blessing",
                name="bless_model",
            ),
            node(
                plot_confusion_matrix,
                inputs=["test_predictions", "test_split"],
                outputs="confusion_matrix_plot",
                name="plot_confusion_matrix",
            ),
        ]
    )
