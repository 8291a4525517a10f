"""The production loop: what the served model sees, whether it drifts, whether it is right.

Modules: ``settings`` (conf/base/monitoring.yml), ``auth`` (write tokens), ``layout``
(where segments, labels and events live), ``records`` (prediction rows and Parquet
segments), ``recorder`` (the server's bounded queue and writer thread), ``feedback``
(labels for logged requests), ``reference`` (the production version's data profile
and test split), ``figures`` (live figures and alerts), ``monitor`` (``visionops
monitor``), ``report`` (plots and the offline HTML page), ``export`` (labelled images
as a new data version), ``events`` (the hash-chained event log), ``retention``
(``visionops feedback purge``) and ``command`` (the CLI's entries).

Nothing is imported here, so importing the package does not load pyarrow or Pillow.
"""
