"""Models whose memory is known, and a corpus to measure it on, for the memory tests.

`CopyModel` is hand-built: at every position it gives a fixed logit to each name whose
" name " pattern lies in the last `memory` characters, and nothing else. So it recalls a
referent exactly when the distance is at most `memory`, and with memory 0 it is a model whose
recurrence is cut. Its logits are a smooth function of the one-hot input, so connectivity (the
generic autograd version) applies to it too. `letter_blind_gru` is a real GRU trained with
every letter read as the same one: connectivity everywhere, and no memory of which name it
saw. The corpus has one pair per observation at a known distance, cut exactly where the
dataset build cuts it.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from rnnmem.data import dataset, probe
from rnnmem.data.dataset import CHARS, Split
from rnnmem.models.language_model import build_model
from rnnmem.models.objective import masked_loss

# 64 names of five letters, four to each first letter, so that at k = 1 a pair has
# alternatives that agree with the typed letter; many names, so that no one name's quirks in a
# fixed model weigh much in an average over pairs.
NAMES = tuple(
    a + b
    for a in "bel cor dan fin gar hal jor kal lor mar nor per ros sel tor wen".split()
    for b in ("ia", "en", "ic", "on")
)
FILLER = "qx"  # letters no name uses, so filler never looks like a name
LENGTH = 200
OBSERVATIONS = 240


def many_names(count: int) -> tuple[str, ...]:
    """`count` names of five letters (a multiple of four), four to each three-letter start, for
    tests whose interval must be tight: a fixed model's quirks for each name average out only
    over many names (about 1,000 for a half-width of 0.03 on an AUC)."""
    starts = (a + b + c for a in "bcdfghjklmnprstvwz" for b in "aeiou" for c in "bdglmnrst")
    chosen = list(itertools.islice(starts, count // 4))
    return tuple(start + end for start in chosen for end in ("ia", "en", "ic", "on"))


def filler(n: int, rng: np.random.Generator) -> str:
    """Exactly n characters of filler words (n = 0 or n >= 2), most words five letters long."""
    out = ""
    while n:
        size = n if n <= 7 else 6
        out += " " + "".join(rng.choice(list(FILLER), size=size - 1))
        n -= size
    return out


def recall_corpus(
    seed: int = 0, observations: int = OBSERVATIONS, names: tuple[str, ...] = NAMES
) -> tuple[str, pd.DataFrame]:
    """Observations of exactly LENGTH characters, each with "said N ... said N" at a random
    distance in 13..177 and a last "said M" of another name of `names`: the two first
    mentions are placebos."""
    rng = np.random.default_rng(seed)
    text, rows = "", []
    for index in range(observations):
        name, other = (str(n) for n in rng.choice(names, size=2, replace=False))
        mention, last = " said " + name, " said " + other
        before = after = gap = 1
        while 1 in (before, after, gap):  # a lone space is no word
            distance = int(rng.integers(13, 178))
            gap = distance - len(mention)
            room = LENGTH - len(last) - 2 * len(mention) - gap
            before = int(rng.integers(0, room + 1))
            after = room - before
        start = len(text) + before + len(" said ")
        piece = filler(before, rng) + mention + filler(gap, rng) + mention + filler(after, rng)
        text += piece + last
        rows.append((index, probe.PLACEBO, -1, start, "", name))
        rows.append((index, probe.RECALL, start, start + distance, name, name))
        rows.append((index, probe.PLACEBO, -1, len(text) - len(other), "", other))
    assert len(text) == observations * LENGTH
    deps = pd.DataFrame(rows, columns=list(probe.DEPENDENCY_COLUMNS))
    return text, deps


def built_split(text: str, directory: Path, name: str = "test") -> tuple[Split, list[str]]:
    """The recall corpus as the dataset build makes it (80 % test), every word in its
    vocabulary, and its word list."""
    built = dataset.build(
        text.encode("ascii"),
        vocab_size=len(set(text.split())),
        max_length=LENGTH,
        valid_fraction=0.1,
        test_fraction=0.8,
        seed=0,
    )
    dataset.write(built, directory)
    return dataset.load_split(directory, name), dataset.load_vocab(directory).words


class CopyModel(nn.Module):
    """Recalls every name seen in the last `memory` characters (see the module docstring)."""

    def __init__(self, words: list[str], memory: int, strength: float = 12.0) -> None:
        super().__init__()
        self.memory = memory
        self.embedding = nn.Embedding(len(CHARS), len(CHARS))
        nn.init.eye_(self.embedding.weight)
        patterns = [" " + name + " " for name in NAMES]
        kernels = torch.zeros(len(NAMES), len(CHARS), max(map(len, patterns)))
        for n, pattern in enumerate(patterns):
            for j, char in enumerate(pattern):
                kernels[n, CHARS.index(char), j] = 1
        self.register_buffer("kernels", kernels)
        self.register_buffer("sizes", torch.tensor([float(len(p)) for p in patterns]))
        self.dense = nn.Linear(len(NAMES), len(words))  # reads out each name's presence
        nn.init.zeros_(self.dense.bias)
        readout = torch.zeros(len(words), len(NAMES))
        readout[[words.index(name) for name in NAMES], range(len(NAMES))] = strength
        self.dense.weight.data.copy_(readout)

    def hidden_states(self, embedded: torch.Tensor) -> torch.Tensor:
        """[B, T, names]: how many times each name lies in reach."""
        steps = embedded.shape[1]
        x = F.pad(embedded.transpose(1, 2), (0, self.kernels.shape[-1] - 1))
        # 1 where the pattern matches, exactly 0 two letters off; smooth at a match
        match = F.relu(torch.exp(4.0 * (F.conv1d(x, self.kernels) - self.sizes[:, None])) - 0.01)
        t = torch.arange(steps, device=embedded.device)[:, None]
        s = torch.arange(steps, device=embedded.device)[None, :]
        ended = s[None] + self.sizes[:, None, None] - 1 < t[None]  # the trailing space is past
        near = t - (s + 1) <= self.memory  # the name's first letter is in reach
        reach = (ended & near[None]).to(embedded.dtype)  # [N, t, s]
        return torch.einsum("bns,nts->btn", match, reach)

    def forward_embedded(self, embedded: torch.Tensor) -> torch.Tensor:
        return self.dense(self.hidden_states(embedded))

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        return self.forward_embedded(self.embedding(source))


class ResetEvery(nn.Module):
    """A real GRU language model whose state is reset every `every` characters."""

    def __init__(self, inner: nn.Module, every: int) -> None:
        super().__init__()
        self.inner, self.every = inner, every
        self.embedding, self.dense = inner.embedding, inner.dense

    def hidden_states(self, embedded: torch.Tensor) -> torch.Tensor:
        blocks = embedded.split(self.every, dim=1)
        return torch.cat([self.inner.hidden_states(b) for b in blocks], dim=1)

    def forward_embedded(self, embedded: torch.Tensor) -> torch.Tensor:
        return self.dense(self.hidden_states(embedded))

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        return self.forward_embedded(self.embedding(source))


def letter_blind_gru(train: Split, words: int, steps: int = 200, seed: int = 0) -> nn.Module:
    """A 1-layer, 16-unit GRU trained with Adam for `steps` batches of 32 observations of
    `train`, its 26 letters sharing one embedding throughout: it learns where words begin and
    end, the cue, and how often each name follows it, but cannot tell one name from another of
    the same length. So it has connectivity everywhere and no memory of which name it saw."""
    torch.manual_seed(seed)
    model = build_model("gru", len(CHARS), words, 16, 1, None, "chrono")
    letters = model.embedding.weight[2:]
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    rng = np.random.default_rng(seed)
    source, target = torch.as_tensor(train.source), torch.as_tensor(train.target)
    for step in range(steps + 1):
        with torch.no_grad():
            letters.copy_(letters.mean(0).expand_as(letters))
        if step == steps:
            break
        rows = torch.as_tensor(rng.integers(len(train), size=32))
        loss = masked_loss(model(source[rows]), target[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()
