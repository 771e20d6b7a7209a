"""Where ``update`` and ``merge`` run: local threads or a Dask cluster.

Accumulators hold sums only.
"""
