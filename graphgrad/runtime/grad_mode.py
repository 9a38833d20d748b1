"""Thread-local grad mode: ``no_grad``, ``enable_grad``, ``set_grad_enabled``, ``inference_mode``."""
from __future__ import annotations

import functools
import inspect
import threading

class _State(threading.local):
    enabled = True     # class defaults: every new thread starts with grad mode on,
    inference = False  # and reading them needs no getattr fallback (checked once per op)


_state = _State()


def is_grad_enabled() -> bool:
    """Whether operations record history on this thread (``True`` unless inside ``no_grad``)."""
    return _state.enabled


def is_inference_mode_enabled() -> bool:
    return _state.inference


def _set(enabled: bool) -> None:
    _state.enabled = enabled


class _GradModeContext:
    """Base for grad-mode switches usable as context managers and decorators."""

    def __call__(self, fn):
        if inspect.isgeneratorfunction(fn):
            return self._wrap_generator(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__(*self._args):
                return fn(*args, **kwargs)
        return wrapper

    def _wrap_generator(self, fn):
        """A decorated generator runs each resumption inside the mode, and the caller's code between
        resumptions outside it, as PyTorch's decorators do."""
        make = self.__class__
        args = self._args

        @functools.wraps(fn)
        def wrapper(*a, **kw):
            gen = fn(*a, **kw)
            try:
                with make(*args):
                    response = gen.send(None)
                while True:
                    try:
                        request = yield response
                    except GeneratorExit:
                        with make(*args):
                            gen.close()
                        raise
                    except BaseException as e:
                        with make(*args):
                            response = gen.throw(e)
                    else:
                        with make(*args):
                            response = gen.send(request)
            except StopIteration as e:
                return e.value
        return wrapper

    _args: tuple = ()

    def __enter__(self):
        self._prev = is_grad_enabled()
        _set(self._target())
        return self

    def __exit__(self, *exc):
        _set(self._prev)
        return False


class no_grad(_GradModeContext):
    """Disable gradient recording.

    >>> import graphgrad as gg
    >>> x = gg.ones(2, requires_grad=True)
    >>> with gg.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """

    def _target(self):
        return False


class enable_grad(_GradModeContext):
    """Re-enable gradient recording inside ``no_grad``."""

    def _target(self):
        return True


class set_grad_enabled(_GradModeContext):
    """Set grad mode to ``mode``; takes effect at once, and is undone on leaving a ``with`` block."""

    def __init__(self, mode: bool):
        self._args = (mode,)
        self._mode = bool(mode)
        self._prev = is_grad_enabled()
        _set(self._mode)

    def _target(self):
        return self._mode

    def __enter__(self):
        return self

    def __call__(self, fn):
        _set(self._prev)  # used as a decorator: the mode applies inside calls, not from decoration on
        return super().__call__(fn)


class inference_mode(_GradModeContext):
    """A stricter ``no_grad``: nothing computed inside records history."""

    def __init__(self, mode: bool = True):
        self._args = (mode,)
        self._mode = bool(mode)

    def _target(self):
        return not self._mode and is_grad_enabled()

    def __enter__(self):
        self._prev_inf = is_inference_mode_enabled()
        _state.inference = self._mode
        return super().__enter__()

    def __exit__(self, *exc):
        _state.inference = self._prev_inf
        return super().__exit__(*exc)


def _install() -> None:
    from ..tracer import tracer  # the tracer records what runs under no_grad() as stop_gradient

    tracer.grad_enabled = is_grad_enabled


_install()
