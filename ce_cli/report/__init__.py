"""One ``compute_X()`` + ``XOptions`` + ``XReport`` per command: plain data, no formatting."""
