r"""Shared numerical core of FL, ASL, CFL and CASL (both flavours): one autograd Function, closed-form gradient.

Every loss of the focal family is a weighted sum, over classes j, of two scalar functions of the softmax
probability :math:`p_j` (weights ``Q``, ``R`` come from the targets and label smoothing):

.. math::
   \ell = \sum_j Q_j\,P(p_j) + R_j\,N(p_j), \qquad
   P(p) = -\big[(1-\xi)(1-p)^{\gamma_+} + \xi (1+p)^{\gamma_{hc}}\big]\log p

with the negative term either the authors' code (``'reference'``: only label-smoothing mass reaches it)
:math:`N(p) = -[(1-\xi)p^{\gamma_-} + \xi]\log p` or the paper's Eq. 7 (``'paper'``)
:math:`N(p) = -(1-\xi)p^{\gamma_-}\log(1-p)`.

Because each term depends on one probability only, :math:`\partial\ell/\partial z = D - p\sum_j D_j` with
:math:`D_j = p_j\,\partial\ell/\partial p_j`: no autograd graph over the weights is needed. Autograd through
``pow`` would also be slower and gives ``inf * 0 = nan`` for exponents in (0, 1) at saturated
probabilities, whereas the closed forms below stay finite (:math:`\log p/(1-p) \to -1`).

Accuracy near saturation: :math:`1-p` is never formed by cancellation for the largest probability of a row
(it is the sum of the others), and that entry is handled apart: there the paper's :math:`p/(1-p)` diverges, so
its gradient is assembled from :math:`D^*(1-p^*)` (bounded) and :math:`p_k/(1-p^*)` (a softmax over the other
classes). Class-index targets with nothing but a target term (FL/CFL in the paper flavour) take a fast path
with a single exp pass over the logits, as cross-entropy does.

Forward also builds :math:`\partial\ell/\partial z` (it shares every intermediate with the loss) and saves it
with ``save_for_backward``; backward multiplies it by the incoming gradient. ``benchmarks/losses.py`` measures
each loss's forward+backward as a share of a training step.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class FocalSpec(NamedTuple):
    """Hyper-parameters of one evaluation; ``Q = qu*S + qt*Y`` and ``R = ru*S + rt*Y`` with ``S = sum_j Y_j``."""

    gamma_pos: float
    gamma_neg: float
    gamma_hc: float
    xi: float
    negatives: str  # 'none' | 'reference' | 'paper'
    qu: float
    qt: float
    ru: float
    rt: float


def _positive(p: torch.Tensor, logp: torch.Tensor, u: torch.Tensor, s: FocalSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """Target term ``P(p) = -W log p`` and ``D = p dP/dp = p R - W`` (elementwise, any shape).

    ``W = (1-xi) u^g+ + xi (1+p)^ghc`` with ``u = 1-p``, and
    ``R = (1-xi) g+ u^g+ rho - xi ghc (1+p)^(ghc-1) log p`` with ``rho = log p / (1-p)`` (-> -1 as p -> 1;
    callers pass a ``log p`` accurate near 1, and where ``1-p`` is 0 the factor ``u^g+`` is 0 too).
    Written with few operations: on (B, 1) columns the per-call overhead is what costs.
    """
    low, high = 1.0 - s.xi, s.xi
    weight: torch.Tensor | float = 0.0
    r: torch.Tensor | None = None
    if low != 0.0:
        if s.gamma_pos == 0.0:
            weight = low
        else:
            u_pow = _pow(u, s.gamma_pos)
            weight = u_pow * low
            r = (logp / u.clamp_min(torch.finfo(p.dtype).tiny)).mul_(u_pow).mul_(low * s.gamma_pos)
    if high != 0.0:
        if s.gamma_hc == 0.0:
            weight = weight + high
        else:
            one_p = 1.0 + p
            h = one_p.pow(s.gamma_hc)
            weight = torch.add(weight, h, alpha=high) if isinstance(weight, torch.Tensor) else h.mul(high).add_(weight)
            t = (h * logp).div_(one_p).mul_(-high * s.gamma_hc)
            r = t if r is None else r.add_(t)
    if not isinstance(weight, torch.Tensor):
        return logp * (-weight), torch.full_like(p, -weight)
    d = (p * r).sub_(weight) if r is not None else -weight
    return -(weight * logp), d


def _pow(x: torch.Tensor, gamma: float) -> torch.Tensor:
    """``x ** gamma``; small integer exponents by multiplication (several times faster than ``pow`` on CPU)."""
    if gamma == 0.0:
        return torch.ones_like(x)
    if gamma == 1.0:
        return x
    if gamma == 2.0:
        return x * x
    if gamma == 3.0:
        return x * x * x
    if gamma == 4.0:
        x2 = x * x
        return x2 * x2
    return x.pow(gamma)


def _negative(p, logp, u, logu, s: FocalSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-target term ``N(p)`` and ``D = p * dN/dp`` (entries that are not a row maximum)."""
    w = _pow(p, s.gamma_neg)
    if s.negatives == "reference":
        weight = (1.0 - s.xi) * w + s.xi
        return -weight * logp, -((1.0 - s.xi) * s.gamma_neg) * w * logp - weight
    # Paper: -(1-xi) p^g log(1-p); p <= 1/2 here, so p / (1-p) <= 1.
    w = (1.0 - s.xi) * w
    return -w * logu, w * (p / u - s.gamma_neg * logu)


