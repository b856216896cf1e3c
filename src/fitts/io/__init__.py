"""Results on disk with metadata, written atomically."""
