"""Run provenance: the peak memory it records follows what the process really held."""
import subprocess
import sys

from hc_lib.records import peak_memory_mib, provenance

_SCRIPT = """
import numpy as np
from hc_lib.records import peak_memory_mib, provenance
before = peak_memory_mib()
held = np.ones(2 ** 25)          # 256 MiB, every page touched
after = provenance()["peak_memory_mib"]
del held
print(before, after, provenance()["peak_memory_mib"])
"""


def test_peak_memory_rises_by_what_was_allocated_and_stays():
    output = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, check=True).stdout
    before, after, later = map(float, output.split())
    assert 230 < after - before < 300
    assert later == after            # a peak, not the current use


def test_provenance_names_threads_and_memory():
    record = provenance()
    assert record["torch_threads"] >= 1 and record["peak_memory_mib"] >= peak_memory_mib() - 1
    assert "peak_cuda_memory_mib" not in record   # only on a CUDA device
