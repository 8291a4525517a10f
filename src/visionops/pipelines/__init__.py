"""The Kedro pipelines, one package per stage, found by pipeline_registry.find_pipelines()."""
