"""The embedded probe corpus: English-like documents with long-range dependencies we planted.

Connectivity (DESIGN section 6) shows where a model looks, but on text8 nobody knows where it
*should* look. This generator writes text8-format documents whose long-range links are known:

- every document opens with a sentence naming a person, a place and a topic;
- kind "name": later sentences mention the person ("... said alric") or the place ("... near
  ashford") again. Names are drawn uniformly from long lists independently of everything else,
  so the only clue to which name comes is the earlier mention. Each pair links a mention to the
  previous mention of the same name, at least `MIN_GAP` characters before it;
- kind "topic": the topic word ("chemistry") fixes the document's topic-specific words; the pair
  links it to the first topic-specific word, which comes at least `MIN_GAP` characters later
  with only general words, names and numbers between them.

Local structure comes from sentence templates (subject verb object, prepositional phrases,
spelled-out years, "a" versus "an"); word choice within each list follows Zipf-like weights, and
a tail of rare invented words gives the vocabulary cut-off real unknown words.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

MIN_GAP = 50  # characters between a planted antecedent and its referent, at least
DOCUMENT_WORDS = (110, 340)  # target range; closing sentences add at most a few dozen words
P_PERSON = 0.45  # chance a sentence mentions the person again, once MIN_GAP allows it
P_PLACE = 0.2  # same for the place
P_TOPICAL = 0.7  # chance a sentence uses topic words, once MIN_GAP after the topic word
P_ADJECTIVE = 0.3  # chance a noun phrase has an adjective
P_RARE = 0.12  # chance a general noun is replaced by a rare word
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
PREPOSITIONS = tuple("in of with for on from at by after near across without about".split())
DETERMINERS = (("the", 0.62), ("a", 0.22), ("this", 0.06), ("its", 0.05), ("every", 0.05))
DIGITS = tuple("zero one two three four five six seven eight nine".split())
COUNTS = tuple("two three four five six seven eight nine ten eleven twelve".split())
CENTURIES = (("one", "eight"), ("one", "nine"), ("one", "nine"), ("two", "zero"))

# Names are composed from syllables: many enough that frequency alone cannot tell which comes.
PERSONS = tuple(
    a + b
    for a, b in itertools.product(
        "al bel cor dan el fin gar hal is jor kal lor mar nor os per ros sel tor val".split(),
        "a en ia ric".split(),
    )
)
PLACES = tuple(
    root + ("ford ton bury wick".split())[(i + j) % 4]
    for i, root in enumerate(
        "ash brook clay dun elm fair glen high iron kings lang marsh north oak red stone thorn"
        " west wolf york".split()
    )
    for j in (0, 2)
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

# Sentence templates: {slot}s are filled, other tokens are literal words. Slots starting with t
# take topic words in a topical sentence and general words otherwise.
INTRO_TEMPLATES = (
    "{P} was born in {L} in {year} and became known for {T}",
    "the study of {T} in {L} owes much to {P}",
    "{P} of {L} was one of the first {gns} to write about {T}",
    "in {year} {P} moved to {L} to teach {T}",
    "{P} spent {num} years in {L} working on {T}",
    "the history of {T} in {L} begins with {P}",
    "{P} grew up in {L} where {gns} {adv} talked about {T}",
    "few {gns} in {L} knew as much about {T} as {P}",
)
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
PERSON_TEMPLATES = (
    "{np} {gv} {tnp} said {P}",
    "according to {P} {tnp} {tv} {tnp}",
    "{P} {adv} {gv} {tnp} {tpp}",
    "{P} later wrote that {tnp} was {ta}",
    "the {gn} of {P} {gv} {tnp}",
    "{gns} still remember {P} for {tnp}",
    "in {year} {P} {tv} {tnp}",
)
PLACE_TEMPLATES = (
    "{np} {gv} {tnp} in {L}",
    "in {L} {tnp} {tv} {tnp}",
    "{gns} returned to {L} in {year}",
    "the {gn} of {L} {gv} {tnp}",
    "{tnp} {tv} {tnp} near {L}",
    "back in {L} {np} {gv} {np}",
)

DEPENDENCY_COLUMNS = (
    "document",
    "kind",
    "antecedent_offset",
    "referent_offset",
    "antecedent_word",
    "referent_word",
)


class _Words:
    """Draws from a word list with Zipf-like weights: the i-th word weighs 1 / (i + 1) ** s."""

    def __init__(self, words: Sequence[str], exponent: float) -> None:
        self.words = tuple(words)
        weights = 1.0 / np.arange(1, len(words) + 1) ** exponent
        self.cumulative = list(np.cumsum(weights / weights.sum()))

    def pick(self, u: float) -> str:
        return self.words[min(bisect.bisect(self.cumulative, u), len(self.words) - 1)]


def _parse(templates: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(t.split()) for t in templates)


_INTRO, _BODY, _PERSON, _PLACE = map(
    _parse, (INTRO_TEMPLATES, BODY_TEMPLATES, PERSON_TEMPLATES, PLACE_TEMPLATES)
)
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


@dataclass
class _Document:
    """What the writer remembers while writing one document."""

    index: int
    topic: int
    person: str
    place: str
    last: dict[str, int] = field(default_factory=dict)  # slot -> offset of its last mention
    recurred: set[str] = field(default_factory=set)  # name slots mentioned again
    topic_pending: bool = False  # topic word written, no topic-specific word yet
    topical: bool = False  # the sentence being written uses topic words


class _Writer:
    """Writes documents word by word, tracking character offsets and planted pairs."""

    BUFFER = 1 << 16

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.uniforms: list[float] = []
        self.words: list[str] = []
        self.pos = 0  # length of the text so far (" " + " ".join(words))
        self.pairs: list[tuple] = []
        self.documents: list[tuple] = []

    def uniform(self) -> float:
        if not self.uniforms:
            self.uniforms = self.rng.random(self.BUFFER).tolist()
        return self.uniforms.pop()

    def choice(self, items: Sequence):
        return items[int(self.uniform() * len(items))]

    def emit(self, word: str) -> int:
        offset = self.pos + 1
        self.words.append(word)
        self.pos = offset + len(word)
        return offset

    def document(self) -> None:
        doc = _Document(
            index=len(self.documents),
            topic=int(self.uniform() * len(TOPICS)),
            person=self.choice(PERSONS),
            place=self.choice(PLACES),
        )
        low, high = DOCUMENT_WORDS
        target = low + int(self.uniform() * (high - low + 1))
        first_word, start = len(self.words), self.pos
        self.sentence(self.choice(_INTRO), doc)
        while len(self.words) - first_word < target:
            self.body_sentence(doc)
        if "P" not in doc.recurred:  # every document repeats its person at least once
            self.sentence(self.choice(_PERSON), doc)
        while doc.topic_pending:
            self.body_sentence(doc)
        self.documents.append(
            (doc.index, TOPICS[doc.topic].name, start, self.pos, len(self.words) - first_word)
        )

    def body_sentence(self, doc: _Document) -> None:
        pos = self.pos
        if pos - doc.last["P"] >= MIN_GAP and self.uniform() < P_PERSON:
            template = self.choice(_PERSON)
        elif pos - doc.last["L"] >= MIN_GAP and self.uniform() < P_PLACE:
            template = self.choice(_PLACE)
        else:
            template = self.choice(_BODY)
        doc.topical = pos - doc.last["T"] >= MIN_GAP and self.uniform() < P_TOPICAL
        self.sentence(template, doc)

    def sentence(self, template: tuple[str, ...], doc: _Document) -> None:
        for token in template:
            if token[0] != "{":
                self.emit(token)
            else:
                self.slot(token[1:-1], doc)

    def slot(self, code: str, doc: _Document) -> None:
        if code in ("P", "L"):
            word = doc.person if code == "P" else doc.place
            offset = self.emit(word)
            if code in doc.last:
                self.pairs.append((doc.index, "name", doc.last[code], offset, word, word))
                doc.recurred.add(code)
            doc.last[code] = offset
        elif code == "T":
            doc.last["T"] = self.emit(TOPICS[doc.topic].name)
            doc.topic_pending = True
        elif code in ("np", "tnp"):
            self.noun_phrase(doc, code == "tnp")
        elif code in ("pp", "tpp"):
            self.emit(_PREPOSITIONS.pick(self.uniform()))
            self.noun_phrase(doc, code == "tpp")
        elif code in ("tn", "tv", "ta", "gn", "gv", "ga"):
            self.content(doc, code[1], code[0] == "t")
        elif code == "gns":
            self.emit(_PLURALS.pick(self.uniform()))
        elif code == "adv":
            self.emit(_ADVERBS.pick(self.uniform()))
        elif code == "num":
            self.emit(self.choice(COUNTS))
        elif code == "year":
            for word in self.choice(CENTURIES):
                self.emit(word)
            self.emit(self.choice(DIGITS))
            self.emit(self.choice(DIGITS))
        else:
            raise KeyError(f"unknown template slot {{{code}}}")

    def content(self, doc: _Document, part: str, topical: bool) -> None:
        self.put(doc, *self.choose(doc, part, topical))

    def choose(self, doc: _Document, part: str, topical: bool) -> tuple[str, bool]:
        """A noun, verb or adjective, and whether it is topic-specific (topical sentences only)."""
        if topical and doc.topical:
            return _TOPICAL[doc.topic][part].pick(self.uniform()), True
        if part == "n" and self.uniform() < P_RARE:
            return _RARE.pick(self.uniform()), False
        return _GENERAL[part].pick(self.uniform()), False

    def put(self, doc: _Document, word: str, topic_specific: bool) -> None:
        """Write a content word; the document's first topic-specific word closes a topic pair."""
        offset = self.emit(word)
        if topic_specific and doc.topic_pending:
            self.pairs.append(
                (doc.index, "topic", doc.last["T"], offset, TOPICS[doc.topic].name, word)
            )
            doc.topic_pending = False

    def noun_phrase(self, doc: _Document, topical: bool) -> None:
        """Determiner, optional adjective, noun; "a" becomes "an" before a vowel."""
        det = _DET_WORDS[bisect.bisect(_DET_CUMULATIVE, self.uniform() * _DET_CUMULATIVE[-1])]
        words = []
        if self.uniform() < P_ADJECTIVE:
            words.append(self.choose(doc, "a", topical and self.uniform() < 0.5))
        words.append(self.choose(doc, "n", topical))
        self.emit("an" if det == "a" and words[0][0][0] in "aeiou" else det)
        for word, topic_specific in words:
            self.put(doc, word, topic_specific)


@dataclass(frozen=True)
class ProbeCorpus:
    """The generated text, its planted pairs, and one row per document.

    `documents` columns: document, topic (its name word), start (offset of the document's
    leading space), end (exclusive; the next document's start), words.
    """

    text: str
    dependencies: pd.DataFrame
    documents: pd.DataFrame


def build(n_chars: int, seed: int) -> ProbeCorpus:
    """Generate whole documents until the text reaches `n_chars` characters.

    The text ends at the first document boundary at or past `n_chars`, so every document is
    complete and the text is at most one document (under 2,800 characters) longer than asked.
    """
    if n_chars < 1:
        raise ValueError(f"n_chars must be positive, got {n_chars}")
    writer = _Writer(seed)
    while writer.pos < n_chars:
        writer.document()
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
    documents = pd.DataFrame(
        writer.documents, columns=["document", "topic", "start", "end", "words"]
    )
    return ProbeCorpus(text, deps, documents)


def generate(n_chars: int, seed: int) -> tuple[str, pd.DataFrame]:
    """The probe corpus in text8 format and its planted-dependency table (see `build`)."""
    corpus = build(n_chars, seed)
    return corpus.text, corpus.dependencies
