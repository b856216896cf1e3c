"""The one numba kernel template: every model's kernel is this text plus its ``rhs``.

Patients are split into blocks handled by threads (`prange`); each thread advances its
block through all steps of the call, so a block's states stay in cache. Noise comes
from the counter-based generator keyed by (seed, patient) with counter = (step, pair),
so results do not depend on blocks, chunks or threads. The text is rendered into a
module with :func:`fitts.sim.backends.codegen.numba_kernel_module` and cached on disk by
:mod:`fitts.sim.kernel_cache`; its SHA-256 is part of the cache key, so editing it here
invalidates every cached kernel.
"""

KERNEL_TEMPLATE = '''\
@njit(parallel=True, error_model="numpy", nogil=True, cache=True)
def kernel(X, P, U, us, t0, dt, step0, nsteps, A, b, c, keys, noise_row_of, noise_pidx,
           lower, upper, clamp_mask, clamp_val, status, fail_step, fail_state, K, Xs, block):
    ns, n = X.shape
    nstage = b.shape[0]
    nrows = noise_pidx.shape[0]
    sq = math.sqrt(dt)
    nb = (n + block - 1) // block
    for bi in prange(nb):
        p0 = bi * block
        p1 = min(n, p0 + block)
        for s in range(nsteps):
            t = t0 + s * dt
            Us = U[s]
            for st in range(nstage):
                if st == 0:
                    rhs(X, P, Us, us, t, K[0], p0, p1)
                else:
                    for i in range(ns):
                        for p in range(p0, p1):
                            acc = 0.0
                            for j in range(st):
                                if A[st, j] != 0.0:
                                    acc += A[st, j] * K[j, i, p]
                            Xs[i, p] = X[i, p] + dt * acc
                    rhs(Xs, P, Us, us, t + c[st] * dt, K[st], p0, p1)
            # one fused pass: RK update, additive noise, failure check, bounds, clamps
            base = np.uint64(step0 + s) * np.uint64(nrows)
            fresh_fail = False
            for i in range(ns):
                r = noise_row_of[i]
                kk = noise_pidx[r] if r >= 0 else 0
                ctr = base + np.uint64(r if r >= 0 else 0)
                lo = lower[i]
                hi = upper[i]
                cm = clamp_mask[i]
                cv = clamp_val[i]
                for p in range(p0, p1):
                    acc = 0.0
                    for st in range(nstage):
                        acc += b[st] * K[st, i, p]
                    v = X[i, p] + dt * acc
                    if r >= 0:
                        v += sq * P[kk, p] * normal(ctr, keys[p])
                    if status[p] != 0:
                        X[i, p] = np.nan
                    elif not (abs(v) < DIVERGENCE_LIMIT):
                        status[p] = 2 if math.isfinite(v) else 1
                        fail_step[p] = step0 + s
                        fail_state[p] = i
                        X[i, p] = np.nan
                        fresh_fail = True
                    elif cm:
                        X[i, p] = cv
                    else:
                        X[i, p] = min(max(v, lo), hi)
            if fresh_fail:
                for p in range(p0, p1):
                    if status[p] != 0:
                        for i in range(ns):
                            X[i, p] = np.nan
'''


def scaled_noise_template() -> str:
    """The template for a model whose noise amplitude depends on its states: the same text,
    with the scales S computed from the states at each step's start (beside the first
    stage) and multiplying the noise. Derived from the one template, so both stay in step."""
    edits = (
        ("lower, upper, clamp_mask, clamp_val, status, fail_step, fail_state, K, Xs, block):",
         "lower, upper, clamp_mask, clamp_val, status, fail_step, fail_state, K, Xs, block, S):"),
        ("                    rhs(X, P, Us, us, t, K[0], p0, p1)\n",
         "                    rhs(X, P, Us, us, t, K[0], p0, p1)\n"
         "                    noise_scale(X, P, Us, us, t, S, p0, p1)\n"),
        ("v += sq * P[kk, p] * normal(ctr, keys[p])", "v += sq * P[kk, p] * S[i, p] * normal(ctr, keys[p])"),
    )
    text = KERNEL_TEMPLATE
    for old, new in edits:
        if text.count(old) != 1:  # pragma: no cover - the template changed: update the edits
            raise RuntimeError(f"kernel template has no single {old!r}")
        text = text.replace(old, new)
    return text
