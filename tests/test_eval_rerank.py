"""k-reciprocal re-ranking and alpha-QE against straightforward references on small inputs."""

import numpy as np
import pytest
import torch

from reidlab.errors import ConfigError
from reidlab.eval import average_query_expansion, k_reciprocal_rerank, pairwise_distance, rerank_from_features


def reference_rerank(q_g, q_q, g_g, k1=20, k2=6, lam=0.3):
    """The canonical algorithm (Zhong et al. 2017) written plainly with dense matrices, on the given
    distance (no squaring)."""
    nq = q_g.shape[0]
    D = np.concatenate([np.concatenate([q_q, q_g], 1), np.concatenate([q_g.T, g_g], 1)], 0).astype(np.float32)
    D = np.transpose(D / np.max(D, axis=0))
    N = D.shape[0]
    rank = np.argsort(D, axis=1, kind="stable")

    def k_reciprocal(i, k):
        fwd = rank[i, :k + 1]
        return fwd[np.where(rank[fwd, :k + 1] == i)[0]]

    V = np.zeros_like(D)
    for i in range(N):
        R = k_reciprocal(i, k1)
        expansion = R
        for c in R:
            Rc = k_reciprocal(c, int(np.around(k1 / 2.0)))
            if len(np.intersect1d(Rc, R)) > 2.0 / 3 * len(Rc):
                expansion = np.append(expansion, Rc)
        expansion = np.unique(expansion)
        w = np.exp(-D[i, expansion])
        V[i, expansion] = w / np.sum(w)
    if k2 != 1:
        V = np.stack([V[rank[i, :k2]].mean(0) for i in range(N)])
    jac = np.zeros((nq, N), np.float32)
    for i in range(nq):
        t = np.minimum(V[i][None], V).sum(1)
        jac[i] = 1 - t / (2 - t)
    return (jac * (1 - lam) + D[:nq] * lam)[:, nq:]


def _features(seed=0, nq=30, ng=110, dim=12):
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(20, dim, generator=g)
    qf = means[torch.randint(0, 20, (nq,), generator=g)] + 0.7 * torch.randn(nq, dim, generator=g)
    gf = means[torch.randint(0, 20, (ng,), generator=g)] + 0.7 * torch.randn(ng, dim, generator=g)
    return qf, gf


def _blocks(qf, gf, metric):
    qg = pairwise_distance(qf, gf, metric, out_dtype=torch.float64)
    qq = pairwise_distance(qf, qf, metric, out_dtype=torch.float64)
    gg = pairwise_distance(gf, gf, metric, out_dtype=torch.float64)
    qq, gg = (qq + qq.T) / 2, (gg + gg.T) / 2
    return qg, qq.fill_diagonal_(0), gg.fill_diagonal_(0)


@pytest.mark.parametrize("metric,k1,k2,lam", [("euclidean", 20, 6, 0.3), ("cosine", 20, 6, 0.3),
                                              ("euclidean", 7, 1, 0.5), ("cosine", 5, 3, 0.0)])
def test_rerank_equals_reference(metric, k1, k2, lam):
    qg, qq, gg = _blocks(*_features(), metric)
    ref = reference_rerank(qg.numpy(), qq.numpy(), gg.numpy(), k1, k2, lam)
    out = k_reciprocal_rerank(qg.numpy(), qq.numpy(), gg.numpy(), k1=k1, k2=k2, lambda_value=lam, chunk_size=37)
    assert isinstance(out, np.ndarray) and out.shape == (30, 110) and out.dtype == np.float32
    np.testing.assert_allclose(out, ref, atol=1e-5)
    # re-ranking changes the distances (the Jaccard term is not constant)
    assert np.abs(out - lam * qg.numpy() / np.maximum(qg.numpy().max(1, keepdims=True), qq.numpy().max(0)[:, None])).max() > 0.05


def test_rerank_from_features_and_tensor_io():
    qf, gf = _features(1)
    qg, qq, gg = _blocks(qf, gf, "euclidean")
    ref = reference_rerank(qg.numpy(), qq.numpy(), gg.numpy())
    out = rerank_from_features(qf, gf, metric="euclidean", chunk_size=29)
    assert isinstance(out, torch.Tensor) and out.shape == (30, 110)
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-5)
    t = k_reciprocal_rerank(qg.float(), qq.float(), gg.float())
    assert isinstance(t, torch.Tensor)
    np.testing.assert_allclose(t.numpy(), ref, atol=1e-5)


def test_rerank_never_squares_the_input():
    qf, gf = _features(2)
    qg, qq, gg = _blocks(qf, gf, "euclidean")
    once = k_reciprocal_rerank(qg, qq, gg)
    squared = reference_rerank(qg.numpy() ** 2, qq.numpy() ** 2, gg.numpy() ** 2)
    assert np.abs(once.numpy() - squared).max() > 1e-3  # differs from the squared-twice variant


def test_rerank_shape_error():
    with pytest.raises(ConfigError, match="expected q_q \\[2, 2\\]"):
        k_reciprocal_rerank(np.zeros((2, 3)), np.zeros((3, 3)), np.zeros((3, 3)))


def test_alpha_qe_hand_case():
    qf = torch.tensor([[1.0, 0.0, 0.0]])
    gf = torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [-1.0, 0.0, 0.0]])
    new_q, new_g = average_query_expansion(qf, gf, top_k=2, alpha=3.0)
    # nearest two: g0 (cos 1/sqrt2) and then g1/g2 (cos 0, weight 0) -> q + (1/sqrt2)^3 * g0/|g0|
    c = 2 ** -0.5
    expect = torch.tensor([1.0, 0.0, 0.0]) + c ** 3 * torch.tensor([c, c, 0.0])
    torch.testing.assert_close(new_q[0], expect / expect.norm())
    torch.testing.assert_close(new_g, torch.nn.functional.normalize(gf, dim=1))
    # alpha = 0: plain average of the query and its top_k neighbours
    q0, _ = average_query_expansion(qf, gf, top_k=1, alpha=0.0)
    e0 = torch.tensor([1.0, 0.0, 0.0]) + torch.tensor([c, c, 0.0])
    torch.testing.assert_close(q0[0], e0 / e0.norm())
    # database-side: each gallery item expanded by its neighbours, not itself twice
    _, g2 = average_query_expansion(qf, gf, top_k=1, alpha=1.0, expand_gallery=True)
    e1 = torch.tensor([0.0, 1.0, 0.0]) + c * torch.tensor([c, c, 0.0])
    torch.testing.assert_close(g2[1], e1 / e1.norm())
