"""The built-in numpy neural network, with a scikit-learn estimator interface.

``hpsearch.models:NeuralNetClassifier`` and ``hpsearch.models:NeuralNetRegressor`` go straight
into a config's ``objective.estimator``.
"""

from hpsearch.models._estimator import NeuralNetClassifier, NeuralNetRegressor
from hpsearch.models._together import fit_together, member_bytes, population_key

__all__ = ["NeuralNetClassifier", "NeuralNetRegressor", "fit_together", "population_key",
           "member_bytes"]