def _pow_owned(x: torch.Tensor, gamma: float) -> torch.Tensor:
    """``x ** gamma`` for a tensor the caller owns (may be overwritten)."""
    if gamma == 2.0:
        return x.mul_(x)
    if gamma == 4.0:
        return x.mul_(x).mul_(x)
    if gamma == 1.0:
        return x
    return x.pow_(gamma)


def _negative_dense(p, logp, u, s: FocalSpec) -> tuple[torch.Tensor, torch.Tensor, float, float]:
    """:func:`_negative` over (B, K) as ``(n, d, n_scale, d_scale)`` with ``N = n_scale * n``, ``D = d_scale * d``.

    Consumes ``u = 1 - p`` (overwritten). Scalar factors are returned rather than applied, and temporaries are
    updated in place: each full pass and each fresh (B, K) buffer costs about what a cross-entropy does.
    """
    g, xi = s.gamma_neg, s.xi
    if g != 0.0:
        # Probabilities whose weighted terms (~p^(g+1)) would fall below the smallest normal float are set to 0:
        # their contribution is invisible at that precision, and subnormal arithmetic is ~30x slower on CPUs.
        w = _pow_owned(torch.nn.functional.threshold(p, 16.0 * torch.finfo(p.dtype).tiny ** (1.0 / (g + 1.0)), 0.0), g)
    else:
        w = None
    if s.negatives == "reference":
        if w is None:
            w = torch.ones_like(p)
        wl = w * logp
        d = w.add_(wl, alpha=g)  # negated: (1-xi)(w + g w log p) + xi
        if xi != 0.0:
            d.mul_(1.0 - xi).add_(xi)
        n = wl if xi == 0.0 else wl.mul_(1.0 - xi).add_(logp, alpha=xi)
        return n, d, -1.0, -1.0
    logu = u.log()
    d = torch.div(p, u, out=u)  # <= 1 off the row maximum
    if w is None:
        return logu, d, -(1.0 - xi), 1.0 - xi
    d.sub_(logu, alpha=g).mul_(w)
    return logu.mul_(w), d, -(1.0 - xi), 1.0 - xi


