"""The ingestion pipeline: source -> raw dataset (shards + index) -> summary."""

from kedro.pipeline import Pipeline, node

from visionops.pipelines.ingestion.nodes import ingest_images, summarise_ingestion


def create_pipeline(**kwargs) -> Pipeline:
    """Creates the ingestion pipeline."""
    return Pipeline(
        [
            node(
                ingest_images,
                inputs=["source_images", "params:ingestion"],
                outputs="raw_dataset",
                name="ingest_images",
            ),
            node(
                summarise_ingestion,
                inputs="raw_dataset",
                outputs="ingestion_summary",
                name="summarise_ingestion",
            ),
        ]
    )
