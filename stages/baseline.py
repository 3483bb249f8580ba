"""Stage `baseline`: prefix accuracy on the test split of dictionary completion (no context) and
of the n-gram-plus-prefix model (the previous two words, counted on the train split)."""

from rnnmem.dataset import letters_typed, load_split, load_vocab
from rnnmem.metrics import dictionary_completion, prefix_accuracy
from rnnmem.ngram import NGram, previous_words
from rnnmem.stage import run_stage, write_text

DATA = "data/autocomplete"


def main() -> None:
    test = load_split(DATA, "test")
    words = load_vocab(DATA).words
    k = letters_typed(test.source).reshape(-1)
    target = test.target.reshape(-1)
    second, first = (a.reshape(-1) for a in previous_words(test.source, test.target))
    baselines = {
        "dictionary": dictionary_completion(words, target, k),
        "ngram": NGram(words, load_split(DATA, "train")).guesses(second, first, target, k),
    }
    for name, guesses in baselines.items():
        table = prefix_accuracy(k, target, guesses)
        write_text(f"reports/prefix/{name}.csv", table.to_csv(index=False, float_format="%.6f"))


if __name__ == "__main__":
    run_stage(main)
