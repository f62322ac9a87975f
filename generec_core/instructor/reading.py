"""One instruction -> one ``Reading``: scrub, guard, rules, then the sentence encoder.

Order matters and is the design:
1. ``scrub`` removes personal data; nothing later ever sees the raw text.
2. ``guard.check`` refuses injections, unsafe requests, real people, other languages.
3. Rules (``rules.py``) read numbers, opt-out phrases, vocabulary terms (typos included)
   and the polarity of every mention.
4. The encoder (all-MiniLM-L6-v2) then (a) re-checks every clause against injection and
   unsafe prototypes (paraphrased attacks), (b) labels content words the lexicon does not
   know by their nearest vocabulary prototype ("sushi" -> food, "felines" -> cats), and
   (c) reads clause-level intents the rules missed ("the previews drag on" -> shorter,
   "I just want what the creators uploaded" -> opt out). Every encoder decision needs a
   cosine above a configured threshold AND a margin over the runner-up, so an unrelated
   word never lands on a label by default.
5. An instruction with nothing understood is refused as ``not_understood`` so the product
   can ask the user to rephrase rather than silently ignoring them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from generec_core.config import InstructorConfig
from generec_core.instructor import guard, rules
from generec_core.instructor.encoder import TextEncoder
from generec_core.instructor.guidance import Length, Reading
from generec_core.instructor.scrub import scrub
from generec_core.instructor.vocabulary import GENERIC_WORDS, INTENT_PROTOTYPES, STYLES, TOPICS

_STOPWORDS = frozenset("""
i me my we our you your it its they them their he she his her this that these those a an the and or of to in on
at by for with from as is are was were be been being am do does did have has had can could would should will
what which who whom how why when where there here some any all each every both few more most other such own same
than then so very just also only even again ever still yet up down out off over under about into onto per via
""".split())
_SEMANTIC_INTENTS = ("opt_out", "opt_in", "shorter", "longer")


@dataclass(frozen=True)
class _Bank:
    """Embedded vocabulary: one row per (label, phrase), with the label's kind and name."""

    kinds: tuple[str, ...]
    names: tuple[str, ...]
    matrix: np.ndarray


# Topic words are embedded inside a sentence ("a video about sushi"): bare single words are
# where MiniLM is weakest, and the frame pulls food-ish words toward "food" rather than toward
# whatever shares their letters. Style phrases are embedded bare: a frame such as "in the style
# of ..." makes every word look like a style.
TOPIC_FRAME = "a video about {}"


@lru_cache(maxsize=4)
def _label_bank(encoder: TextEncoder, kind: str) -> _Bank:
    labels, frame = (STYLES, "{}") if kind == "style" else (TOPICS, TOPIC_FRAME)
    names, phrases = [], []
    for label in labels:
        for phrase in label.terms + label.prototypes:
            names.append(label.name)
            phrases.append(frame.format(phrase))
    return _Bank(tuple([kind] * len(names)), tuple(names), encoder.encode(phrases))


@lru_cache(maxsize=4)
def _intent_bank(encoder: TextEncoder) -> _Bank:
    names, phrases = [], []
    for intent, protos in INTENT_PROTOTYPES.items():
        names.extend([intent] * len(protos))
        phrases.extend(protos)
    return _Bank(tuple(["intent"] * len(names)), tuple(names), encoder.encode(phrases))


def _best_two(bank: _Bank, vector: np.ndarray, allowed: tuple[str, ...] | None = None) -> list[tuple[float, str, str]]:
    """Per label, the best cosine; sorted best first as (score, kind, name)."""
    sims = bank.matrix @ vector
    best: dict[tuple[str, str], float] = {}
    for sim, kind, name in zip(sims.tolist(), bank.kinds, bank.names):
        if allowed is None or name in allowed:
            key = (kind, name)
            best[key] = max(sim, best.get(key, -1.0))
    return sorted(((s, k, n) for (k, n), s in best.items()), reverse=True)


def understand(text: str, encoder: TextEncoder, cfg: InstructorConfig) -> Reading:
    """Read one instruction into the controlled vocabulary (or refuse it with a reason)."""
    scrubbed = scrub(text if isinstance(text, str) else "")
    reason = guard.check(scrubbed.text, cfg.max_chars)
    if reason is not None:
        return Reading(rejected=reason, pii=scrubbed.kinds)

    normalised = rules.normalise(scrubbed.text)
    explicit, rest = rules.explicit_seconds(normalised)
    opt = rules.opt_intent(normalised)
    toks = rules.tokens(rules.rewrite_idioms(rest))
    clauses = rules.clause_ids(toks)
    clause_texts = _clause_texts(toks, clauses)

    reason = _semantic_guard(encoder, cfg, toks, clauses, clause_texts)
    if reason is not None:
        return Reading(rejected=reason, pii=scrubbed.kinds)

    mentions = rules.find_mentions(toks)
    mentions += _semantic_mentions(encoder, cfg, toks, clauses, mentions)
    mentions.sort(key=lambda m: m.start)
    starts = frozenset(m.start for m in mentions)

    polarity: dict[tuple[str, str], int] = {}
    length_vote: list[tuple[str, int]] = []
    evidence = []
    for m in mentions:
        pol = rules.polarity_at(toks, clauses, m.start, m.end, starts)
        if m.kind == "length":
            length_vote.append((m.label, pol if pol is not None else rules.POS))
        elif pol is not None or not _describes_length(m, mentions, clauses):
            polarity[(m.kind, m.label)] = pol if pol is not None else rules.POS  # last mention wins
        evidence.append(f"{m.label}:{m.how}")

    length: Length = explicit
    if length is None and length_vote:
        word, pol = length_vote[-1]
        length = "shorter" if (word == "short") == (pol == rules.POS) else "longer"

    covered = {clauses[i] for m in mentions for i in range(m.start, m.end)}
    if opt is None or length is None:
        sem_opt, sem_length = _semantic_intents(encoder, cfg, clause_texts, covered)
        if opt is None and sem_opt is not None:
            opt = sem_opt
            evidence.append(f"{'opt_out' if sem_opt else 'opt_in'}:semantic")
        if length is None and sem_length is not None:
            length = sem_length
            evidence.append(f"{sem_length}:semantic")

    def pick(kind: str, pol: int) -> tuple[str, ...]:
        return tuple(sorted(name for (k, name), p in polarity.items() if k == kind and p == pol))

    reading = Reading(styles=pick("style", rules.POS), avoid_styles=pick("style", rules.NEG),
                      prefer_topics=pick("topic", rules.POS), avoid_topics=pick("topic", rules.NEG),
                      length=length, opt_out=opt, pii=scrubbed.kinds, evidence=tuple(evidence))
    if not (polarity or length is not None or opt is not None):
        return Reading(rejected=guard.NOT_UNDERSTOOD, pii=scrubbed.kinds)
    return reading


