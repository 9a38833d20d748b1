"""Bundled examples (``graphgrad demo`` runs ``mlp``)."""
