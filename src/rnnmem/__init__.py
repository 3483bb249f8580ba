"""rnnmem: how recurrent networks memorize, as a reproducible DVC pipeline."""

__version__ = "0.1.0"
