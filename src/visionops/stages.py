"""The stages, in order: one Kedro pipeline and one DVC stage each."""

# dvc.yaml, params.yaml, the pipelines/ specs and the tests all follow this order.
STAGES = ("ingestion", "data_validation", "data_processing", "training", "evaluation", "deployment")
