"""What the image tests share: a skip for a missing Fashion-MNIST (one torch thread per test is
the ``one_thread`` fixture of ``conftest.py``)."""
import pytest

from hc_lib.cohiclust import data

needs_fashion = pytest.mark.skipif(not data.FASHION_MNIST_DIR.is_dir(),
                                   reason="Debian package dataset-fashion-mnist not installed "
                                          f"({data.FASHION_MNIST_DIR} missing)")
