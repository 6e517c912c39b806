"""The chapter's multimodal objectives: known answers, pretraining that works, pycox as reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from structunstruct.nn import (
    AttentionFusion,
    ClipLoss,
    ConcatAE,
    CrossAE,
    LogisticHazardHead,
    ModalityAutoencoder,
    clip_loss,
    correlation_loss,
    create_modality_fusion,
    cross_reconstruction_loss,
    discretize_survival,
    list_modality_fusions,
    logistic_hazard_survival,
    nll_logistic_hazard,
    pretrain_autoencoders,
    pretrain_contrastive,
    pretrain_correlation,
    reconstruction_loss,
    register_modality_fusion,
    similarity_loss,
)
from structunstruct.nn.multimodal import fusion as fusion_module


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _two_views(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two 8-wide views sharing a 2-d latent factor, each with its own noise."""
    mixing = _gen(100)
    mix_a, mix_b = torch.randn(2, 8, generator=mixing), torch.randn(2, 8, generator=mixing)
    g = _gen(seed)
    z = torch.randn(n, 2, generator=g)
    a = z @ mix_a + 0.3 * torch.randn(n, 8, generator=g)
    b = torch.tanh(z @ mix_b) + 0.3 * torch.randn(n, 8, generator=g)
    return a, b


# --- DeepCorrSurv -------------------------------------------------------------------------------

def test_correlation_loss_known_answers():
    g = _gen(1)
    a = torch.randn(500, 4, generator=g)
    assert correlation_loss(a, a).item() == pytest.approx(-4.0, abs=1e-6)
    assert correlation_loss(a, 3 * a + 2).item() == pytest.approx(-4.0, abs=1e-6)  # affine invariance
    assert correlation_loss(a, -a).item() == pytest.approx(4.0, abs=1e-6)
    b = torch.randn(500, 4, generator=g)
    assert abs(correlation_loss(a, b).item()) < 4 * 3 / math.sqrt(500)  # 3 standard errors per dim
    # per-dimension Pearson correlations, as numpy computes them
    c = a + torch.randn(500, 4, generator=g)
    expected = -sum(np.corrcoef(a[:, k].numpy(), c[:, k].numpy())[0, 1] for k in range(4))
    assert correlation_loss(a, c).item() == pytest.approx(expected, abs=1e-5)


def test_correlation_loss_rejects_bad_shapes():
    with pytest.raises(ValueError, match="one shape"):
        correlation_loss(torch.zeros(5, 2), torch.zeros(5, 3))
    with pytest.raises(ValueError, match="at least 2 rows"):
        correlation_loss(torch.zeros(1, 2), torch.zeros(1, 2))


def test_pretrain_correlation_raises_the_correlation():
    torch.manual_seed(0)
    a, b = _two_views(600, seed=2)
    encoder_a, encoder_b = nn.Linear(8, 2), nn.Linear(8, 2)
    test_a, test_b = _two_views(400, seed=3)
    with torch.no_grad():
        before = -correlation_loss(encoder_a(test_a), encoder_b(test_b)).item()
    batches = [(a[i:i + 100], b[i:i + 100]) for i in range(0, 600, 100)]
    history = pretrain_correlation(encoder_a, encoder_b, batches, epochs=30, lr=1e-2)
    with torch.no_grad():
        after = -correlation_loss(encoder_a(test_a), encoder_b(test_b)).item()
    assert len(history) == 30 and history[-1] < history[0] - 0.1
    assert after > 1.6 and after > before + 0.5  # two shared dimensions: at most 2


def test_pretrain_rejects_one_shot_iterator():
    batches = iter([(torch.zeros(4, 8), torch.zeros(4, 8))])
    with pytest.raises(TypeError, match="one-shot iterator"):
        pretrain_correlation(nn.Linear(8, 2), nn.Linear(8, 2), batches, epochs=2)


# --- ConcatAE / CrossAE -------------------------------------------------------------------------

def _identity_autoencoder(scale_code: float) -> ModalityAutoencoder:
    encoder, decoder = nn.Linear(3, 3, bias=False), nn.Linear(3, 3, bias=False)
    with torch.no_grad():
        encoder.weight.copy_(scale_code * torch.eye(3))
        decoder.weight.copy_(torch.eye(3))
    return ModalityAutoencoder(encoder, decoder, 3)


