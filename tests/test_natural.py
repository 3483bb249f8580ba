"""Memory on words that repeat, proved on known answers: a copy model's reach, models that
remember nothing (untrained, state reset every five characters, trained blind to letters),
and agreement with the planted pairs where both apply."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from memory_models import (
    LENGTH,
    NAMES,
    CopyModel,
    ResetEvery,
    built_split,
    filler,
    letter_blind_gru,
    recall_corpus,
)

from rnnmem.analysis.memory import intervention, natural, planted, scoring, span, swaps
from rnnmem.analysis.prediction import predict
from rnnmem.analysis.stats import Resampling
from rnnmem.data import dataset, probe
from rnnmem.data.dataset import CHARS
from rnnmem.models.language_model import build_model

TIGHT_NATS = 0.02  # the half-width a neutral model's swap effect must keep on the default test set


def _predictions(model: torch.nn.Module, split: dataset.Split) -> pd.DataFrame:
    """The evaluate stage's predictions table of `model` on `split`."""
    seen = predict(model, split, 64, torch.device("cpu"))
    return pd.DataFrame(
        {
            "observation": seen.observation,
            "position": seen.position,
            "target": seen.target,
            "top_words": list(seen.top_words),
            "target_log_prob": seen.target_log_prob.astype(np.float32),
        }
    )


def _measure(model, split, items, words, common, edges=(0, 20, 50, 100, 200), count=3):
    scores = natural.scores_from_predictions(items, _predictions(model, split))
    names = intervention.swap_words(split, items, words, common, count, seed=0)
    effects = intervention.swap_effects(model, split, items, scores, names, batch_size=64)
    resampling = Resampling.over(items["observation"].to_numpy(), 0)
    curve, summary = natural.natural_curve(items.join(scores), effects, resampling, 0, edges, 0.05)
    return curve, summary, effects


@pytest.fixture(scope="module")
def recall(tmp_path_factory):
    """The recall corpus (one planted name pair a row), every word but the names common: the
    repeats are then exactly the planted referents."""
    text, deps = recall_corpus()
    split, words = built_split(text, tmp_path_factory.mktemp("recall"))
    common = np.array([i for i, w in enumerate(words) if w not in NAMES and i > 1])
    items = natural.word_starts(split, words, common)
    return split, words, common, items, planted.planted_items(split, deps)


def test_word_starts_mark_repeats_their_distance_and_every_earlier_mention(tmp_path):
    text = " ".join(["the ship and the sea the ship near the ship"] * 30 + ["sea"] * 50)
    built = dataset.build(
        text.encode(), vocab_size=5, max_length=44, valid_fraction=0.2, test_fraction=0.2, seed=0
    )
    dataset.write(built, tmp_path)
    split, words = dataset.load_split(tmp_path, "test"), dataset.load_vocab(tmp_path).words
    common = np.array([words.index("the")])
    items = natural.word_starts(split, words, common)
    assert "the" not in set(items["word"])  # a common word is never an item
    assert (items["position"] > 0).all()  # the word opening an observation is not one either
    for row in items.itertuples():
        line = "".join(CHARS[c] for c in split.source[row.observation])
        assert line[row.position] == " " and line[row.position + 1 :].split()[0] == row.word
        mentions = [i for i in range(row.position) if line[i:].startswith(f" {row.word} ")]
        assert list(row.earlier) == mentions
        assert row.repeat == bool(mentions)
        assert row.distance == (row.position - mentions[-1] if mentions else 0)
    assert items["repeat"].any() and (~items["repeat"]).any()


def test_common_words_are_the_most_frequent_at_the_training_word_starts(tmp_path):
    text = " ".join(["alpha"] * 50 + ["beta"] * 30 + ["gamma"] * 10 + ["delta"] * 5)
    built = dataset.build(
        text.encode(), vocab_size=4, max_length=40, valid_fraction=0.1, test_fraction=0.1, seed=0
    )
    dataset.write(built, tmp_path)
    train, words = dataset.load_split(tmp_path, "train"), dataset.load_vocab(tmp_path).words
    assert {words[i] for i in natural.common_words(train, 2)} == {"alpha", "beta"}
    assert natural.common_words(train, 0).size == 0


