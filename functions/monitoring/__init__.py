"""Drift and live-quality monitoring: pure computations over frames and baselines.

- ``baseline``: what a model version's training data looked like (``DriftBaseline``);
- ``statistics``: the per-feature tests and distances (scipy);
- ``drift``: dataset and prediction drift of a window against a baseline;
- ``quality``: live accuracy / F1 or MAE / RMSE over predictions joined to feedback;
- ``captures``: parsing the prediction-capture and feedback JSON Lines formats;
- ``report``: the per-run HTML drift report (inline SVG, no plotting library).
"""
