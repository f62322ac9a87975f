"""Candidate retrieval kernels that are not Spark-specific.

- ``ann``: an approximate inner-product index (faiss IVF-flat) over the item matrix, built once
  per night and broadcast; large catalogues query it instead of scoring every item.
"""
