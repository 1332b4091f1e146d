"""Run provenance: the peak memory it records follows what the process itself held."""
import subprocess
import sys

import numpy as np

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


def run_python(script: str) -> list[float]:
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    return [float(value) for value in output.split()]


def test_peak_memory_rises_by_what_was_allocated_and_stays():
    before, after, later = run_python(_SCRIPT)
    assert 230 < after - before < 300
    assert abs(later - after) < 2    # a peak, not the current use (which fell by 256 MiB); the
    # kernel's resident-page counts lag by a few pages, so not equal to the last digit


def test_a_started_process_does_not_count_its_launchers_memory():
    """A notebook's kernel is started by a bigger process; its record must be its own peak."""
    held = np.ones(2 ** 27)          # 1 GiB in this process while the other one starts
    (own,) = run_python("from hc_lib.records import peak_memory_mib; print(peak_memory_mib())")
    assert peak_memory_mib() > held.nbytes / 2 ** 20 > own + 200


def test_provenance_on_the_cpu_has_no_cuda_memory():
    assert "peak_cuda_memory_mib" not in provenance("cpu")   # only on a CUDA device
