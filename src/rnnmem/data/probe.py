"""The embedded probe corpus: English-like text with a controlled recall task planted in it.

Connectivity shows where a model looks, but on text8 nobody knows where it *should* look. This
generator writes text8-format text whose long-range links are known and learnable:

- the text is cut into observations exactly as the dataset build cuts it at the default
  `dataset.max_length` (greedy whole words, `OBSERVATION_CHARS` characters at most), and every
  planted pair lies inside one observation;
- each observation holds one *mention pair* per name class: a cue word and a name ("said
  alric", "near ashford", "aboard veloria"), and later the same cue and the same name again.
  The second name (the *referent*) can only be known from the first (the *antecedent*): names
  are drawn uniformly from lists of 80, independently of everything else;
- the first mention has the same shape but no antecedent: it is the *placebo*, the negative
  control that says how well a model names a cued word without memory;
- the planned distance between the two names is uniform over `DISTANCES` characters;
- with chance `P_LONE` a class gets one mention only, planned where its referent would have
  been: a *lone* placebo. First mentions sit early in an observation and referents late, and
  position alone moves accuracy, so a fair control needs placebos where the referents are.

`build_long` writes the long-range test set with the same words, names and cues: observations
of about a thousand characters, far longer than any a model was trained on, with distances
log-uniform up to nearly the whole observation, and a share of short pairs planted early and
late (past where training observations end), so that being far from the start of the
observation is told apart from being far from the antecedent.

The filler between them comes from sentence templates (subject verb object, prepositional
phrases, spelled-out years, "a" versus "an") with Zipf-like word choice, a topic per
observation for its content words, and a tail of rare invented words beyond a 1024-word
vocabulary. The cue words never occur in the filler.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

OBSERVATION_CHARS = 200  # the default dataset.max_length: the cut the generator plans for
DISTANCES = (10, 190)  # planned antecedent-referent distance in characters, uniform
NEAR = (10, 30)  # the long-range probe's short distances, planted late in the observation
LONG_BUCKETS = 8  # log-spaced distance buckets of the long-range probe
P_TOPICAL = 0.5  # chance a filler sentence uses the observation's topic words
P_ADJECTIVE = 0.3  # chance a noun phrase has an adjective
P_RARE = 0.12  # chance a general noun is replaced by a rare word
P_LONE = 0.25  # chance a name class is mentioned once, where a referent would be
ZIPF_EXPONENT = 1.0  # within general word lists
TOPIC_EXPONENT = 0.7  # within topic lists: flatter, so every topic word recurs often


@dataclass(frozen=True)
class Topic:
    """A subject a document can be about: its name word and the content words it brings."""

    name: str
    nouns: tuple[str, ...]
    verbs: tuple[str, ...]
    adjectives: tuple[str, ...]

    @property
    def words(self) -> frozenset[str]:
        """The topic-specific content words (the name word excluded)."""
        return frozenset(self.nouns + self.verbs + self.adjectives)


def _topic(name: str, nouns: str, verbs: str, adjectives: str) -> Topic:
    return Topic(name, tuple(nouns.split()), tuple(verbs.split()), tuple(adjectives.split()))


TOPICS: tuple[Topic, ...] = (
    _topic(
        "music",
        "song melody rhythm piano violin orchestra composer chord concert harmony opera symphony"
        " guitar drum singer choir tempo album lyric ballad sonata flute trumpet cello hymn",
        "composed sang recorded performed tuned conducted rehearsed improvised",
        "musical melodic rhythmic acoustic choral lyrical orchestral tuneful",
    ),
    _topic(
        "sport",
        "match team player goal ball coach league stadium season tournament referee striker"
        " trophy captain race athlete medal pitch champion racket sprint wrestler bat net fan",
        "scored defeated trained kicked won tackled raced qualified",
        "athletic competitive unbeaten sporting defensive offensive agile olympic",
    ),
    _topic(
        "chemistry",
        "acid molecule atom element compound reaction solution crystal salt metal gas carbon"
        " oxygen hydrogen sulfur catalyst electron bond ion flask laboratory sample powder"
        " vapor mixture",
        "dissolved heated distilled oxidized synthesized isolated crystallized neutralized",
        "chemical acidic organic toxic volatile soluble metallic inert",
    ),
    _topic(
        "astronomy",
        "star planet telescope comet galaxy orbit moon sun eclipse asteroid nebula observatory"
        " meteor constellation sky horizon satellite universe cosmos lens crater equinox quasar"
        " pulsar astronomer",
        "observed orbited discovered charted eclipsed rotated photographed catalogued",
        "celestial lunar solar stellar cosmic planetary galactic orbital",
    ),
    _topic(
        "cooking",
        "bread soup kitchen recipe oven flour butter sugar cheese sauce meat onion garlic pepper"
        " spoon knife pan dish cake rice egg chef spice dough pastry",
        "baked boiled roasted fried stirred seasoned chopped tasted",
        "delicious savory sweet spicy crisp tender bitter creamy",
    ),
    _topic(
        "farming",
        "farm meadow crop wheat barn cattle harvest soil plough tractor sheep orchard seed grain"
        " barley pasture farmer goat hay fence irrigation cow pig vineyard granary",
        "planted harvested ploughed grazed sowed irrigated fertilized herded",
        "rural fertile agricultural pastoral arable muddy barren rustic",
    ),
    _topic(
        "sailing",
        "ship boat sail harbor sailor anchor mast deck voyage wind wave island coast port crew"
        " skipper hull rope compass tide storm fleet keel rudder lighthouse",
        "sailed anchored steered navigated docked drifted capsized moored",
        "nautical coastal maritime windy stormy seaworthy naval tidal",
    ),
    _topic(
        "medicine",
        "patient doctor hospital disease fever surgeon nurse wound vaccine infection symptom"
        " clinic pill heart blood virus therapy diagnosis bandage pulse illness drug injury cure"
        " remedy",
        "treated diagnosed healed vaccinated operated prescribed cured infected",
        "medical clinical surgical chronic fatal sterile contagious healthy",
    ),
    _topic(
        "law",
        "court judge lawyer trial verdict jury crime statute contract witness prison defendant"
        " sentence appeal evidence justice attorney lawsuit police constitution ruling clause"
        " penalty prosecutor testimony",
        "sued convicted acquitted testified ruled appealed sentenced prosecuted",
        "legal criminal judicial guilty innocent lawful constitutional civil",
    ),
    _topic(
        "painting",
        "canvas brush portrait landscape color paint gallery fresco easel sketch palette pigment"
        " painter mural frame oil ink watercolor studio exhibition masterpiece shade stroke"
        " artist varnish",
        "painted sketched exhibited framed restored shaded drew blended",
        "colorful vivid abstract artistic pale bright impressionist decorative",
    ),
)

# Shared vocabulary, most frequent first (Zipf weights follow this order).
GENERAL_NOUNS = tuple(
    "time year city world work part group system area way number history state school life"
    " family house century name country form period book member place war government water"
    " land end case order day result idea friend student teacher village river road church"
    " king society company story letter report record problem question change interest power"
    " model office journal library museum university town region project word age subject"
    " example tradition style course".split()
)
GENERAL_PLURALS = tuple(  # groups of people, so "the first scholars to write about" reads well
    "people students members friends families writers children workers visitors scholars"
    " critics historians neighbors travelers teachers readers".split()
)
GENERAL_VERBS = tuple(
    "made found became took gave showed wrote began used called built started described"
    " received published joined left moved opened helped produced changed kept brought held"
    " followed studied taught visited explained believed argued noted named lost reached"
    " introduced improved supported carried created developed led met".split()
)
GENERAL_ADJECTIVES = tuple(
    "new great large small early old young important famous local public common long short"
    " modern major simple complex popular strong private ancient careful rich poor quiet"
    " certain national original whole".split()
)
ADVERBS = tuple(
    "also later often still soon then never again quickly slowly widely finally rarely"
    " usually always".split()
)
PREPOSITIONS = tuple("in of with for on from at by after across without about".split())
DETERMINERS = (("the", 0.62), ("a", 0.22), ("this", 0.06), ("its", 0.05), ("every", 0.05))
DIGITS = tuple("zero one two three four five six seven eight nine".split())
COUNTS = tuple("two three four five six seven eight nine ten eleven twelve".split())
CENTURIES = (("one", "eight"), ("one", "nine"), ("one", "nine"), ("two", "zero"))

# Names are composed from syllables: 80 per class, so a cued name is a 1-in-80 guess without
# memory, and each class has its own cue word, so a model knows which earlier name to copy.
PERSONS = tuple(
    a + b
    for a, b in itertools.product(
        "al bel cor dan el fin gar hal is jor kal lor mar nor os per ros sel tor val".split(),
        "a en ia ric".split(),
    )
)
PLACES = tuple(
    root + end
    for root, end in itertools.product(
        "ash brook clay dun elm fair glen high iron kings lang marsh north oak red stone thorn"
        " west wolf york".split(),
        "ford ton bury wick".split(),
    )
)
SHIPS = tuple(
    a + b
    for a, b in itertools.product(
        "ve ar cas dor es fal gal hel in lun mir nav or pal qu sol tar ul vir zan".split(),
        "loria mira thea dane".split(),
    )
)
NAME_CLASSES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("said", PERSONS),
    ("near", PLACES),
    ("aboard", SHIPS),
)
# Rare invented terms: the long tail beyond a 1024-word vocabulary.
RARE_WORDS = tuple(
    a + b + c
    for a, b, c in itertools.product(
        "qua zel vim tro pex gul dra mip fos lun suv kre".split(),
        "ra lo ti ne mu sa vo ke".split(),
        "dix thum polt vank gry sem quist lorn brat fesk zid mox".split(),
    )
)

# Filler sentence templates: {slot}s are filled, other tokens are literal words. Slots starting
# with t take topic words in a topical sentence and general words otherwise.
BODY_TEMPLATES = (
    "{tnp} {tv} {tnp} {tpp}",
    "{np} {gv} {tnp}",
    "the {ta} {tn} was {ga}",
    "many {gns} {gv} that {tnp} was {ta}",
    "in {year} {tnp} {tv} {tnp}",
    "{adv} {tnp} {tv} {tnp} and {tnp}",
    "{tnp} {gv} {np} {pp}",
    "it was {ga} that {tnp} {tv} {np}",
    "{gns} {adv} {gv} {tnp} {tpp}",
    "{tnp} of {tnp} {gv} {np}",
    "{np} {gv} {np} {pp}",
    "during {np} {tnp} {tv} {tnp}",
    "{tnp} was {ga} and {ta}",
    "some {gns} {gv} {tnp} but others {gv} {tnp}",
    "{np} is {ga} because {tnp} {tv} {tnp}",
    "there were {num} {gns} {pp}",
)

DEPENDENCY_COLUMNS = (
    "document",
    "kind",
    "antecedent_offset",
    "referent_offset",
    "antecedent_word",
    "referent_word",
)
RECALL = "recall"  # kind of a planted pair
PLACEBO = "placebo"  # kind of a placebo position: antecedent_offset is -1, antecedent_word ""


class _Words:
    """Draws from a word list with Zipf-like weights: the i-th word weighs 1 / (i + 1) ** s."""

    def __init__(self, words: Sequence[str], exponent: float) -> None:
        self.words = tuple(words)
        weights = 1.0 / np.arange(1, len(words) + 1) ** exponent
        self.cumulative = list(np.cumsum(weights / weights.sum()))

    def pick(self, u: float) -> str:
        return self.words[min(bisect.bisect(self.cumulative, u), len(self.words) - 1)]


_BODY = tuple(tuple(t.split()) for t in BODY_TEMPLATES)
_GENERAL = {
    "n": _Words(GENERAL_NOUNS, ZIPF_EXPONENT),
    "v": _Words(GENERAL_VERBS, ZIPF_EXPONENT),
    "a": _Words(GENERAL_ADJECTIVES, ZIPF_EXPONENT),
}
_TOPICAL = [
    {
        "n": _Words(t.nouns, TOPIC_EXPONENT),
        "v": _Words(t.verbs, TOPIC_EXPONENT),
        "a": _Words(t.adjectives, TOPIC_EXPONENT),
    }
    for t in TOPICS
]
_PLURALS = _Words(GENERAL_PLURALS, ZIPF_EXPONENT)
_ADVERBS = _Words(ADVERBS, ZIPF_EXPONENT)
_PREPOSITIONS = _Words(PREPOSITIONS, ZIPF_EXPONENT)
_RARE = _Words(RARE_WORDS, ZIPF_EXPONENT)
_DET_WORDS = tuple(d for d, _ in DETERMINERS)
_DET_CUMULATIVE = list(np.cumsum([p for _, p in DETERMINERS]))


@dataclass(frozen=True)
class Layout:
    """Where the writer plants its pairs. The default is the training corpus's; the long-range
    probe draws distances log-uniform and plants `near_share` of its pairs at a distance in
    `NEAR`, half of them wholly before `late_from` characters into the observation and half
    wholly past it.
    """

    length: int = OBSERVATION_CHARS
    distances: tuple[int, int] = DISTANCES
    log_spaced: bool = False
    near_share: float = 0.0
    late_from: int = 0


@dataclass
class _Mention:
    """A planned cue-and-name mention: where it should start in its observation."""

    planned: int  # characters after the observation's start
    cue: str
    name: str
    first: bool  # the placebo (first) mention, or the referent (second)

    @property
    def size(self) -> int:
        return len(self.cue) + len(self.name) + 2  # two words, each with its leading space


class _Writer:
    """Writes observations word by word, cutting them as the dataset build will."""

    BUFFER = 1 << 16

    def __init__(self, seed: int, layout: Layout = Layout()) -> None:
        self.layout = layout
        self.rng = np.random.default_rng(seed)
        self.uniforms: list[float] = []
        self.words: list[str] = []
        self.pos = 0  # length of the text so far (" " + " ".join(words))
        self.start = 0  # where the current observation starts (its first leading space)
        self.filler: list[str] = []  # the rest of the filler sentence being written
        self.topic = 0
        self.pairs: list[tuple] = []
        self.observations: list[tuple] = []

    def uniform(self) -> float:
        if not self.uniforms:
            self.uniforms = self.rng.random(self.BUFFER).tolist()
        return self.uniforms.pop()

    def choice(self, items: Sequence):
        return items[int(self.uniform() * len(items))]

    def room(self) -> int:
        return self.layout.length - (self.pos - self.start)

    def emit(self, word: str) -> int:
        offset = self.pos + 1
        self.words.append(word)
        self.pos = offset + len(word)
        return offset

    def distance(self, size: int) -> tuple[int, int, int]:
        """A planned distance, and the earliest and latest planned start of the first mention
        of a pair whose two mentions take `size` characters each."""
        layout = self.layout
        if not layout.log_spaced:
            low, high = layout.distances
            distance = low + int(self.uniform() * (high - low + 1))
            return distance, 0, max(0, layout.length - size - distance)
        near = self.uniform() < layout.near_share
        late = near and self.uniform() < 0.5
        low, high = NEAR if near else layout.distances
        distance = round(low * (high / low) ** self.uniform())
        latest = max(0, layout.length - size - distance)
        if not near:
            return distance, 0, latest
        if late:
            return distance, layout.late_from, max(layout.late_from, latest)
        return distance, 0, max(0, layout.late_from - 2 * size - distance)

    def plan(self) -> list[_Mention]:
        """Both mentions of every name class (or its lone mention), sorted by planned start."""
        mentions = []
        for cue, names in NAME_CLASSES:
            name = self.choice(names)
            size = len(cue) + len(name) + 2
            # the first name's offset is planned + len(cue) + 2, the second's the same + distance
            distance, earliest, latest = self.distance(size)
            planned = earliest + int(self.uniform() * (latest - earliest + 1))
            if self.uniform() < P_LONE:  # a placebo where the referent would have been
                mentions.append(_Mention(planned + distance, cue, name, True))
                continue
            mentions.append(_Mention(planned, cue, name, True))
            mentions.append(_Mention(planned + distance, cue, name, False))
        return sorted(mentions, key=lambda m: m.planned)

    def observation(self) -> None:
        """One observation: filler with the planned mentions, until the next word does not fit.

        A mention is written once its planned start is reached, or earlier when the next
        filler word would leave too little room for the mentions still to come; one that no
        longer fits is dropped (with its referent, if it was a first mention).
        """
        index, self.start = len(self.observations), self.pos
        self.topic = int(self.uniform() * len(TOPICS))
        if self.filler:  # the word that did not fit the previous observation opens this one
            self.emit(self.filler.pop())
        pending = self.plan()
        placebo: dict[str, int] = {}  # cue -> offset of its first name in this observation
        while True:
            word = self.filler_word()
            # A referent never follows its antecedent directly: the previous two words (an
            # n-gram's context) must not give it away.
            if pending and not (not pending[0].first and self.words[-1] == pending[0].name):
                mention = pending[0]
                due = mention.planned <= self.pos - self.start
                if due or self.room() - len(word) - 1 < sum(m.size for m in pending):
                    pending.pop(0)
                    if mention.size <= self.room():
                        self.mention(index, mention, placebo)
                    elif mention.first:
                        pending = [m for m in pending if m.cue != mention.cue]
                    continue
            if len(word) + 1 > self.room():
                break  # the next observation starts with this word
            self.emit(word)
            self.filler.pop()
        self.observations.append((index, TOPICS[self.topic].name, self.start, self.pos))

    def mention(self, index: int, mention: _Mention, placebo: dict[str, int]) -> None:
        self.emit(mention.cue)
        offset = self.emit(mention.name)
        if mention.first:
            placebo[mention.cue] = offset
            self.pairs.append((index, PLACEBO, -1, offset, "", mention.name))
        else:
            antecedent = placebo[mention.cue]
            self.pairs.append((index, RECALL, antecedent, offset, mention.name, mention.name))

    def filler_word(self) -> str:
        """The next filler word (not consumed until `filler.pop()`)."""
        if not self.filler:
            topical = self.uniform() < P_TOPICAL
            words: list[str] = []
            for token in self.choice(_BODY):
                words.extend(self.slot(token[1:-1], topical) if token[0] == "{" else [token])
            self.filler = words[::-1]
        return self.filler[-1]

    def slot(self, code: str, topical: bool) -> list[str]:
        if code in ("np", "tnp"):
            return self.noun_phrase(topical and code == "tnp")
        if code in ("pp", "tpp"):
            return [
                _PREPOSITIONS.pick(self.uniform()),
                *self.noun_phrase(code == "tpp" and topical),
            ]
        if code in ("tn", "tv", "ta", "gn", "gv", "ga"):
            return [self.content(code[1], topical and code[0] == "t")]
        if code == "gns":
            return [_PLURALS.pick(self.uniform())]
        if code == "adv":
            return [_ADVERBS.pick(self.uniform())]
        if code == "num":
            return [self.choice(COUNTS)]
        if code == "year":
            return [*self.choice(CENTURIES), self.choice(DIGITS), self.choice(DIGITS)]
        raise KeyError(f"unknown template slot {{{code}}}")

    def content(self, part: str, topical: bool) -> str:
        """A noun, verb or adjective: the observation's topic words in a topical sentence."""
        if topical:
            return _TOPICAL[self.topic][part].pick(self.uniform())
        if part == "n" and self.uniform() < P_RARE:
            return _RARE.pick(self.uniform())
        return _GENERAL[part].pick(self.uniform())

    def noun_phrase(self, topical: bool) -> list[str]:
        """Determiner, optional adjective, noun; "a" becomes "an" before a vowel."""
        det = _DET_WORDS[bisect.bisect(_DET_CUMULATIVE, self.uniform() * _DET_CUMULATIVE[-1])]
        words = []
        if self.uniform() < P_ADJECTIVE:
            words.append(self.content("a", topical and self.uniform() < 0.5))
        words.append(self.content("n", topical))
        return ["an" if det == "a" and words[0][0] in "aeiou" else det, *words]