def _describes_length(m: rules.Mention, mentions: list[rules.Mention], clauses: list[int]) -> bool:
    """A cue-less topic that is the subject of a length complaint ("football clips are too long") is not a wish."""
    return m.kind == "topic" and any(o.kind == "length" and clauses[o.start] == clauses[m.start] and o.start > m.start
                                     for o in mentions)


def _clause_texts(toks: list[str], clauses: list[int]) -> dict[int, str]:
    out: dict[int, list[str]] = {}
    for tok, c in zip(toks, clauses):
        if c >= 0:
            out.setdefault(c, []).append(tok)
    return {c: " ".join(words) for c, words in out.items()}


def _semantic_guard(encoder: TextEncoder, cfg: InstructorConfig, toks: list[str], clauses: list[int],
                    clause_texts: dict[int, str]) -> str | None:
    """Paraphrased injections and unsafe requests: a clause close to one of their prototypes."""
    if not clause_texts:
        return None
    ids = sorted(clause_texts)
    vectors = encoder.encode([clause_texts[c] for c in ids])
    bank = _intent_bank(encoder)
    for c, vec in zip(ids, vectors):
        ranked = _best_two(bank, vec, ("injection", "unsafe"))
        score, _, name = ranked[0]
        if score < cfg.guard_threshold:
            continue
        if name == "injection":
            return guard.INJECTION
        negated = any(t in rules.NEG_CUES for t, cl in zip(toks, clauses) if cl == c)
        if not negated:
            return guard.UNSAFE
    return None


def _candidate_spans(toks: list[str], clauses: list[int], taken: set[int]) -> list[tuple[int, int]]:
    """Unigrams and bigrams of content words that no rule explained."""
    def content(i: int) -> bool:
        t = toks[i]
        return (i not in taken and clauses[i] >= 0 and t.isalpha() and len(t) >= 3 and t not in _STOPWORDS
                and t not in GENERIC_WORDS and t not in rules.NEG_CUES and t not in rules.POS_CUES
                and t not in guard.UNSAFE_TERMS)
    spans = []
    for i in range(len(toks)):
        if content(i):
            spans.append((i, i + 1))
            if i + 1 < len(toks) and content(i + 1) and clauses[i] == clauses[i + 1]:
                spans.append((i, i + 2))
    return spans


def _semantic_mentions(encoder: TextEncoder, cfg: InstructorConfig, toks: list[str], clauses: list[int],
                       found: list[rules.Mention]) -> list[rules.Mention]:
    """Vocabulary labels for unknown content words, by nearest prototype (threshold + margin)."""
    taken = {i for m in found for i in range(m.start, m.end)}
    spans = _candidate_spans(toks, clauses, taken)
    if not spans:
        return []
    texts = [" ".join(toks[a:b]) for a, b in spans]
    hits: list[tuple[float, rules.Mention]] = []
    for kind, frame in (("style", "{}"), ("topic", TOPIC_FRAME)):
        bank = _label_bank(encoder, kind)
        for (a, b), vec in zip(spans, encoder.encode([frame.format(t) for t in texts])):
            ranked = _best_two(bank, vec)
            (score, _, name), runner_up = ranked[0], ranked[1][0]
            threshold = cfg.span_threshold if kind == "topic" else cfg.style_span_threshold
            if score >= threshold and score - runner_up >= cfg.span_margin:
                hits.append((score, rules.Mention(kind, name, a, b, "semantic")))
    out: list[rules.Mention] = []
    used: set[int] = set()
    for _, m in sorted(hits, key=lambda h: -h[0]):  # best first; spans never overlap
        if not used & set(range(m.start, m.end)):
            out.append(m)
            used |= set(range(m.start, m.end))
    return out


def _semantic_intents(encoder: TextEncoder, cfg: InstructorConfig, clause_texts: dict[int, str],
                      covered: set[int]) -> tuple[bool | None, Length]:
    """Opt-out/in and shorter/longer read from whole clauses that no vocabulary mention explains."""
    ids = [c for c in sorted(clause_texts) if c not in covered]
    if not ids:
        return None, None
    vectors = encoder.encode([clause_texts[c] for c in ids])
    bank = _intent_bank(encoder)
    opt: bool | None = None
    length: Length = None
    for vec in vectors:
        ranked = _best_two(bank, vec, _SEMANTIC_INTENTS)
        (score, _, name), runner_up = ranked[0], ranked[1][0]
        if score < cfg.intent_threshold or score - runner_up < cfg.span_margin:
            continue
        if name in ("opt_out", "opt_in"):
            opt = name == "opt_out"
        else:
            length = name
    return opt, length
