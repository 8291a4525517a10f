"""``visionops serve``: the TensorFlow Serving REST API over a model registry.

Modules: ``options`` (the command's settings), ``models`` (loaded versions, their
states, the catalog), ``watcher`` (registry polling and availability-preserving
swaps), ``signatures`` (what each signature takes and returns; metadata JSON),
``payload`` (request parsing and validation), ``encoding`` (response bodies),
``batching`` (server-side micro-batching), ``metrics`` (Prometheus text), ``errors``
(client errors and their HTTP status), ``service`` (what each request does), ``api``
(FastAPI routes) and ``server`` (uvicorn in the foreground).

Nothing is imported here, so importing the package does not load TensorFlow.
"""
