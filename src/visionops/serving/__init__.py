"""``visionops serve``: the TensorFlow Serving REST and gRPC APIs over a model registry.

Modules: ``options`` (the command's settings), ``models`` (loaded versions, their
states, the catalog), ``watcher`` (registry polling and availability-preserving
swaps), ``signatures`` (what each signature takes and returns; metadata JSON),
``payload`` (request parsing and validation), ``encoding`` (response bodies),
``batching`` (server-side micro-batching), ``metrics`` (Prometheus text), ``errors``
(client errors and their HTTP status), ``service`` (what each request does),
``production`` (request ids, the prediction log, feedback under a write token, the
live gauges; see :mod:`visionops.monitoring`), ``api``
(FastAPI routes), ``tensor_proto`` (gRPC tensors to and from numpy, checked),
``grpc_server`` (the gRPC services) and ``server`` (uvicorn and gRPC in the
foreground).

Nothing is imported here, so importing the package does not load TensorFlow.
"""
