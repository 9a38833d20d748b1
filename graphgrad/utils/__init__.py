"""Utilities users build on: numerical gradient checking, data loading."""
from .gradcheck import gradcheck, gradgradcheck, numerical_jacobian

__all__ = ["gradcheck", "gradgradcheck", "numerical_jacobian"]
