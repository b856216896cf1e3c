"""The one numba kernel template: every model's kernel is this text plus its ``rhs``.

Patients are split into blocks handled by threads (`prange`); each thread advances its
block through all steps of the call with ``advance_block``. The block's states,
parameters, inputs and stage derivatives are copied into freshly allocated flat arrays,
one row of :data:`BLOCK` patients per state (parameter, input), patient index innermost.
Row offsets are then literals in the generated ``rhs`` (``X[128 + p]``): every access of
one array is one pointer plus a constant, so LLVM needs only a few run-time overlap
checks per loop (array against array, not row against row) and vectorises the loops
over the patients of a block: the rates with the inlined
:func:`fitts.sim.fastmath.fexp`, the Runge–Kutta sums, the update with noise, bounds and
the failure count (one loop per state), and the fast path of the normals
(:func:`fitts.sim.rng_numba.normals_into`). Only the ziggurat's rejected draws and the
failure report of a patient that just failed run one patient at a time. (The issue-14
kernel indexed the chunk's own arrays, ``X[i, p]``, and ran scalar: LLVM could not
prove the rows of its output apart from those of its inputs.)

Noise comes from the counter-based generator keyed by (seed, patient) with counter =
(step, pair), so results do not depend on blocks, chunks or threads. The arithmetic is
that of the NumPy reference backend and of the previous scalar kernel, in the same
order: results are bit for bit those of the previous kernel. The text is rendered into
a module with :func:`fitts.sim.backends.codegen.numba_kernel_module` and cached on disk
by :mod:`fitts.sim.kernel_cache`; its SHA-256 is part of the cache key, so editing it
here invalidates every cached kernel.
"""

#: patients per block-local row: a multiple of the widest vector (8 doubles). On the
#: `fitts` theory with noise 32 and 128 ran 8 % and 4 % slower than 64 (2026-12-02); 15
#: states and 124 parameters of 64 patients take about 80 kB (the core's L2)
BLOCK = 64

