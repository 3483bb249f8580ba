"""The memory measures: who remembers what, how far, and from when, measured against ground truth.

Two kinds of ground truth. On the probe corpus, planted pairs: a name, then the same name again
later in the observation (the referent), against placebos of the same shape with no earlier
mention. On any corpus, words that repeat. Definitions: docs/design.md, Memory against ground
truth. One folder a question:

- `rule`: the one rule for "recalls" (a bucket, a training step, a model);
- `planted`: the planted pairs and placebos of a split, and the distance buckets;
- `scoring`: the model's log-probability and top-1 at an item's k = 0 and k = 1 (torch);
- `matching`: placebos matched to referents on name and position, the recall gap;
- `span`: the memory span and the memory curve by distance;
- `half_life`: the long-range probe, the half-life and the position effect;
- `intervention`: swapping the earlier mention (planted antecedents, repeated words' earlier
  mentions) and the drop it causes (torch); `swaps`: its two-stage bootstrap;
- `attribution` (torch) and `auc`: connectivity against behaviour, the AUCs;
- `ablation`: context ablation, effective context (torch);
- `natural`: memory on words that repeat (repeat gain, swap effect, natural span);
- `recall`: recall over training, steps to recall;
- `comparison`: every pair of models on the same resampled observations.

Modules without torch (`rule`, `planted`, `matching`, `span`, `half_life`, `swaps`, `auc`,
`natural`, `comparison`) are what the summary stages read, so they start without it.
"""

from __future__ import annotations
