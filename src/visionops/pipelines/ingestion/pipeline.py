"""The ingestion pipeline: source -> raw dataset."""

from kedro.pipeline import Pipeline, node

from visionops.pipelines.ingestion.nodes import ingest_images


def create_pipeline(**kwargs) -> Pipeline:
    """Creates the ingestion pipeline."""
    return Pipeline(
        [
            node(
                ingest_images,
                inputs=["source_images", "params:ingestion"],
                outputs=["raw_dataset", "ingestion_summary"],
                name="ingest_images",
            )
        ]
    )