def test_cross_reconstruction_known_answer():
    g = _gen(4)
    x = {"a": torch.randn(20, 3, generator=g), "b": torch.randn(20, 3, generator=g)}
    aes = {"a": _identity_autoencoder(1.0), "b": _identity_autoencoder(0.0)}  # z_a = x_a, z_b = 0
    cross = cross_reconstruction_loss(aes, x)
    # x_b from z_a = x_a, and x_a from z_b = 0
    expected = torch.mean((x["b"] - x["a"]) ** 2) + torch.mean(x["a"] ** 2)
    assert cross.item() == pytest.approx(expected.item(), rel=1e-6)
    own = reconstruction_loss(aes, x)
    assert own.item() == pytest.approx(torch.mean(x["b"] ** 2).item(), rel=1e-6)
    model = CrossAE(aes, self_weight=0.0)
    assert model.loss(x).item() == pytest.approx(expected.item(), rel=1e-6)
    assert CrossAE(aes, self_weight=0.5).loss(x).item() == pytest.approx((expected + 0.5 * own).item(), rel=1e-6)
    assert torch.allclose(model(x), x["a"] / 2)  # the mean of the codes
    assert ConcatAE(aes).loss(x).item() == pytest.approx(own.item(), rel=1e-6)
    assert ConcatAE(aes)(x).shape == (20, 6)


@pytest.mark.parametrize("kind", ["concat", "cross"])
def test_autoencoder_pretraining_lowers_reconstruction_error(kind):
    torch.manual_seed(0)
    a, b = _two_views(400, seed=5)
    aes = {"a": ModalityAutoencoder.mlp(8, 2, [16]), "b": ModalityAutoencoder.mlp(8, 2, [16])}
    model = ConcatAE(aes) if kind == "concat" else CrossAE(aes)
    batches = [{"a": a[i:i + 100], "b": b[i:i + 100]} for i in range(0, 400, 100)]
    with torch.no_grad():
        before = model.loss({"a": a, "b": b}).item()
    history = pretrain_autoencoders(model, batches, epochs=40, lr=1e-2)
    with torch.no_grad():
        after = model.loss({"a": a, "b": b}).item()
    assert history[-1] < 0.6 * history[0] and after < 0.6 * before


def test_crossae_rejects_unequal_code_widths():
    with pytest.raises(ValueError, match="one code width"):
        CrossAE({"a": ModalityAutoencoder.mlp(4, 2), "b": ModalityAutoencoder.mlp(4, 3)})
    with pytest.raises(KeyError, match="lack the modalities"):
        ConcatAE({"a": ModalityAutoencoder.mlp(4, 2)}).loss({"b": torch.zeros(2, 4)})


# --- Cheerla & Gevaert ---------------------------------------------------------------------------

def test_similarity_loss_zero_for_identical_well_separated_embeddings():
    e = torch.eye(4) * 3.0  # orthogonal rows: matched cosine 1, mismatched 0
    assert similarity_loss([e, e.clone()], margin=0.5).item() == 0.0
    assert similarity_loss([e, e, e], margin=1.0, reduction="sum").item() == 0.0


def test_similarity_loss_known_answer_when_mismatched_pairs_are_closer():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[0.0, 1.0], [1.0, 0.0]])  # each patient's b matches the other's a
    # every term: margin - 0 + 1 over 2 patient pairs and 2 ordered modality pairs
    assert similarity_loss([a, b], margin=0.1, reduction="sum").item() == pytest.approx(4 * 1.1)
    assert similarity_loss([a, b], margin=0.1).item() == pytest.approx(1.1)


def test_similarity_loss_by_hand_and_gradient_direction():
    g = _gen(6)
    a = torch.randn(5, 3, generator=g, requires_grad=True)
    b = torch.randn(5, 3, generator=g, requires_grad=True)
    loss = similarity_loss([a, b], margin=0.2, reduction="sum")
    total = 0.0
    for x, y in ((a, b), (b, a)):
        for i in range(5):
            for j in range(5):
                if i != j:
                    own = F.cosine_similarity(x[i], y[i], dim=0)
                    other = F.cosine_similarity(x[i], y[j], dim=0)
                    total += max(0.0, 0.2 - own.item() + other.item())
    assert loss.item() == pytest.approx(total, rel=1e-5)
    loss.backward()
    with torch.no_grad():  # a small step against the gradient makes own pairs more similar
        own_before = F.cosine_similarity(a, b).mean()
        a2, b2 = a - 0.05 * a.grad, b - 0.05 * b.grad
        assert F.cosine_similarity(a2, b2).mean() > own_before
        assert similarity_loss([a2, b2], margin=0.2, reduction="sum") < loss


