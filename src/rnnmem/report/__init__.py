"""The HTML report and its figures, rendered from the pipeline's outputs."""
