"""The seed network's exact shapes, the embed model, saving and loading with weights_only=True."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lstm.checkpoint import load_model, save_model
from lstm.model_config import ModelConfig, model_config
from lstm.models import EmbedLSTM, NextToken, SeedLSTM, build_model
from lstm.seed import SEED

SEED_BASE = 5_388_544  # three LSTMs of 512 on a 1-float input, plus Linear 512 -> 256




def trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("vocab", [1447, 358, 2])
def test_seed_parameter_count(vocab):
    assert trainable(SeedLSTM(vocab)) == SEED_BASE + 257 * vocab


def test_seed_parameter_count_at_the_seed_vocabulary():
    assert trainable(SeedLSTM(1447)) == 5_760_423


def test_seed_shapes():
    m = SeedLSTM(1447)
    for lstm, (inp, hid) in zip([m.lstm1, m.lstm2, m.lstm3], [(1, 512), (512, 512), (512, 512)]):
        assert (lstm.input_size, lstm.hidden_size, lstm.num_layers) == (inp, hid, 1)
        assert lstm.weight_ih_l0.shape == (4 * hid, inp) and lstm.weight_hh_l0.shape == (4 * hid, hid)
        assert lstm.bias_ih_l0.shape == lstm.bias_hh_l0.shape == (4 * hid,)
    for norm in (m.norm1, m.norm2):
        assert isinstance(norm, nn.BatchNorm1d) and norm.num_features == 1 and not norm.affine
        assert list(norm.parameters()) == []
        assert norm.running_mean.shape == (1,)  # running statistics are buffers, not weights
    assert (m.dense.in_features, m.dense.out_features) == (512, 256)
    assert (m.out.in_features, m.out.out_features) == (256, 1447)
    shapes = {name: tuple(p.shape) for name, p in m.named_parameters()}
    assert shapes["dense.weight"] == (256, 512) and shapes["out.weight"] == (1447, 256)
    assert len(shapes) == 3 * 4 + 2 + 2


def test_seed_defaults_from_config():
    m = build_model({"model": "seed", "hidden_sizes": [512, 512, 512], "dropout": 0.3}, 1447)
    assert isinstance(m, SeedLSTM) and trainable(m) == 5_760_423 and m.drop.p == 0.3


def test_embed_shapes():
    fused = EmbedLSTM(100, [32, 32], embed_dim=16)
    assert len(fused.lstms) == 1 and fused.lstms[0].num_layers == 2
    stacked = EmbedLSTM(100, [48, 24], embed_dim=16)
    assert [(lstm.input_size, lstm.hidden_size) for lstm in stacked.lstms] == [(16, 48), (48, 24)]
    assert stacked.embed.weight.shape == (100, 16) and stacked.out.weight.shape == (100, 24)
    ids = torch.randint(0, 100, (3, 11))
    assert fused(ids).shape == (3, 11, 100) and stacked.next_logits(ids).shape == (3, 100)


def test_unknown_model_family():
    with pytest.raises(ValueError, match="unknown model"):
        build_model({"model": "transformer"}, 10)


@pytest.mark.parametrize("length", [7, 150])
def test_next_token_any_length(length):
    torch.manual_seed(0)
    for model in (SeedLSTM(50, hidden_size=16).eval(), EmbedLSTM(50, [16], embed_dim=8).eval()):
        ids = torch.randint(0, 50, (2, length))
        out = NextToken(model)(ids)
        assert out.shape == (2, 50) and torch.isfinite(out).all()


def test_embed_next_logits_is_the_last_position():
    torch.manual_seed(0)
    m = EmbedLSTM(30, [8], embed_dim=4).eval()
    ids = torch.randint(0, 30, (2, 9))
    with torch.no_grad():
        assert torch.allclose(m.next_logits(ids), m(ids)[:, -1])
        # causal: the prediction after position 5 does not see later tokens
        assert torch.allclose(m(ids)[:, 5], m(ids[:, :6])[:, -1], atol=1e-6)


def test_seed_model_saves_and_loads_with_weights_only(tmp_path):
    torch.manual_seed(0)
    vocab = ["<unk>"] + [f"T{i}" for i in range(199)]
    model = SeedLSTM(len(vocab))
    model.train()
    with torch.no_grad():  # non-trivial BatchNorm running statistics, as after training
        model(torch.randint(0, len(vocab), (16, 20)))
    config = {"model": "seed", "hidden_sizes": [512, 512, 512], "dropout": 0.3, "seq_len": 100}
    save_model(tmp_path / "model.pt", model, config, vocab, "abc")

    raw = torch.load(tmp_path / "model.pt", weights_only=True)
    assert raw["vocab"] == vocab and raw["config"] == config and raw["data_hash"] == "abc"
    loaded, saved = load_model(tmp_path)  # a run directory
    assert isinstance(loaded, SeedLSTM) and not loaded.training
    assert saved["config"]["seq_len"] == 100
    state = model.state_dict()
    assert loaded.state_dict().keys() == state.keys()
    for k, v in loaded.state_dict().items():
        assert torch.equal(v, state[k]), k

    model.eval()
    for length in (7, 150):  # trained for 100, predicts on any length
        ids = torch.randint(0, len(vocab), (3, length))
        with torch.inference_mode():
            logits = NextToken(loaded)(ids)
            assert logits.shape == (3, len(vocab))
            assert torch.equal(logits, model.next_logits(ids))


# --- one owner for the model's configuration --------------------------------------------------------------


def test_model_config_defaults_are_the_seed_recipe_and_the_embed_defaults():
    seed = model_config("seed")
    assert seed == ModelConfig("seed", [SEED.hidden_size] * SEED.num_layers, seed.embed_dim, SEED.dropout)
    assert trainable(build_model(seed, 1447)) == 5_760_423  # the seed's network at its vocabulary
    assert model_config("seed", hidden_size=64).hidden_sizes == [64, 64, 64]
    assert model_config("seed", hidden_sizes=[64]).hidden_sizes == [64, 64, 64]
    assert model_config("embed") == ModelConfig() == ModelConfig("embed", [256], 128, 0.2)
    assert model_config("embed", hidden_size=32, num_layers=2).hidden_sizes == [32, 32]
    assert model_config("embed", hidden_sizes="48,24").hidden_sizes == [48, 24]


@pytest.mark.parametrize("options, message", [
    ({"model": "seed", "hidden_sizes": [512, 256, 128]}, "the seed model has 3 LSTM layers of one size: give one "
                                                         "hidden size, not [512, 256, 128]"),
    ({"model": "seed", "hidden_sizes": [64, 64]}, "the seed model has 3 LSTM layers of one size"),
    ({"model": "seed", "num_layers": 2}, "the seed model has 3 LSTM layers, not 2"),
    ({"model": "embed", "hidden_sizes": [8, 16], "num_layers": 3}, "2 hidden sizes [8, 16] but 3 layers"),
    ({"model": "embed", "hidden_size": 8, "hidden_sizes": [8, 16]}, "not both"),
    ({"model": "embed", "num_layers": 0}, "hidden sizes must be positive"),
    ({"model": "embed", "hidden_size": 0}, "hidden sizes must be positive"),
    ({"model": "embed", "embed_dim": 0}, "embed_dim must be at least 1"),
    ({"model": "embed", "dropout": 1.0}, "dropout must be in [0, 1)"),
    ({"model": "gru"}, "unknown model 'gru': choose seed or embed"),
])
def test_a_model_that_cannot_be_built_is_one_line(options, message):
    with pytest.raises(ValueError) as exc:
        model_config(**options)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_the_seed_model_no_longer_drops_hidden_sizes():
    # it used to build three layers of the first size and ignore the others
    with pytest.raises(ValueError, match="the seed model has 3 LSTM layers of one size"):
        build_model({"model": "seed", "hidden_sizes": [512, 256, 256]}, 100)


def test_model_config_from_a_run_config():
    flat = {"model": "embed", "hidden_sizes": [48, 24], "embed_dim": 16, "dropout": 0.1, "batch_size": 8,
            "seq_len": 32}
    cfg = ModelConfig.from_dict(flat)
    assert cfg == ModelConfig("embed", [48, 24], 16, 0.1)
    assert cfg.to_dict() == {k: flat[k] for k in ("model", "hidden_sizes", "embed_dim", "dropout")}
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


def test_train_config_delegates_its_model_part():
    from lstm.train import TrainConfig

    cfg = TrainConfig(**model_config("seed", hidden_size=8).to_dict())
    assert cfg.model_config == model_config("seed", hidden_size=8) and cfg.hidden_sizes == [8, 8, 8]
    with pytest.raises(ValueError, match="the seed model has 3 LSTM layers of one size"):
        TrainConfig(model="seed", hidden_sizes=[8, 16, 8])
