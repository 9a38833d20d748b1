"""Functions of every shape whose source AutoGraph must find (tests/tracer/test_autograph.py)."""
import functools


def plain(x):
    return x * 2


def one_liner(x): return x + 1  # noqa: E704


@functools.lru_cache(maxsize=None)
@staticmethod
def decorated(x):
    # a comment at the block's own indentation does not end it

    return x - 1


def string_at_column_zero(x):
    s = """
text at column 0
"""
    return x * len(s)


def continuation_at_column_zero(x):
    y = (x +
1)  # noqa: E128
    return y


class Holder:
    def method(self, x):
        def inner(y):
            return y * 3
        return inner(x)
after_the_class = 1  # noqa: E305
