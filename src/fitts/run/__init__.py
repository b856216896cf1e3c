"""Executors and jobs: chunks of patients computed locally or on Dask, checkpointed, resumable."""
