"""Model architectures and the training loop, shared by the training stage and benchmarks."""
