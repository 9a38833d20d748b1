"""graphgrad's dtype objects, their names and NumPy's dtypes name one another without recursion, whatever was
looked up first (dtype_name keeps a memo whose keys a graphgrad dtype compares equal to by name)."""
import subprocess
import sys

import graphgrad as gg


def test_a_dtype_argument_first_thing_in_a_fresh_process():
    # the first lookup of gg.float64 put it in the memo; a later lookup of "float64" compared the two, which asked
    # for dtype_name("float64") again: RecursionError from x.cumsum(0, dtype=gg.float64) in a fresh process
    code = ("import graphgrad as gg; x = gg.tensor([1.0, 2.0]); "
            "print(x.cumsum(0, dtype=gg.float64).tolist(), x.mean(dtype=gg.float64).item(), "
            "gg.tensor([1, 2]).cumprod(0, dtype=gg.float64).dtype)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["[1.0,", "3.0]", "1.5", "torch.float64"]


def test_names_and_objects_compare_both_ways():
    assert gg.float64 == "float64" and "float64" == gg.float64 and gg.float32 != "float64"
    assert gg.tensor([1.0], dtype=gg.float64).dtype == gg.float64 == gg.double
