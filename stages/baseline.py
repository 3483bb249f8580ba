"""Stage `baseline`: prefix accuracy of dictionary completion (no context) on the test split."""

from rnnmem.dataset import letters_typed, load_split, load_vocab
from rnnmem.metrics import dictionary_completion, prefix_accuracy
from rnnmem.stage import run_stage, write_text

DATA = "data/autocomplete"


def main() -> None:
    test = load_split(DATA, "test")
    words = load_vocab(DATA).words
    k = letters_typed(test.source).reshape(-1)
    target = test.target.reshape(-1)
    guesses = dictionary_completion(words, target, k)
    table = prefix_accuracy(k, target, guesses)
    write_text("reports/prefix/dictionary.csv", table.to_csv(index=False, float_format="%.6f"))


if __name__ == "__main__":
    run_stage(main)