def test_similarity_loss_skips_missing_modalities():
    e = torch.eye(3)
    b = torch.tensor([[0.0, 0.0, 1.0]]).repeat(3, 1)  # the absent b-embeddings of 0, 1 copy patient 2's
    present = torch.tensor([[True, False], [True, False], [True, True]])
    # only patient 2 has both modalities; the terms comparing it with the absent
    # b-embeddings of patients 0 and 1 (which would be positive) are left out
    assert similarity_loss([e, b], present, margin=0.5).item() == 0.0
    assert similarity_loss([e, b], margin=0.5).item() > 0.0


# --- MultiSurv: fusion --------------------------------------------------------------------------

def test_fusion_registry():
    assert set(list_modality_fusions()) >= {"attention", "max", "sum", "mean"}
    with pytest.raises(KeyError, match="known"):
        create_modality_fusion("prod", 4)

    class First(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.out_dim = dim

        def forward(self, embeddings, present=None):
            return embeddings[0]

    register_modality_fusion("first", First)
    try:
        assert create_modality_fusion("first", 4).out_dim == 4
    finally:
        fusion_module.MODALITY_FUSIONS.pop("first")


@pytest.mark.parametrize("name", ["attention", "max", "sum", "mean"])
def test_fusion_is_permutation_invariant_and_honours_the_mask(name):
    torch.manual_seed(0)
    fusion = create_modality_fusion(name, 5)
    g = _gen(7)
    x = [torch.randn(6, 5, generator=g) for _ in range(3)]
    present = torch.tensor([[1, 1, 1], [1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 1, 0], [0, 0, 0]], dtype=torch.bool)
    out = fusion(x, present)
    order = [2, 0, 1]
    assert torch.allclose(out, fusion([x[k] for k in order], present[:, order]), atol=1e-6)
    # changing an absent modality's embedding changes nothing
    y = [t.clone() for t in x]
    y[1][~present[:, 1]] = 1e3
    assert torch.allclose(out, fusion(y, present), atol=1e-6)
    assert torch.equal(out[5], torch.zeros(5))  # no modality at all
    # a single present modality is returned as is (max, sum, mean, attention weight 1)
    assert torch.allclose(out[2], x[2][2], atol=1e-6)
    assert torch.allclose(out[4], x[1][4], atol=1e-6)


def test_fusion_known_values():
    x = torch.tensor([[[1.0, -2.0]], [[3.0, 4.0]]])  # k=2, n=1, d=2
    assert torch.equal(create_modality_fusion("max", 2)(x), torch.tensor([[3.0, 4.0]]))
    assert torch.equal(create_modality_fusion("sum", 2)(x), torch.tensor([[4.0, 2.0]]))
    assert torch.equal(create_modality_fusion("mean", 2)(x), torch.tensor([[2.0, 1.0]]))
    attention = AttentionFusion(2)
    with torch.no_grad():
        attention.fc.weight.copy_(torch.eye(2))
    # weights softmax_m(tanh(x_m)) per feature, MultiSurv's formula
    w = torch.softmax(torch.tanh(x), dim=0)
    assert torch.allclose(attention(x), (w * x).sum(0), atol=1e-6)
    assert torch.allclose(attention.weights(x).sum(0), torch.ones(1, 2))


# --- MultiSurv: logistic-hazard head --------------------------------------------------------------

def test_nll_logistic_hazard_matches_pycox():
    from pycox.models.loss import nll_logistic_hazard as pycox_nll

    g = _gen(8)
    logits = torch.randn(50, 7, generator=g, dtype=torch.float64) * 2
    index = torch.randint(0, 7, (50,), generator=g)
    event = (torch.rand(50, generator=g) < 0.6).double()
    for reduction in ("mean", "sum", "none"):
        ours = nll_logistic_hazard(logits, index, event, reduction)
        theirs = pycox_nll(logits, index, event, reduction)
        assert torch.allclose(ours, theirs, atol=1e-6, rtol=0)


def test_nll_logistic_hazard_by_hand():
    logits = torch.tensor([[0.3, -1.0, 2.0]])
    h = torch.sigmoid(logits)[0]
    event_at_2 = -(torch.log(1 - h[0]) + torch.log(1 - h[1]) + torch.log(h[2]))
    censored_at_1 = -(torch.log(1 - h[0]) + torch.log(1 - h[1]))
    assert nll_logistic_hazard(logits, torch.tensor([2]), torch.tensor([1.0])).item() == pytest.approx(
        event_at_2.item(), rel=1e-6)
    assert nll_logistic_hazard(logits, torch.tensor([1]), torch.tensor([0.0])).item() == pytest.approx(
        censored_at_1.item(), rel=1e-6)
    with pytest.raises(ValueError, match="one logit per cut"):
        nll_logistic_hazard(logits, torch.tensor([3]), torch.tensor([1.0]))


def test_discretize_matches_pycox_label_transform():
    from pycox.preprocessing.label_transforms import LabTransDiscreteTime

    rng = np.random.default_rng(9)
    time = np.round(rng.exponential(5.0, 300), 1)  # rounded: some times fall on cuts
    event = rng.random(300) < 0.7
    cuts = np.linspace(0.0, 12.0, 9)
    expected_index, expected_event = LabTransDiscreteTime(cuts).transform(time, event.astype("float32"))
    index, ours_event = discretize_survival(torch.from_numpy(time), torch.from_numpy(event), torch.from_numpy(cuts))
    assert (time > 12).any() and np.isin(time, cuts).any()
    np.testing.assert_array_equal(index.numpy(), expected_index)
    np.testing.assert_array_equal(ours_event.numpy(), expected_event)


def test_discretize_rejects_bad_cuts():
    with pytest.raises(ValueError, match="strictly increasing"):
        discretize_survival(torch.tensor([1.0]), torch.tensor([1]), torch.tensor([0.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match="before the first cut"):
        discretize_survival(torch.tensor([0.5]), torch.tensor([0]), torch.tensor([1.0, 2.0]))


def test_logistic_hazard_survival_matches_pycox_prediction():
    from pycox.models import LogisticHazard

    g = _gen(10)
    logits = torch.randn(20, 6, generator=g) * 3
    net = nn.Linear(6, 6, bias=False)
    with torch.no_grad():
        net.weight.copy_(torch.eye(6))
    expected = LogisticHazard(net).predict_surv(logits, numpy=False)  # pycox adds 1e-7 inside the log
    assert torch.allclose(logistic_hazard_survival(logits), expected, atol=1e-5)
    constant = torch.full((1, 4), math.log(0.25 / 0.75))  # hazard 0.25 in every interval
    assert torch.allclose(logistic_hazard_survival(constant), 0.75 ** torch.arange(1, 5.0)[None, :])


def test_logistic_hazard_head_trains():
    torch.manual_seed(0)
    g = _gen(11)
    x = torch.randn(300, 3, generator=g)
    rate = torch.exp(x[:, 0])
    time = -torch.log(torch.rand(300, generator=g)) / rate
    index, event = discretize_survival(time, torch.ones(300), torch.linspace(0, 2, 6))
    head = LogisticHazardHead(3, 6, hidden_layers=[8])
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-2)
    first = nll_logistic_hazard(head(x), index, event).item()
    for _ in range(150):
        optimizer.zero_grad()
        loss = nll_logistic_hazard(head(x), index, event)
        loss.backward()
        optimizer.step()
    assert loss.item() < first - 0.3
    surv = logistic_hazard_survival(head(x)).detach()
    assert surv[x[:, 0] > 1, 2].mean() < surv[x[:, 0] < -1, 2].mean()  # higher rate, lower survival


# --- CLIP ---------------------------------------------------------------------------------------

def test_clip_loss_is_log_n_for_random_embeddings():
    g = _gen(12)
    n = 64
    values = [clip_loss(torch.randn(n, 512, generator=g), torch.randn(n, 512, generator=g), 1.0).item()
              for _ in range(5)]
    assert np.mean(values) == pytest.approx(math.log(n), abs=0.02)


def test_clip_loss_small_for_aligned_separated_pairs():
    e = torch.eye(8)
    assert clip_loss(e, 2 * e, 100.0).item() < 1e-6
    assert clip_loss(e, e.roll(1, dims=0), 100.0).item() > 50  # every pair mismatched


def test_clip_loss_by_hand_3x3():
    u = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    v = torch.tensor([[0.8, 0.6], [0.0, 1.0], [0.28, 0.96]])
    s = 2.5
    logits = s * u @ v.T
    labels = torch.arange(3)
    expected = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    assert clip_loss(u, v, s).item() == pytest.approx(expected.item(), rel=1e-6)
    # the same number from the definition, with math only
    z = [[s * float(u[i] @ v[j]) for j in range(3)] for i in range(3)]
    rows = sum(math.log(sum(math.exp(x) for x in z[i])) - z[i][i] for i in range(3)) / 3
    cols = sum(math.log(sum(math.exp(z[i][j]) for i in range(3))) - z[j][j] for j in range(3)) / 3
    assert clip_loss(u, v, s).item() == pytest.approx((rows + cols) / 2, rel=1e-6)
    assert abs(rows - cols) > 0.01  # the case tells the two directions apart


def test_clip_temperature_starts_at_clip_value_and_is_clamped():
    loss = ClipLoss()
    assert loss.logit_scale.item() == pytest.approx(1 / 0.07, rel=1e-6)
    with torch.no_grad():
        loss.log_logit_scale.fill_(10.0)
    assert loss.logit_scale.item() == 100.0


def test_pretrain_contrastive_aligns_pairs():
    torch.manual_seed(0)
    a, b = _two_views(512, seed=13)
    image_encoder = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    text_encoder = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    loss = ClipLoss()
    batches = [(a[i:i + 64], b[i:i + 64]) for i in range(0, 512, 64)]
    history = pretrain_contrastive(image_encoder, text_encoder, batches, loss=loss, epochs=30, lr=1e-2)
    assert history[-1] < history[0] - 0.5
    assert loss.log_logit_scale.item() != pytest.approx(math.log(1 / 0.07))  # the temperature is learned
    test_a, test_b = _two_views(64, seed=14)
    with torch.no_grad():
        sim = F.normalize(image_encoder(test_a), dim=1) @ F.normalize(text_encoder(test_b), dim=1).T
    assert (sim.argmax(dim=1) == torch.arange(64)).float().mean() > 0.12  # chance: 1/64; here 0.25


# --- the blocks together: a MultiSurv of three modalities, some missing -------------------------

def test_multisurv_assembled_from_the_blocks_trains_with_missing_modalities():
    torch.manual_seed(0)
    g = _gen(15)
    n, k = 600, 3
    inputs = [torch.randn(n, 4, generator=g) for _ in range(k)]
    risk = sum(x[:, 0] for x in inputs)  # each modality carries one part
    time = -torch.log(torch.rand(n, generator=g)) / (0.5 * torch.exp(risk))
    cuts = torch.quantile(time, torch.linspace(0, 0.9, 8))
    cuts[0] = 0.0
    index, event = discretize_survival(time, torch.ones(n), cuts)
    present = torch.rand(n, k, generator=g) > 0.3
    encoders = nn.ModuleList(nn.Sequential(nn.Linear(4, 8), nn.Tanh()) for _ in range(k))
    fusion = create_modality_fusion("attention", 8)
    head = LogisticHazardHead(8, len(cuts), hidden_layers=[8])
    parameters = [*encoders.parameters(), *fusion.parameters(), *head.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=1e-2)

    def logits():
        return head(fusion([encoder(x) for encoder, x in zip(encoders, inputs)], present))

    first = nll_logistic_hazard(logits(), index, event).item()
    for _ in range(200):
        optimizer.zero_grad()
        loss = nll_logistic_hazard(logits(), index, event)
        loss.backward()
        optimizer.step()
    assert loss.item() < first - 0.3
    with torch.no_grad():
        survival = logistic_hazard_survival(logits())[:, 4]
    seen_risk = sum(x[:, 0] * present[:, m] for m, x in enumerate(inputs))  # what the model can see
    assert np.corrcoef(survival.numpy(), seen_risk.numpy())[0, 1] < -0.6
