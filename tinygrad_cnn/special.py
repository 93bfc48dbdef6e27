"""The error function for numpy arrays: numpy has none, and scipy is not a dependency.

Plain numpy in, numpy out, no Tensor (the ``Erf`` primitive in ``ops.py`` calls it). Reference,
one line: ``np.vectorize(math.erf)(x)`` - exact, but a Python call per element (~50x slower).
"""
from __future__ import annotations

import numpy as np

# W. J. Cody, "Rational Chebyshev approximations for the error function", Mathematics of
# Computation 23 (1969) 631-638: the published coefficients (as in netlib's specfun CALERF), each
# set a rational approximation accurate to float64 precision on its range of |x|.
# Numerators highest power first; denominators are monic, their leading 1 left out.
_SMALL_NUM = (1.85777706184603153e-1, 3.16112374387056560e00, 1.13864154151050156e02,
              3.77485237685302021e02, 3.20937758913846947e03)      # erf(x) = x·num(x²)/den(x²)
_SMALL_DEN = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
              2.84423683343917062e03)                                # for |x| <= 0.46875
_MID_NUM = (2.15311535474403846e-8, 5.64188496988670089e-1, 8.88314979438837594e00,
            6.61191906371416295e01, 2.98635138197400131e02, 8.81952221241769090e02,
            1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03)
_MID_DEN = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
            1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
            3.43936767414372164e03, 1.23033935480374942e03)           # erfc(y) = e^(-y²)·num(y)/den(y)
_BIG_NUM = (1.63153871373020978e-2, 3.05326634961232344e-1, 3.60344899949804439e-1,
            1.25781726111229246e-1, 1.60837851487422766e-2, 6.58749161529837803e-4)
_BIG_DEN = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
            6.05183413124413191e-2, 2.33520497626869185e-3)          # for y > 4, in z = 1/y²
_SMALL_LIMIT, _MID_LIMIT = 0.46875, 4.0
_ONE_OVER_SQRT_PI = 5.6418958354775628695e-1


def _polynomial(t: np.ndarray, coefficients: tuple, monic: bool = False) -> np.ndarray:
    """Horner's rule; ``monic`` puts a leading coefficient 1 in front of ``coefficients``."""
    if monic:
        out = t + coefficients[0]
        rest = coefficients[1:]
    else:
        out = np.full_like(t, coefficients[0])
        rest = coefficients[1:]
    for c in rest:
        out = out * t + c
    return out


def _exp_minus_square(y: np.ndarray) -> np.ndarray:
    """exp(-y²) without the rounding error of y² blowing up for large y (Cody's split:
    y² = r² + (y - r)(y + r) with r = y rounded down to 1/16, so r² is exact)."""
    r = np.floor(y * 16.0) / 16.0
    return np.exp(-r * r) * np.exp(-(y - r) * (y + r))


def erf(x: np.ndarray) -> np.ndarray:
    """The error function 2/√π ∫₀ˣ e^(-t²) dt, elementwise, accurate to float64 precision.

    Reference: ``np.vectorize(math.erf)(x)``. Computed in float64 and returned in ``x``'s float
    dtype (float32 stays float32). NaN gives NaN, ±inf gives ±1.
    """
    x = np.asarray(x)
    out_dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    x64 = x.astype(np.float64, copy=False)
    y = np.abs(x64)
    out = np.empty_like(x64)
    small = y <= _SMALL_LIMIT
    mid = (y > _SMALL_LIMIT) & (y <= _MID_LIMIT)
    big = ~(small | mid)   # includes inf and NaN (which stays NaN through the arithmetic below)
    if small.any():
        xs = x64[small]
        t = xs * xs
        out[small] = xs * _polynomial(t, _SMALL_NUM) / _polynomial(t, _SMALL_DEN, monic=True)
    if mid.any():
        ym = y[mid]
        erfc = _exp_minus_square(ym) * _polynomial(ym, _MID_NUM) / _polynomial(ym, _MID_DEN, monic=True)
        out[mid] = np.copysign(1.0 - erfc, x64[mid])
    if big.any():
        yb = y[big]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            z = 1.0 / (yb * yb)
            tail = z * _polynomial(z, _BIG_NUM) / _polynomial(z, _BIG_DEN, monic=True)
            erfc = _exp_minus_square(yb) * (_ONE_OVER_SQRT_PI - tail) / yb
        erfc = np.where(np.isinf(yb), 0.0, erfc)
        out[big] = np.copysign(1.0 - erfc, x64[big])
    return out.astype(out_dtype, copy=False)
