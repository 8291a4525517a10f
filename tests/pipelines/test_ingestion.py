"""The ingestion pipeline turns a source's images into the raw dataset and a summary."""

from visionops.pipelines.ingestion import create_pipeline
from visionops.sources.digits import read_digits

from .conftest import load_parameters, run_pipeline


def test_ingestion_passes_the_source_through_and_summarises_it() -> None:
    source = read_digits()
    outputs = run_pipeline(
        create_pipeline(),
        {"source_images": source, "params:ingestion": load_parameters("ingestion")},
    )
    raw = outputs["raw_dataset"]
    assert len(raw) == 1797
    assert raw.image_shape == (8, 8, 1)
    summary = outputs["ingestion_summary"]
    assert summary["source"] == "digits"
    assert summary["images"] == 1797
    assert summary["classes"] == 10
    assert sum(summary["images_per_class"].values()) == 1797
    assert summary["dtype"] == "uint8"