KERNEL_TEMPLATE = '''\
@njit(error_model="numpy", nogil=True)
def advance_block(X, P, U, us, t0, dt, step0, nsteps, A, b, c, keys, noise_row_of, noise_pidx,
                  lower, upper, clamp_mask, clamp_val, status, fail_step, fail_state, p0, m):
    ns = X.shape[0]
    npar = P.shape[0]
    ni = U.shape[1]
    nstage = b.shape[0]
    nrows = noise_pidx.shape[0]
    sq = math.sqrt(dt)
    # block-local copies: fresh storage, patient index innermost, rows BLOCK apart
    Xb = np.empty(ns * BLOCK)
    Vb = np.empty(ns * BLOCK)  # a stage's states, then the new states before bounds
    Pb = np.empty(npar * BLOCK)
    Ub = np.empty(max(ni, 1) * BLOCK)
    Kb = np.empty((nstage, ns * BLOCK))
    Ab = np.empty(BLOCK)
    Sg = np.empty(max(nrows, 1) * BLOCK)  # sqrt(dt) * sigma of each noise row
    Zb = np.empty((max(nrows, 1), BLOCK))  # this step's normals of each noise row
    alive = np.empty(BLOCK, np.int64)  # 1 until the patient fails
    rejected = np.empty(BLOCK, np.int64)  # scratch of normals_into
    kb = keys[p0:p0 + m]
    for i in range(ns):
        for p in range(m):
            Xb[i * BLOCK + p] = X[i, p0 + p]
    for k in range(npar):
        for p in range(m):
            Pb[k * BLOCK + p] = P[k, p0 + p]
    for r in range(nrows):
        for p in range(m):
            Sg[r * BLOCK + p] = sq * P[noise_pidx[r], p0 + p]
    for p in range(m):
        alive[p] = 1 if status[p0 + p] == 0 else 0
    for s in range(nsteps):
        t = t0 + s * dt
        for j in range(ni):
            for p in range(m):
                Ub[j * BLOCK + p] = U[s, j, (p0 + p) * us]
        base = np.uint64(step0 + s) * np.uint64(nrows)
        for r in range(nrows):
            normals_into(base + np.uint64(r), kb, Zb[r], m, rejected)
        for st in range(nstage):
            if st == 0:
                rhs(Xb, Pb, Ub, t, Kb[0], m)
            else:
                for i in range(ns):
                    o = i * BLOCK
                    for p in range(m):
                        Ab[p] = 0.0
                    for j in range(st):
                        a = A[st, j]
                        if a != 0.0:
                            Kj = Kb[j]
                            for p in range(m):
                                Ab[p] += a * Kj[o + p]
                    for p in range(m):
                        Vb[o + p] = Xb[o + p] + dt * Ab[p]
                rhs(Vb, Pb, Ub, t + c[st] * dt, Kb[st], m)
        # per state: the new state before bounds into Vb (kept for the failure report),
        # bounded into Xb (NaN for a failed patient); count the patients failing now
        fresh = 0
        for i in range(ns):
            o = i * BLOCK
            if nstage == 1:  # Euler: the stage sum is the one stage
                b0 = b[0]
                K0 = Kb[0]
                for p in range(m):
                    Vb[o + p] = Xb[o + p] + dt * (0.0 + b0 * K0[o + p])
            else:
                for p in range(m):
                    Ab[p] = 0.0
                for st in range(nstage):
                    bs = b[st]
                    Ks = Kb[st]
                    for p in range(m):
                        Ab[p] += bs * Ks[o + p]
                for p in range(m):
                    Vb[o + p] = Xb[o + p] + dt * Ab[p]
            lo = lower[i]
            hi = upper[i]
            r = noise_row_of[i]
            if r >= 0:
                ro = r * BLOCK
                Zr = Zb[r]
                for p in range(m):
                    v = Vb[o + p] + Sg[ro + p] * Zr[p]
                    Vb[o + p] = v
                    fresh += 0 if abs(v) < DIVERGENCE_LIMIT else alive[p]
                    Xb[o + p] = min(max(v, lo), hi) if alive[p] == 1 else np.nan
            else:
                for p in range(m):
                    v = Vb[o + p]
                    fresh += 0 if abs(v) < DIVERGENCE_LIMIT else alive[p]
                    Xb[o + p] = min(max(v, lo), hi) if alive[p] == 1 else np.nan
            if clamp_mask[i]:
                cv = clamp_val[i]
                for p in range(m):
                    Xb[o + p] = cv if alive[p] == 1 else np.nan
        if fresh > 0:  # rare: each failing patient's first bad state, one patient at a time
            for p in range(m):
                if alive[p] == 1:
                    for i in range(ns):
                        v = Vb[i * BLOCK + p]
                        if not (abs(v) < DIVERGENCE_LIMIT):
                            status[p0 + p] = 2 if math.isfinite(v) else 1
                            fail_step[p0 + p] = step0 + s
                            fail_state[p0 + p] = i
                            alive[p] = 0
                            for i2 in range(ns):
                                Xb[i2 * BLOCK + p] = np.nan
                            break
    for i in range(ns):
        for p in range(m):
            X[i, p0 + p] = Xb[i * BLOCK + p]


@njit(parallel=True, error_model="numpy", nogil=True, cache=True)
def kernel(X, P, U, us, t0, dt, step0, nsteps, A, b, c, keys, noise_row_of, noise_pidx,
           lower, upper, clamp_mask, clamp_val, status, fail_step, fail_state, block):
    n = X.shape[1]
    nb = (n + block - 1) // block
    for bi in prange(nb):
        p0 = bi * block
        advance_block(X, P, U, us, t0, dt, step0, nsteps, A, b, c, keys, noise_row_of,
                      noise_pidx, lower, upper, clamp_mask, clamp_val, status, fail_step,
                      fail_state, p0, min(n, p0 + block) - p0)
'''


def scaled_noise_template() -> str:
    """The template for a model whose noise amplitude depends on its states: the same text,
    with the scales computed from the states at each step's start (beside the first stage)
    and multiplying the noise. Derived from the one template, so both stay in step."""
    edits = (
        ("    Kb = np.empty((nstage, ns * BLOCK))\n",
         "    Kb = np.empty((nstage, ns * BLOCK))\n    Sb = np.empty(ns * BLOCK)  # noise scales\n"),
        ("                rhs(Xb, Pb, Ub, t, Kb[0], m)\n",
         "                rhs(Xb, Pb, Ub, t, Kb[0], m)\n"
         "                noise_scale(Xb, Pb, Ub, t, Sb, m)\n"),
        ("v = Vb[o + p] + Sg[ro + p] * Zr[p]", "v = Vb[o + p] + Sg[ro + p] * Sb[o + p] * Zr[p]"),
    )
    text = KERNEL_TEMPLATE
    for old, new in edits:
        if text.count(old) != 1:  # pragma: no cover - the template changed: update the edits
            raise RuntimeError(f"kernel template has no single {old!r}")
        text = text.replace(old, new)
    return text
