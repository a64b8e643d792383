"""Prefect flows over the `lstm` library: preprocess once, Optuna trials on the `gpu` pool, MLflow."""
