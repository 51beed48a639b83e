"""Filled by the feature work in progress."""
