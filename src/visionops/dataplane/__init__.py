"""The data plane: a dataset version is a folder of TFRecord shards plus a Parquet index.

Every stage reads and writes datasets through this package, a shard at a time, so that
memory is bounded by a shard plus the index and never by the dataset. See
:mod:`visionops.dataplane.layout` for the folder, :mod:`~visionops.dataplane.ingest` for
how a source becomes one, and :mod:`~visionops.dataplane.reader` for reading one back.
"""
