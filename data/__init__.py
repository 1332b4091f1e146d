"""The vendored datasets, installed as ``hc_lib.data_files`` (see README.md here).

Nothing to import: :mod:`hc_lib.datasets` finds these files with
``importlib.resources.files("hc_lib.data_files")``.
"""
