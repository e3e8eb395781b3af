"""Performance estimators: zero-cost proxies, one-shot estimators, learning-curve and
model-based predictors behind one interface and one registry (`base`), judged with the ranking
criteria of `nasbench1shot1.analysis.criteria` by `nb1s1-estimate` (`run`). Importing the
package registers every estimator."""

from nasbench1shot1.estimators import (  # noqa: F401 (registration)
    learning_curve,
    one_shot,
    predictors,
    zero_cost,
)
from nasbench1shot1.estimators.base import ESTIMATORS, FAMILIES, Context, Cost, Estimator

__all__ = ["ESTIMATORS", "FAMILIES", "Context", "Cost", "Estimator"]