def test_repeat_gain_compares_each_word_with_its_own_first_mentions():
    """A memoryless predictor that names frequent-looking words (type 0) always and others
    never: repeats are mostly type 0 and first mentions mostly type 1, so a raw difference
    credits it with memory; matched by type it gains nothing. A bonus on repeats shows."""
    rng = np.random.default_rng(0)
    n = 4000
    repeat = rng.random(n) < 0.5
    target = np.where(repeat, rng.random(n) < 0.8, rng.random(n) < 0.2).astype(np.int64)
    items = pd.DataFrame(
        {"observation": np.arange(n) // 4, "target": target, "repeat": repeat}
    ).assign(top1_k1=(target == 1).astype(float))
    resampling = Resampling.over(items["observation"].to_numpy(), 0)
    raw = items.loc[repeat, "top1_k1"].mean() - items.loc[~repeat, "top1_k1"].mean()
    assert raw > 0.5  # the confound type matching removes
    found = natural.repeat_gain(items, "top1_k1", resampling)
    assert found["gain"][0] == pytest.approx(0.0)
    low, high = np.nanpercentile(found["gain"][1], [2.5, 97.5])
    assert low <= 0 <= high
    bonus = items.assign(top1_k1=np.where(repeat, 1.0, items["top1_k1"]))
    assert natural.repeat_gain(bonus, "top1_k1", resampling)["gain"][0] == pytest.approx(
        0.2, abs=0.03
    )


@pytest.mark.parametrize("reach", [100, 190, 0])
def test_swap_effect_of_a_copy_model_is_its_reach(recall, reach):
    split, words, common, items, _ = recall
    curve, summary, effects = _measure(CopyModel(words, reach), split, items, words, common)
    distance = items.loc[effects["item"], "distance"].to_numpy()
    assert (effects.loc[distance <= reach, "effect_k1"] > 5).all()
    assert (effects.loc[distance > reach, "effect_k1"].abs() < 1e-4).all()
    assert bool(summary["natural_recalls_k1"]) == (reach > 0)
    if reach == 190:  # every repeat within reach: censored at the farthest repeat
        assert summary["natural_span_censored"]
        assert summary["natural_span_chars"] == items.loc[items["repeat"], "distance"].max()
    elif reach == 100:  # the buckets up to 100 recall, 100-200 does not
        assert summary["natural_span_chars"] == 100 and not summary["natural_span_censored"]
        assert curve["recalls"].tolist() == [True, True, True, False]
    else:
        assert summary["natural_span_chars"] == 0


def test_a_swap_replaces_every_earlier_mention(tmp_path):
    """A name said three times: its third mention has two earlier ones. A copy model finds
    the name in either, so only a swap of both takes it away (a swap of one would leave the
    model predicting the name, and read as no memory)."""
    rng = np.random.default_rng(1)
    text = ""
    for index in range(2 * len(NAMES)):  # every name, so that the copy model knows them all
        mention = " said " + NAMES[index % len(NAMES)]
        rest = LENGTH - 3 * len(mention) - 2 * 40
        text += mention + filler(40, rng) + mention + filler(40, rng) + mention + filler(rest, rng)
    split, words = built_split(text, tmp_path)
    common = np.array([i for i, w in enumerate(words) if w not in NAMES and i > 1])
    items = natural.word_starts(split, words, common)
    _, _, effects = _measure(CopyModel(words, 190), split, items, words, common)
    mentions = items.loc[effects["item"], "earlier"].map(len).to_numpy()
    assert (mentions == 2).sum() >= 20 and set(mentions) == {1, 2}
    assert (effects["effect_k1"] > 5).all()


def test_natural_and_planted_measures_agree_where_both_apply(recall):
    """On the recall corpus the repeats are the planted referents: for a model that remembers,
    the repeat gain equals the recall gap and the swap effect the intervention effect, within
    their intervals."""
    split, words, common, items, planted = recall
    model = CopyModel(words, 190)
    _, summary, _ = _measure(model, split, items, words, common)
    scores = scoring.referent_scores(model, split, planted)
    resampling = Resampling.over(planted["observation"].to_numpy(), 0)
    _, planted_summary = span.memory_curve(planted, scores, resampling)
    names = intervention.alternatives(split, planted, [NAMES], 3, seed=0)
    effects = intervention.intervention_effects(model, split, planted, names, batch_size=64)
    _, effect = swaps.effect_curve(planted, effects, resampling, seed=0)
    for natural_key, planted_key, found in (
        ("natural_repeat_gain_k1", "recall_gap_k1", planted_summary),
        ("natural_swap_effect_k1", "intervention_effect_k1", effect),
    ):
        low, high = summary[f"{natural_key}_interval"]
        other_low, other_high = found[f"{planted_key}_interval"]
        assert low <= found[planted_key] <= high or other_low <= summary[natural_key] <= other_high
    assert summary["natural_repeat_gain_k1"] == pytest.approx(1.0)


@pytest.fixture(scope="module")
def default_probe(tmp_path_factory):
    """The default run's probe corpus and dataset (params.yaml's sizes), built in a folder."""
    text, _ = probe.generate(3_000_000, seed=0)
    directory = tmp_path_factory.mktemp("probe")
    built = dataset.build(
        text.encode(), vocab_size=1024, max_length=200, valid_fraction=0.05, test_fraction=0.05,
        seed=0,
    )  # fmt: skip
    dataset.write(built, directory)
    test, train = dataset.load_split(directory, "test"), dataset.load_split(directory, "train")
    words = dataset.load_vocab(directory).words
    common = natural.common_words(train, 100)
    return test, train, words, common, natural.word_starts(test, words, common)


def _untrained() -> torch.nn.Module:
    torch.manual_seed(1)
    return build_model("gru", len(CHARS), 1026, 32, 1, None, "chrono").eval()


@pytest.mark.slow
@pytest.mark.parametrize("which", ["untrained", "reset every five", "letter-blind"])
def test_a_model_that_remembers_nothing_has_a_tight_zero_swap_effect(default_probe, which):
    """On the default test set (1,800 repeats, 3 swaps each), a model without memory of the
    earlier mention gives a swap effect whose interval covers 0 and is at most TIGHT_NATS
    wide each side: an untrained GRU (its state depends on everything, on no word in
    particular), the same GRU reset every five characters, and a GRU trained on the probe
    with every letter read as the same one."""
    test, train, words, common, items = default_probe
    assert len(words) == 1026 and items["repeat"].sum() > 1000
    model = {
        "untrained": _untrained,
        "reset every five": lambda: ResetEvery(_untrained(), every=5),
        "letter-blind": lambda: letter_blind_gru(train, len(words)),
    }[which]()
    _, summary, _ = _measure(model, test, items, words, common)
    for k in (0, 1):
        low, high = summary[f"natural_swap_effect_k{k}_interval"]
        assert low <= 0 <= high and (high - low) / 2 <= TIGHT_NATS, (which, k, low, high)
