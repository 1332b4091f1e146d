"""hc_lib."""
