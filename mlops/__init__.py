"""mlops: train, gate, promote and watch tabular classification models on MLflow."""

__version__ = "0.1.0"
