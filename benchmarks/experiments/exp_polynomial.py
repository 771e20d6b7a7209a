"""How the coefficients of ``exp_nonpositive`` in ``ce_cli/core/_native.c`` were made.

e^r on [−ln2/2, ln2/2] as 1 + r + r²·g(r), g of degree 9 interpolating (e^r − 1 − r)/r² at the
10 Chebyshev nodes, solved in 50 digits with mpmath; prints the coefficients (c0 … c11) as
float64 literals and the largest relative error of their Horner evaluation in float64.

Usage (mpmath comes with torch's venv): python benchmarks/experiments/exp_polynomial.py
"""

import mpmath as mp
import numpy as np

mp.mp.dps = 50
HALF_LN2 = mp.log(2) / 2
N = 10  # coefficients of g: degree 11 in all


def g(r: mp.mpf) -> mp.mpf:
    return (mp.exp(r) - 1 - r) / r**2


nodes = [HALF_LN2 * mp.cos(mp.pi * (2 * k + 1) / (2 * N)) for k in range(N)]
solved = mp.lu_solve(
    mp.matrix([[x**j for j in range(N)] for x in nodes]), mp.matrix([g(x) for x in nodes])
)
coefficients = [1.0, 1.0] + [float(solved[j]) for j in range(N)]

r = np.linspace(-float(HALF_LN2), float(HALF_LN2), 4001)
p = np.full_like(r, coefficients[-1])
for c in reversed(coefficients[:-1]):
    p = p * r + c
exact = np.array([float(mp.exp(mp.mpf(float(v)))) for v in r])
print("coefficients:", ", ".join(repr(c) for c in coefficients))
print("largest relative error:", float(np.max(np.abs(p - exact) / exact)))
