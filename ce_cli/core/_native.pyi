from typing import Any

def ce_block(
    x: Any, target: Any, inv_t: float, top: Any, picked: Any, argmax: Any, sums: Any
) -> bool: ...
def exp_moments(
    x: Any,
    top: Any,
    target: Any,
    beta: float,
    d: Any,
    e: Any,
    s: Any,
    sumsq: Any,
    picked: Any,
    moments: Any,
) -> None: ...
def exp_nonpositive(d: float) -> float: ...
def candidates(
    e: Any, s: Any, edge: float, winv: Any, w: Any, mask: Any, rest_conf: Any, rest_weight: Any
) -> None: ...
