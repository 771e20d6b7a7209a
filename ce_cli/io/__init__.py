"""Files → record batches → ``Batch`` of numpy arrays: formats, many files, URIs, arrays, columns,
the layout decided once, ``--where`` and ``--group-by`` pieces. pyarrow stops here.
"""
