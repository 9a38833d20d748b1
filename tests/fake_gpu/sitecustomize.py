"""With this folder on PYTHONPATH and GRAPHGRAD_FAKE_CUPY=1, a Python program imports the fake CuPy
(tests/fake_cupy.py) for ``cupy``: ``benchmarks/gpu_check.py --fake`` rehearses the GPU check this way."""
import os
import sys

if os.environ.get("GRAPHGRAD_FAKE_CUPY") == "1":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/, for fake_cupy
    import fake_cupy

    fake_cupy.install_globally()