@dataclass(frozen=True)
class ProbeCorpus:
    """The generated text, its planted pairs and placebos, and one row per observation.

    `documents` columns: document (the observation's number), topic (its topic word), start
    (offset of its leading space), end (exclusive; the next observation's start).
    """

    text: str
    dependencies: pd.DataFrame
    documents: pd.DataFrame


def build(n_chars: int, seed: int) -> ProbeCorpus:
    """Generate whole observations until the text reaches `n_chars` characters.

    Word offsets point at a word's first letter; its leading space is the character before.
    """
    if n_chars < 1:
        raise ValueError(f"n_chars must be positive, got {n_chars}")
    writer = _Writer(seed)
    while writer.pos < n_chars:
        writer.observation()
    return _corpus(writer)


def long_edges(length: int) -> tuple[int, ...]:
    """Distance bucket edges of the long-range probe: `LONG_BUCKETS` log-spaced buckets from
    10 characters to 95 % of the observation length."""
    low, high = DISTANCES[0], round(0.95 * length)
    return tuple(
        int(round(low * (high / low) ** (i / LONG_BUCKETS))) for i in range(LONG_BUCKETS + 1)
    )


def build_long(
    length: int, late_from: int, pairs: int, seed: int, most: int = 100_000
) -> ProbeCorpus:
    """The long-range probe: whole observations of at most `length` characters until every
    distance bucket of `long_edges(length)` holds `pairs` planted pairs, and so do the pairs at
    most `NEAR[1]` apart wholly before `late_from` characters into their observation and those
    wholly past it.

    A third of the pairs are planted at a distance in `NEAR`, half of them early and half
    late; the others at a distance log-uniform from 10 characters to 95 % of the observation.
    Gives up (ValueError) after `most` observations.
    """
    if not 0 < late_from < length - 2 * NEAR[1]:
        raise ValueError(f"late_from must lie in (0, {length - 2 * NEAR[1]}), got {late_from}")
    edges = long_edges(length)
    layout = Layout(length, (edges[0], edges[-1]), True, 1 / 3, late_from)
    writer = _Writer(seed, layout)
    counts = np.zeros(LONG_BUCKETS + 2, dtype=np.int64)  # buckets, near early, near late
    while counts.min() < pairs:
        if len(writer.observations) >= most:
            raise ValueError(f"{most} observations hold fewer than {pairs} pairs per bucket")
        done = len(writer.pairs)
        writer.observation()
        start = writer.observations[-1][2]
        for _, kind, antecedent, referent, _, _ in writer.pairs[done:]:
            if kind != RECALL:
                continue
            distance = referent - antecedent
            bucket = bisect.bisect_left(edges, distance) - 1
            if 0 <= bucket < LONG_BUCKETS:
                counts[bucket] += 1
            if distance <= NEAR[1] and referent - 1 - start < late_from:
                counts[LONG_BUCKETS] += 1
            if distance <= NEAR[1] and antecedent - 1 - start >= late_from:
                counts[LONG_BUCKETS + 1] += 1
    return _corpus(writer)


def _corpus(writer: _Writer) -> ProbeCorpus:
    text = " " + " ".join(writer.words)
    deps = pd.DataFrame(writer.pairs, columns=list(DEPENDENCY_COLUMNS))
    deps = deps.astype(
        {
            "document": "int32",
            "kind": "str",
            "antecedent_offset": "int64",
            "referent_offset": "int64",
            "antecedent_word": "str",
            "referent_word": "str",
        }
    )
    documents = pd.DataFrame(writer.observations, columns=["document", "topic", "start", "end"])
    return ProbeCorpus(text, deps, documents)


def generate(n_chars: int, seed: int) -> tuple[str, pd.DataFrame]:
    """The probe corpus in text8 format and its planted-pair table (see `build`)."""
    corpus = build(n_chars, seed)
    return corpus.text, corpus.dependencies
