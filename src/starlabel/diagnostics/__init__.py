"""Metrics, calibration, saliency, similarity maps, science plots and the report."""
