"""Datasets and loaders (see issue "Eager autograd")."""
