"""What a trained model does: metrics, connectivity, memory against ground truth, baselines,
and the statistics over observations and seeds."""
