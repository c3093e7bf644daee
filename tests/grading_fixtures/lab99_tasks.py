"""A tiny lab for the grader's own tests: three tasks on small arrays."""
import numpy as np

from cvcourse_utils.checking import Case, Task, close, equal

TASKS = (
    Task(
        name="fx_double",
        function="double",
        cases=(Case("3 numbers", lambda rng: (rng.random(3),)), Case("2x2", lambda rng: (rng.random((2, 2)),), seed=1)),
        reference=lambda x: np.multiply(x, 2.0),
        compare=close(),
    ),
    Task(
        name="fx_rows",
        function="normalise_rows",
        cases=(Case("3x4", lambda rng: (rng.random((3, 4)) + 0.1,)),),
        reference=lambda x: x / x.sum(axis=1, keepdims=True),
        compare=close(),
    ),
    Task(
        name="fx_count",
        function="count_positive",
        cases=(Case("10 values", lambda rng: (rng.normal(size=10),), seed=2),),
        reference=lambda x: np.count_nonzero(x > 0),
        compare=equal(),
        forbidden=("numpy.count_nonzero",),
        by_hand="count with a comparison and a sum",
    ),
)
