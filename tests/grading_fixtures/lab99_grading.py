"""Points and hidden cases of the fixture lab (instructor material)."""
from cvcourse_utils.checking import Case

POINTS = {"fx_double": 1, "fx_rows": 2, "fx_count": 1}
HIDDEN = {
    "fx_double": (Case("hidden 5x5", lambda rng: (rng.random((5, 5)),), seed=101),),
    "fx_rows": (Case("hidden 7x2", lambda rng: (rng.random((7, 2)) + 0.5,), seed=102),),
    "fx_count": (Case("hidden 50 values", lambda rng: (rng.normal(size=50),), seed=103),
                 Case("hidden all negative", lambda rng: (-rng.random(6) - 1,), seed=104)),
}
