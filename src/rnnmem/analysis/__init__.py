"""What a trained model does: its suggestions and metrics, connectivity, memory against ground
truth, the baselines it must beat, and the statistics over observations and seeds."""
