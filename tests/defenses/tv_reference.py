"""Independent references for TVM, in numpy, one ``(H, W)`` plane at a time.

- :func:`lbfgsb_tvm`: the per-image scipy procedure the study ran through ART. For every image
  and channel, ``scipy.optimize.minimize(method="L-BFGS-B")`` from ``z = x`` with ``maxiter``
  iterations, with an analytic gradient (written here from the formula, with the right factor
  for ``p = 2``: ART's is twice too large), then clipped to [0, 1].
- :func:`admm_tvm`: the exact minimizer by ADMM (a different splitting from hermes' primal-dual
  solver: a dense linear solve per iteration), for small planes.

Used by ``tests/defenses/test_tvm.py`` and ``benchmarks/test_bench_tvm.py``.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize


def plane_objective(
    z: np.ndarray, x: np.ndarray, mask: np.ndarray, lamb: float, norm: int
) -> float:
    """The TVM objective of one ``(H, W)`` plane."""
    data = np.sqrt(np.sum(mask * (z - x) ** 2))
    rows = np.linalg.norm(z[1:, :] - z[:-1, :], ord=norm, axis=1).sum()
    cols = np.linalg.norm(z[:, 1:] - z[:, :-1], ord=norm, axis=0).sum()
    return float(data + lamb * (rows + cols))


def plane_gradient(
    z: np.ndarray, x: np.ndarray, mask: np.ndarray, lamb: float, norm: int
) -> np.ndarray:
    """The gradient of :func:`plane_objective` (a zero subgradient where a norm is zero)."""
    residual = mask * (z - x)
    size = np.sqrt(np.sum(residual * (z - x)))
    grad = residual / size if size > 0 else np.zeros_like(z)
    d_rows, d_cols = z[1:, :] - z[:-1, :], z[:, 1:] - z[:, :-1]
    if norm == 1:
        g_rows, g_cols = np.sign(d_rows), np.sign(d_cols)
    else:
        n_rows = np.linalg.norm(d_rows, axis=1, keepdims=True)
        n_cols = np.linalg.norm(d_cols, axis=0, keepdims=True)
        g_rows = np.divide(d_rows, n_rows, out=np.zeros_like(d_rows), where=n_rows > 0)
        g_cols = np.divide(d_cols, n_cols, out=np.zeros_like(d_cols), where=n_cols > 0)
    tv = np.zeros_like(z)
    tv[1:, :] += g_rows
    tv[:-1, :] -= g_rows
    tv[:, 1:] += g_cols
    tv[:, :-1] -= g_cols
    return grad + lamb * tv


def lbfgsb_plane(
    x: np.ndarray, mask: np.ndarray, lamb: float = 0.5, norm: int = 2, maxiter: int = 10
) -> np.ndarray:
    """L-BFGS-B from ``z = x`` on one ``(H, W)`` plane, ``maxiter`` iterations (unclipped)."""

    def objective(v: np.ndarray) -> float:
        return plane_objective(v.reshape(x.shape), x, mask, lamb, norm)

    def gradient(v: np.ndarray) -> np.ndarray:
        return plane_gradient(v.reshape(x.shape), x, mask, lamb, norm).ravel()

    result = minimize(
        objective, x.ravel().copy(), jac=gradient, method="L-BFGS-B", options={"maxiter": maxiter}
    )
    return result.x.reshape(x.shape)


def lbfgsb_tvm(
    x: np.ndarray, mask: np.ndarray, lamb: float = 0.5, norm: int = 2, maxiter: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Per image and channel L-BFGS-B from ``z = x``; returns ``(z clipped to [0, 1], objective)``.

    ``x`` and ``mask`` are ``(B, C, H, W)`` float64 arrays; the objective is that of the clipped
    output, shape ``(B, C)`` (clipping never raises it).
    """
    out = np.empty_like(x)
    objective = np.empty(x.shape[:2])
    for b, c in np.ndindex(*x.shape[:2]):
        out[b, c] = np.clip(lbfgsb_plane(x[b, c], mask[b, c], lamb, norm, maxiter), 0.0, 1.0)
        objective[b, c] = plane_objective(out[b, c], x[b, c], mask[b, c], lamb, norm)
    return out, objective


def difference_matrix(h: int, w: int) -> np.ndarray:
    """``D`` with ``D @ z.ravel()`` = the row differences then the column differences of ``z``."""
    index = np.arange(h * w).reshape(h, w)
    rows = np.zeros(((h - 1) * w, h * w))
    cols = np.zeros((h * (w - 1), h * w))
    for k, (i, j) in enumerate(np.ndindex(h - 1, w)):
        rows[k, index[i + 1, j]], rows[k, index[i, j]] = 1.0, -1.0
    for k, (i, j) in enumerate(np.ndindex(h, w - 1)):
        cols[k, index[i, j + 1]], cols[k, index[i, j]] = 1.0, -1.0
    return np.vstack([rows, cols])


def admm_tvm(
    x: np.ndarray, mask: np.ndarray, lamb: float, norm: int, iterations: int = 3000
) -> np.ndarray:
    """Minimize the objective of one small plane by ADMM (scaled form, penalty 1).

    Splitting ``s = z - x`` (data term) and ``v = D z`` (total variation): the ``z`` step solves
    ``(I + D^T D) z = x + s - u + D^T (v - t)``; the ``s`` step shrinks the masked entries as one
    block; the ``v`` step soft-thresholds (``p = 1``) or shrinks each row or column group
    (``p = 2``) by ``lamb``.
    """
    h, w = x.shape
    d = difference_matrix(h, w)
    n_rows = (h - 1) * w
    solve = np.linalg.inv(np.eye(h * w) + d.T @ d)
    xv, kept = x.ravel(), mask.ravel().astype(bool)
    s, u = np.zeros_like(xv), np.zeros_like(xv)
    v, t = d @ xv, np.zeros(d.shape[0])
    z = xv.copy()
    for _ in range(iterations):
        z = solve @ (xv + s - u + d.T @ (v - t))
        a = z - xv + u
        s = a.copy()
        size = np.linalg.norm(a[kept])
        s[kept] = a[kept] * max(0.0, 1.0 - 1.0 / size) if size > 0 else 0.0
        b = d @ z + t
        if norm == 1:
            v = np.sign(b) * np.maximum(np.abs(b) - lamb, 0.0)
        else:
            b_rows, b_cols = b[:n_rows].reshape(h - 1, w), b[n_rows:].reshape(h, w - 1)
            g_rows = np.linalg.norm(b_rows, axis=1, keepdims=True)
            g_cols = np.linalg.norm(b_cols, axis=0, keepdims=True)
            v_rows = b_rows * np.maximum(0.0, 1.0 - lamb / np.maximum(g_rows, 1e-300))
            v_cols = b_cols * np.maximum(0.0, 1.0 - lamb / np.maximum(g_cols, 1e-300))
            v = np.concatenate([v_rows.ravel(), v_cols.ravel()])
        u += z - xv - s
        t += d @ z - v
    return z.reshape(h, w)
