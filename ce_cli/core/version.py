"""The package version (one place; ``ce --version`` and the dask workers' check read it)."""

__version__ = "0.1.0"
