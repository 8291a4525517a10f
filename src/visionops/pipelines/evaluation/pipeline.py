"""The evaluation pipeline: model and test split -> metrics, plots, blessing."""

from kedro.pipeline import Pipeline, node

from visionops.pipelines.evaluation.nodes import bless_model, evaluate_model, plot_confusion_matrix


def create_pipeline(**kwargs) -> Pipeline:
    """Creates the evaluation pipeline."""
    return Pipeline(
        [
            node(
                evaluate_model,
                inputs=["model", "test_split", "production_model", "params:evaluation"],
                outputs=["metrics", "test_predictions", "worst_mistakes_plot"],
                name="evaluate_model",
            ),
            node(
                bless_model,
                inputs=["metrics", "run_context", "params:evaluation"],
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
