"""Row losses with hand-written autograd (docs/performance.md): one exponential pass forward,
the saved softmax reused backward; bit-identical to the formulas in docs/method.md."""

from __future__ import annotations

import torch
from torch import Tensor

from crossrec.kernels.blocks import as_tables, row_blocks


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b`` for [..., R, d] × [..., d, N] (no autograd: for use inside autograd Functions).

    With leading dimensions on the CPU this runs one ``mm`` per slice into a preallocated
    output: torch 2.13's CPU ``bmm`` is ~1.5× slower on these shapes (measured, 1 thread,
    [3, 1512, 64] × [3, 64, 756]: 16.5 ms against 11.1 ms). On other devices one ``bmm`` (one
    kernel launch).
    """
    if a.dim() == 2 or a.device.type != "cpu":
        return a @ b
    out = a.new_empty((*a.shape[:-1], b.shape[-1]))
    flat_a, flat_b = a.reshape(-1, *a.shape[-2:]), b.expand(*a.shape[:-2], *b.shape[-2:])
    flat_b, flat_out = flat_b.reshape(-1, *b.shape[-2:]), out.view(-1, *out.shape[-2:])
    for i in range(flat_a.shape[0]):
        torch.mm(flat_a[i], flat_b[i], out=flat_out[i])
    return out


def _once(ctx: torch.autograd.function.FunctionCtx) -> None:
    """The backwards below update their saved softmax in place: a second backward through the
    same graph (``retain_graph=True``) would read it altered, so it is refused."""
    if getattr(ctx, "spent", False):
        raise RuntimeError("this loss supports one backward pass per forward")
    ctx.spent = True


def _softmax_lse(
    logits: Tensor, overwrite: bool, targets: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor | None]:
    """``(softmax(l), logsumexp(l), <t, l>)`` along the last axis of logits [..., K] (the
    softmax into ``logits`` if ``overwrite``; the dot products with ``targets`` [..., K] only if
    given, else None), block by block over rows where the tensor is large
    (:mod:`crossrec.kernels.blocks`: the same values)."""
    logits = logits if overwrite else logits.contiguous()
    probs = logits if overwrite else torch.empty_like(logits)
    lse = logits.new_empty(logits.shape[:-1])
    dots = None if targets is None else logits.new_empty(logits.shape[:-1])
    l3, p3, o3 = as_tables(logits), as_tables(probs), as_tables(lse.unsqueeze(-1))
    t3 = None if targets is None else as_tables(targets.expand_as(logits).contiguous())
    d3 = None if dots is None else as_tables(dots.unsqueeze(-1))
    for block in row_blocks(logits):
        logit, prob = l3[block], p3[block]
        if t3 is not None:
            torch.sum(t3[block] * logit, dim=-1, keepdim=True, out=d3[block])
        top = logit.amax(dim=-1, keepdim=True)
        (prob.sub_(top) if overwrite else torch.sub(logit, top, out=prob)).exp_()
        norm = prob.sum(dim=-1, keepdim=True)
        prob.div_(norm)
        o3[block] = norm.log_().add_(top)
    return probs, lse, dots


class _NCE(torch.autograd.Function):
    """Per-row ``logsumexp_c(q·c) − q·p`` for unit rows (temperature folded into q), with a
    backward that reuses the forward's softmax instead of recomputing it.

    Shapes: q, p [..., R, d], c [..., N, d] (leading dimensions batch independent problems)
    → [..., R]; ``p = None``: the positives are the candidates themselves (R = N, row r's
    positive is candidate r), and ``∂/∂c`` then carries the positives' ``−g_r q_r`` too.
    Gradients are returned only for the inputs that need them.
    """

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx, q: Tensor, p: Tensor | None, c: Tensor
    ) -> Tensor:
        probs, lse, _ = _softmax_lse(matmul(q, c.transpose(-1, -2)), overwrite=True)
        ctx.diagonal = p is None
        p = c if p is None else p
        ctx.save_for_backward(q, p, c, probs)
        return lse - (q * p).sum(-1)

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: Tensor
    ) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        _once(ctx)
        q, p, c, probs = ctx.saved_tensors
        need_q, need_p, need_c = ctx.needs_input_grad
        g = grad.unsqueeze(-1)
        weighted = probs.mul_(g)
        grad_q = matmul(weighted, c).sub_(g * p) if need_q else None
        grad_p = -g * q if need_p else None
        grad_c = matmul(weighted.transpose(-1, -2), q) if need_c else None
        if grad_c is not None and ctx.diagonal:
            grad_c.sub_(g * q)
        return grad_q, grad_p, grad_c


_flash = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu


def _attend(
    query: Tensor, key: Tensor, value: Tensor, bias: Tensor | None
) -> tuple[Tensor, Tensor]:
    """``(softmax_k(q·k + bias_k) · V, logsumexp_k(q·k + bias_k))`` per query row, by torch's
    fused CPU attention kernel: query [G, R, d], key [G, N, d], value [G, N, d], bias [G, N] or
    None → ([G, R, d], [G, R]). The kernel works block by block with a running maximum, so
    the log-sum-exp does not underflow however negative the logits."""
    out, lse = _flash(
        query.unsqueeze(1),
        key.unsqueeze(1),
        value.unsqueeze(1),
        0.0,
        False,
        attn_mask=None if bias is None else bias[:, None, None, :],
        scale=1.0,
    )[:2]
    return out.squeeze(1), lse.squeeze(1).to(query.dtype)


class _FusedNCE(torch.autograd.Function):
    """:class:`_NCE` on the CPU through the fused attention kernel, with no [R, N] tensor.

    With ``P = softmax(q Cᵀ)`` row-wise and upstream gradient g [R]:

    * forward: one call gives ``lse_r = logsumexp_c(q_r·c)`` and ``o_r = P_r C`` (keys = values = C);
    * ``∂/∂q_r = g_r (o_r − p_r)``, ``∂/∂p_r = −g_r q_r``;
    * ``∂/∂c_j = Σ_r g_r P_rj q_r = exp(λ_j) · softmax_r(c_j·q_r − lse_r) · (g ∘ q)``, with
      ``λ_j = logsumexp_r(c_j·q_r − lse_r)``: a second call of the kernel with the candidates
      as queries, the rows as keys, ``g_r q_r`` as values and ``−lse_r`` as the additive bias
      (only when the candidates need a gradient; ILA's are detached).

    Shapes: q, p [..., R, d] (``p = None``: as in :class:`_NCE`), c [..., N, d] → [..., R].
    Measured on this project's CPU (1 thread, forward + backward): ILA's [3, 1540, 64] queries
    against [3, 770, 64] detached keys 15.7 ms against 30.3 ms for :class:`_NCE`, whose N-wide
    softmax passes (max, subtract, exp, sum, divide, scale) each stream a tensor larger than the
    caches; CNA's [3, 1143, 64] rows with candidate gradients 34 ms against 41 ms. Values agree
    to 1e-6, gradients to 1e-9.
    """

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx, q: Tensor, p: Tensor | None, c: Tensor
    ) -> Tensor:
        lead = torch.broadcast_shapes(q.shape[:-2], c.shape[:-2])
        rows, keys = _flat(q, lead), _flat(c, lead)  # [G, R, d], [G, N, d]
        out, lse = _attend(rows, keys, keys, None)  # P C [G, R, d], lse [G, R]
        ctx.diagonal = p is None
        p = c if p is None else p
        ctx.save_for_backward(q, p, rows, keys, out, lse)
        ctx.lead, ctx.c_shape = lead, c.shape
        return lse.reshape(*lead, q.shape[-2]) - (q * p).sum(-1)

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: Tensor
    ) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        q, p, rows, keys, out, lse = ctx.saved_tensors
        need_q, need_p, need_c = ctx.needs_input_grad
        g = grad.unsqueeze(-1)
        lead, c_shape = ctx.lead, ctx.c_shape
        grad_q = grad_p = grad_c = None
        if need_q:
            grad_q = _reduce_to((out.reshape(*lead, *q.shape[-2:]) - p).mul_(g), q.shape)
        if need_p:
            grad_p = _reduce_to(-g * q, p.shape)
        if need_c:
            spread, lam = _attend(keys, rows, _flat(g * q, lead), lse.neg())
            grad_c = spread.mul_(lam.exp_().unsqueeze(-1)).reshape(*lead, *c_shape[-2:])
            if ctx.diagonal:
                grad_c.sub_(g * q)
            grad_c = _reduce_to(grad_c, c_shape)
        return grad_q, grad_p, grad_c


def _flat(x: Tensor, lead: torch.Size) -> Tensor:
    """[..., L, d] broadcast to the leading shape ``lead`` and flattened to [G, L, d] (a view
    when nothing is broadcast)."""
    return x.expand(*lead, *x.shape[-2:]).reshape(-1, *x.shape[-2:])


def _reduce_to(grad: Tensor, shape: torch.Size) -> Tensor:
    """``grad`` summed over the leading dimensions that were broadcast from ``shape``."""
    if grad.shape == shape:
        return grad
    return grad.sum_to_size(shape)


FUSED_MIN_LOGITS = 1 << 20
"""R × N from which :func:`nce_rows` takes the fused kernel when the candidates need a gradient
(its backward then runs the kernel a second time). Measured on this project's CPU (1 thread,
3 problems of N × N unit rows, forward + backward): N = 400: 4.8 ms fused vs 4.0 ms; N = 752:
15.8 vs 13.2; N = 1143: 35.0 vs 39.5 — below ~1M logits per problem the [N, N] softmax still
fits the caches and the one-call form wins."""


def nce_rows(query: Tensor, positive: Tensor, candidates: Tensor) -> Tensor:
    """``logsumexp_c(q_r·c) − q_r·p_r`` per row, as given (no normalisation; fold any
    temperature into ``query``): query, positive [..., R, d], candidates [..., N, d] → [..., R].
    ``positive`` may be ``candidates`` itself (R = N: row r's positive is candidate r, CNA's
    case): it then enters the autograd Function once, so ``torch.compile`` traces it without a
    graph break ("duplicate tensor input") and the two gradients are summed inside.

    One matrix product and one exponential pass forward, the saved softmax backward (the
    autograd of ``logsumexp`` would recompute the exponentials and keep the logits as well).
    On the CPU the fused kernel of :class:`_FusedNCE` instead (no [R, N] tensor kept) when the
    candidates need no gradient (ILA's detached targets: half the time) or R × N is at least
    :data:`FUSED_MIN_LOGITS`; on other devices one batched product (one kernel launch).
    """
    given = None if positive is candidates else positive
    if candidates.device.type == "cpu" and (
        not (torch.is_grad_enabled() and candidates.requires_grad)
        or query.shape[-2] * candidates.shape[-2] >= FUSED_MIN_LOGITS
    ):
        return _FusedNCE.apply(query, given, candidates)
    return _NCE.apply(query, given, candidates)


class _LogSumExp(torch.autograd.Function):
    """Per-row ``logsumexp(l)`` over logits [..., K], the backward reusing the forward's softmax."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, logits: Tensor) -> Tensor:
        probs, lse, _ = _softmax_lse(logits, overwrite=False)
        ctx.save_for_backward(probs)
        return lse

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> Tensor:
        _once(ctx)
        (probs,) = ctx.saved_tensors
        return probs.mul_(grad.unsqueeze(-1))


class _SoftCE(torch.autograd.Function):
    """Per-row ``mass · logsumexp(l) − <t, l>`` over logits l [..., K] and constant soft targets
    t [..., K], with the forward's softmax reused by the backward:
    ``∂/∂l = g (mass · softmax(l) − t)``."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx, logits: Tensor, targets: Tensor, mass: float
    ) -> Tensor:
        probs, lse, dots = _softmax_lse(logits, overwrite=False, targets=targets)
        ctx.save_for_backward(probs, targets)
        ctx.mass = mass
        return lse * mass - dots

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: Tensor
    ) -> tuple[Tensor, None, None]:
        _once(ctx)
        probs, targets = ctx.saved_tensors
        p3, t3, g3 = (
            as_tables(probs),
            as_tables(targets.expand_as(probs).contiguous()),
            as_tables(grad.unsqueeze(-1).contiguous()),
        )
        for block in row_blocks(probs):  # probs ← g (mass · probs − t), block by block
            p3[block].mul_(ctx.mass).sub_(t3[block]).mul_(g3[block])
        return probs, None, None


def logsumexp_rows(logits: Tensor) -> Tensor:
    """``logsumexp`` along the last axis of logits [..., K] → [...], with no exponential pass in
    the backward (``torch.logsumexp``'s backward recomputes them)."""
    return _LogSumExp.apply(logits)


def soft_cross_entropy_rows(logits: Tensor, targets: Tensor, mass: float = 1.0) -> Tensor:
    """``mass · logsumexp(l_r) − <t_r, l_r>`` per row of logits [..., K] → [...]: the
    cross-entropy ``−Σ_k t_k log softmax(l)_k`` of soft targets t [..., K] (no gradient) whose
    rows sum to ``mass``. One exponential pass forward and none backward."""
    return _SoftCE.apply(logits, targets, mass)
