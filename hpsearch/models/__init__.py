"""The built-in numpy neural network, with a scikit-learn estimator interface.

``hpsearch.models:NeuralNetClassifier`` and ``hpsearch.models:NeuralNetRegressor`` go straight
into a config's ``objective.estimator``.
"""

from hpsearch.models._estimator import NeuralNetClassifier, NeuralNetRegressor

__all__ = ["NeuralNetClassifier", "NeuralNetRegressor"]
