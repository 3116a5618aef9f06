"""Releases side by side: when the installer may switch, and whether the new one came up.

:mod:`.gate` holds the pure decisions; ``python -m alo_edge.release`` (:mod:`.__main__`) is
what ``scripts/install-on-pi`` runs with the new release's interpreter.
"""
