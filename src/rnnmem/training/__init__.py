"""Training a model: the loop, its checkpoints, threads and precision."""