def _negative_du(p, logp, u, logu, s: FocalSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """``N(p)`` and ``D * (1-p)`` at a row maximum, where the paper's ``D`` alone may overflow."""
    if s.negatives == "reference":
        n, d = _negative(p, logp, u, logu, s)
        return n, d * u
    w = (1.0 - s.xi) * _pow(p, s.gamma_neg)
    return -w * logu, w * (p - s.gamma_neg * u * logu)


def _log_rest(rest: torch.Tensor, z: torch.Tensor, shift: torch.Tensor, jstar: torch.Tensor) -> torch.Tensor:
    """``log(rest)``, ``rest`` = sum of exp(z - shift) off the row maximum; log-sum-exp where ``rest`` underflows."""
    small = rest < torch.finfo(rest.dtype).tiny * 2.0**40
    if not bool(small.any()):
        return rest.log()
    exact = torch.logsumexp((z - shift).scatter_(1, jstar, float("-inf")), 1, keepdim=True)
    return torch.where(small, exact, rest.log())


def _forward(z: torch.Tensor, targets: torch.Tensor, dense: bool, s: FocalSpec, need_grad: bool):
    """Per-sample loss (B,) and what backward needs."""
    has_neg = s.negatives != "none" and (s.ru != 0.0 or s.rt != 0.0)
    if not dense and s.qu == 0.0 and not has_neg:
        # Only the target entry carries a loss: the CE-shaped fast path, one exp pass over the logits.
        c = targets.unsqueeze(1)
        shift = z.amax(1, keepdim=True)
        e = torch.sub(z, shift).exp_()
        e_c = e.gather(1, c)
        e.scatter_(1, c, 0.0)
        rest = e.sum(1, keepdim=True)  # sum of the other classes: 1 - p_c without cancellation
        total = rest + e_c
        # log(e_c + rest) as log1p((e_c - 1) + rest): when c is the maximum (e_c = 1) this is -log p_c = log1p(rest),
        # accurate even when rest is below the float epsilon.
        logp_c = z.gather(1, c) - shift - torch.log1p((e_c - 1.0) + rest)
        inv_total = 1.0 / total
        term, d_c = _positive(e_c * inv_total, logp_c, rest * inv_total, s)
        if s.qt != 1.0:
            term, d_c = s.qt * term, s.qt * d_c
        if not need_grad:
            return term.squeeze(1), None
        # D_c (e_c - p): off-target entries -D_c p_k = -D_c e_k / total, target entry D_c (1 - p_c), exact.
        grad = e.mul_(-d_c * inv_total).scatter_(1, c, d_c * rest * inv_total)
        return term.squeeze(1), (grad, 1.0)

    # Softmax by hand so that the row maximum's 1 - p* = rest / total and log p* = -log1p(rest) come out exact.
    shift, jstar = z.max(1, keepdim=True)
    shifted = z - shift
    # log p over all entries is needed by dense target terms and the reference negatives only.
    need_logp = dense or s.qu != 0.0 or (has_neg and s.negatives == "reference")
    p = shifted.exp() if need_logp else shifted.exp_()  # a fresh (B, K) buffer costs as much as a pass
    p.scatter_(1, jstar, 0.0)
    rest = p.sum(1, keepdim=True)
    p.scatter_(1, jstar, 1.0)
    log_total = torch.log1p(rest)
    inv_total = 1.0 / (1.0 + rest)
    p.mul_(inv_total)
    p_star, u_star = inv_total, rest * inv_total
    logp_star, logu_star = -log_total, _log_rest(rest, z, shift, jstar) - log_total

    # Coefficients: dense (B, K) or scalar everywhere, plus (for class indices) extra ones on the target column.
    if dense:
        y = targets.to(z.dtype)
        total = y.sum(1, keepdim=True)
        q = s.qu * total + s.qt * y
        r = s.ru * total + s.rt * y
        q_star, r_star = q.gather(1, jstar), r.gather(1, jstar)
        need_pos, need_neg = True, has_neg
    else:
        c = targets.unsqueeze(1)
        on_star = c == jstar
        q, r = s.qu, s.ru
        star_is_target = on_star.to(z.dtype)
        q_star, r_star = s.qu + s.qt * star_is_target, s.ru + s.rt * star_is_target
        need_pos, need_neg = s.qu != 0.0, has_neg and s.ru != 0.0

    # Dense part over all entries; the row maximum (and the target column) are recomputed exactly below.
    # Only scalar-weighted negatives: keep them unscaled, multiply sums by loss_mult and the gradient by d_mult.
    if need_neg and s.negatives == "paper" and s.xi == 1.0:
        need_neg = False  # (1 - xi) = 0: the paper's negative terms vanish
    loss_e: torch.Tensor | None = None
    d_e: torch.Tensor | None = None
    loss_mult, d_mult = 1.0, 1.0
    if need_pos or need_neg:
        logp = shifted.sub_(log_total) if need_logp else None
        u = torch.sub(1.0, p) if (need_pos or s.negatives == "paper") else None  # exact off the row maximum
        if need_pos:
            term, d_p = _positive(p, logp, u, s)
            loss_e, d_e = q * term, q * d_p
        if need_neg:
            n, d_n, n_scale, d_scale = _negative_dense(p, logp, u, s)
            if loss_e is None and not dense:
                loss_e, d_e, loss_mult, d_mult = n, d_n, r * n_scale, r * d_scale
            else:
                loss_e = (r * n_scale) * n if loss_e is None else loss_e.add_((r * n_scale) * n)
                d_e = (r * d_scale) * d_n if d_e is None else d_e.add_((r * d_scale) * d_n)
    if d_e is None:
        loss_e, d_e = torch.zeros_like(p), torch.zeros_like(p)
    for index in (jstar,) if dense else (jstar, c):
        loss_e.scatter_(1, index, 0.0)
        d_e.scatter_(1, index, 0.0)

    term, d_p = _positive(p_star, logp_star, u_star, s)
    loss_star, du_star = q_star * term, q_star * d_p * u_star
    if has_neg:
        n, du_n = _negative_du(p_star, logp_star, u_star, logu_star, s)
        loss_star, du_star = loss_star + r_star * n, du_star + r_star * du_n
    loss = loss_mult * loss_e.sum(1, keepdim=True) + loss_star
    du_star = du_star / d_mult

    if not dense:
        # Target column with its full coefficients (qu + qt, ru + rt), unless it is the row maximum (done above).
        p_c, logp_c = p.gather(1, c), z.gather(1, c) - shift - log_total
        u_c = 1.0 - p_c
        term, d_p = _positive(p_c, logp_c, u_c, s)
        loss_c, d_c = (s.qu + s.qt) * term, (s.qu + s.qt) * d_p
        if has_neg and s.ru + s.rt != 0.0:
            n, d_n = _negative(p_c, logp_c, u_c, u_c.log(), s)
            loss_c, d_c = loss_c + (s.ru + s.rt) * n, d_c + (s.ru + s.rt) * d_n
        # On the row maximum p_c may round to 1 and these values be inf/nan: they are replaced.
        loss = loss + torch.where(on_star, 0.0, loss_c)
        d_e.scatter_add_(1, c, torch.where(on_star, 0.0, d_c / d_mult))
    if not need_grad:
        return loss.squeeze(1), None

    # dl/dz = sum_j D_j (e_j - p): off the maximum D' - p (sum D' + D*), at it D* (1 - p*) - p* sum D'.
    sum_d = d_e.sum(1, keepdim=True)
    tiny_rows = u_star < torch.finfo(p.dtype).tiny * 2.0**40
    exact = None
    if bool(tiny_rows.any()):
        # p_k / (1 - p*) is a softmax over the other classes; take it in log space where 1 - p* underflows.
        ratio = torch.exp(z - shift - logu_star - log_total).scatter_(1, jstar, 0.0)
        exact = d_e - p * sum_d - ratio * du_star
    coef = torch.where(tiny_rows, sum_d, sum_d + du_star / u_star.clamp_min(torch.finfo(p.dtype).tiny))
    grad = d_e.addcmul_(p, -coef)
    if exact is not None:
        grad = torch.where(tiny_rows, exact, grad)
    grad.scatter_(1, jstar, du_star - p_star * sum_d)
    return loss.squeeze(1), (grad, d_mult)


class _FocalFamily(torch.autograd.Function):
    # Forward builds dl/dz up to the incoming per-sample gradient; backward only scales it (out of place, so
    # retain_graph and repeated backward calls see the saved buffer unchanged).
    @staticmethod
    def forward(ctx, z, targets, dense, spec):  # noqa: D102
        loss, saved = _forward(z, targets, dense, spec, ctx.needs_input_grad[0])
        if saved is not None:
            grad, ctx.d_mult = saved
            ctx.save_for_backward(grad)
        return loss

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):  # noqa: D102
        (grad,) = ctx.saved_tensors
        return grad * (g.unsqueeze(1) * ctx.d_mult), None, None, None


def focal_family(z: torch.Tensor, targets: torch.Tensor, dense: bool, spec: FocalSpec) -> torch.Tensor:
    """Per-sample loss (B,) of the focal family for logits ``z`` (B, K) and validated targets."""
    return _FocalFamily.apply(z, targets, dense, spec)
