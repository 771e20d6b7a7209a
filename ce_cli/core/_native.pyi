from typing import Any

def ce_block(
    x: Any, target: Any, inv_t: float, top: Any, picked: Any, argmax: Any, sums: Any
) -> bool: ...
def exp_moments(
    x: Any,
    target: Any,
    beta: float,
    e: Any,
    s: Any,
    sumsq: Any,
    picked: Any,
    top: Any,
    argmax: Any,
    moments: Any,
) -> None: ...
def exp_nonpositive(d: float) -> float: ...
def candidates(
    e: Any, s: Any, edge: float, winv: Any, w: Any, mask: Any, rest_conf: Any, rest_weight: Any
) -> None: ...
