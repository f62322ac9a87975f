"""Guard rails: which instructions are refused, and why, before any of them is acted on.

Instructions are data. Nothing a user writes is ever passed on as a prompt; still, text
that tries to steer the system ("ignore previous instructions..."), asks for sexual or
violent content, or asks to depict a real person is refused as a whole, with a reason the
product can show the user. Refusing the whole instruction (rather than acting on the rest)
is deliberate: an instruction that contains an attack is not a trustworthy preference.

Rules catch the known shapes; ``reading.py`` adds a meaning-based check with the
sentence encoder for paraphrases. Unsafe words under a negation ("no gore please") are
not a request for that content and are not refused.

Reasons (stable codes): ``empty``, ``too_long``, ``prompt_injection``, ``unsafe_content``,
``real_person``, ``unsupported_language``, ``not_understood``.
"""

from __future__ import annotations

import re

from generec_core.instructor import rules

EMPTY, TOO_LONG = "empty", "too_long"
INJECTION, UNSAFE, REAL_PERSON = "prompt_injection", "unsafe_content", "real_person"
LANGUAGE, NOT_UNDERSTOOD = "unsupported_language", "not_understood"
REASONS: tuple[str, ...] = (EMPTY, TOO_LONG, INJECTION, UNSAFE, REAL_PERSON, LANGUAGE, NOT_UNDERSTOOD)

_INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget|override|bypass|skip|drop|overrule|cancel) (?:all |any |the |your |my |these |"
    r"those |every )*(?:previous |prior |above |earlier |preceding |former |existing |original |system |safety )*"
    r"(?:instructions?|rules?|prompts?|guidelines?|directions?|context|constraints?|filters?|restrictions?|"
    r"guardrails?|guard rails|policies|policy|settings|programming)\b|"
    r"\bsystem (?:prompt|message|instructions?)\b|\bdeveloper mode\b|\bjail ?break\w*|\bdan mode\b|"
    r"\bdo anything now\b|\bforget (?:everything|all)\b|\bdo (?:exactly |just |only )?(?:what|as) i (?:say|tell)|\byou are (?:now|no longer)\b|\bact as (?:an?|my|the)\b|\bpretend (?:to be|you)\b|"
    r"\broleplay as\b|\bnew (?:instructions|rules|task)\s*:|\b(?:reveal|print|show|output|repeat|leak|dump|tell me) "
    r"(?:me )?(?:your|the) (?:hidden |secret |initial |original )?(?:prompt|instructions|system|configuration|"
    r"config|rules|api keys?|secrets?|password)\b|<\|?\s*/?\s*(?:system|im_start|im_end|user|assistant)|"
    r"\[/?inst\]|```|\{\{|\}\}|\bsudo\b|\badmin (?:mode|access|override)\b|\brm -rf\b|\bdrop table\b|"
    r"\bexec(?:ute)? (?:this|the following|code|command)|\bfrom now on,? (?:you|ignore|always)\b|"
    r"\b(?:set|change|force) (?:the )?(?:generate|opt_out|rejected|styles|avoid_topics|prefer_topics|source)\b|"
    r"\"(?:generate|opt_out|rejected|styles|source)\"\s*:|\b(?:generate|opt_out|rejected)\s*=\s*\w|"
    r"\bas an ai\b|\bunfiltered\b|\bno restrictions\b|\bwithout (?:any )?(?:filters?|restrictions|rules|safety)\b|"
    r"\bturn off (?:the )?(?:safety|filters?|moderation)\b|\bdisable (?:the )?(?:safety|filters?|moderation)\b")

UNSAFE_TERMS = frozenset("""
nude nudes naked nudity porn porno pornographic pornography sex sexual sexually sexy explicit nsfw xxx erotic
erotica lingerie topless onlyfans hentai fetish fetishes stripper strippers striptease seductive horny lewd
gore gory bloody bloodshed violent violence murder murders murdering killing killings beheading beheadings
torture tortured massacre dismember dismembered dismemberment corpse corpses mutilated mutilation brutal
brawl brawls shootings stabbing stabbings self-harm suicide terrorist terrorism bombing executions carnage
""".split())
_UNSAFE_PHRASES = re.compile(r"\b(?:dead bodies|street fights?|fist fights?|people (?:dying|getting (?:hurt|killed|"
                             r"shot|beaten))|blood and guts|18\s*\+|adult content|adults only|in (?:her|his|their) "
                             r"underwear|without clothes|no clothes on|car crash(?:es)? with (?:bodies|victims)|"
                             r"animal cruelty|hurting animals|kill(?:ing)? (?:people|animals|cats|dogs))\b")

_RELATIONS = (r"(?:ex|ex-?girlfriend|ex-?boyfriend|ex-?wife|ex-?husband|ex-?partner|neighbou?rs?|boss|co-?workers?|"
              r"colleagues?|classmates?|teachers?|wife|husband|girlfriend|boyfriend|sister|brother|siblings?|mom|mum|"
              r"mother|dad|father|son|daughter|cousin|aunt|uncle|room-?mate|flat-?mate|friends?|crush|partner|kids?|"
              r"children|grandma|grandpa|grandmother|grandfather|niece|nephew|landlord|landlady|step-?mom|"
              r"step-?dad|baby|fiancee?|students?|manager|doctor|nanny|babysitter)")
_DEPICT_STRONG = r"(?:faces?|photos?|pictures?|pics?|selfies?|likeness|deep ?fakes?|portraits?|images?|headshots?|mugshots?)"
_DEPICT_VERB = r"(?:put|puts|putting|insert|add|feature|featuring|star|starring|swap|paste|draw|use|include|place)"
_PRIVATE_PERSON = re.compile(
    rf"\b(?:my|our|his|her) (?:\w+ )?{_RELATIONS}\b(?:.{{0,40}}\b{_DEPICT_STRONG}\b)|"
    rf"\b{_DEPICT_STRONG} of (?:my|our) (?:\w+ )?{_RELATIONS}\b|"
    rf"\b{_DEPICT_VERB} (?:my|our) (?:\w+ )?{_RELATIONS}\b|"
    rf"\b(?:my|our) (?:\w+ )?{_RELATIONS} (?:in|on|into) (?:the |my |every |all )?(?:thumbnails?|covers?|videos?|"
    rf"clips?|previews?)|"
    rf"\b(?:a (?:person|guy|girl|woman|man|lady|kid|boy) )?(?:named|called) [a-z]+\b.{{0,40}}\b(?:{_DEPICT_STRONG}|"
    rf"{_DEPICT_VERB}|thumbnails?|covers?)\b|"
    rf"\b{_DEPICT_VERB} (?:a (?:person|guy|girl|woman|man) )?(?:named|called) [a-z]+\b|"
    rf"\b{_DEPICT_STRONG} of (?:a |an |the )?(?:\w+ ){{0,3}}(?:named|called) [a-z]+\b")
# Capitalised two-word names ("John Smith") in the scrubbed, not-lower-cased text.
_NAME = re.compile(r"\b([A-Z][a-z]+(?:-[A-Z][a-z]+)?) ([A-Z][a-z]+(?:-[A-Z][a-z]+)?)\b")
_NOT_NAMES = frozenset("""
I Please Hollywood Pixar Disney Premier League Champions World Cup La Liga Big Buck Bunny Formula Black White
More Less No Stop Show Give Make The And But Can Could Would Should Thanks Thank You Hey Hi Hello Only Just Also
Golden Hour New York Los Angeles San Francisco Paris London Tokyo Christmas Easter Halloween Marvel Star Wars
Tour Nba Nfl Mario Minecraft Fortnite Street Food Cats Dogs Cat Dog Football Soccer Music News Cars Travel
""".split())
_NAME_DEPICT = re.compile(rf"\b(?:{_DEPICT_STRONG}|{_DEPICT_VERB}|looks? like|as|thumbnails?|covers?)\b", re.IGNORECASE)

# Latin-script languages we do not understand: distinctive function words and common requests.
_FOREIGN_WORDS = frozenset("""
por favor más menos quiero gatos perros fútbol futbol vídeos los las del por para pero muy también sin
moins je veux de le s'il vous plaît chats chiens voudrais avec sans pas des une les mais aussi
mehr weniger bitte ich möchte keine kein katzen hunde und nicht mit ohne aber auch
più meno vorrei gatti cani calcio grazie senza anche della
mais menos quero cachorros obrigado obrigada sem também não
meer minder graag katten honden alsjeblieft niet zonder ook
""".split())
_ENGLISH_WORDS = frozenset("""
the a an and or but please more less no not i me my want like love show give make less clips videos video
of to with without for in on is are be it them this that these those some any too so very really just
""".split())


def _non_latin_share(text: str) -> float:
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    return sum(ord(ch) > 0x24F for ch in letters) / len(letters)


def is_foreign(text: str) -> bool:
    """Another language than English: another script, or mostly foreign function words."""
    if _non_latin_share(text) > 0.3:
        return True
    toks = rules.tokens(rules.normalise(text))
    foreign = sum(t in _FOREIGN_WORDS for t in toks)
    english = sum(t in _ENGLISH_WORDS for t in toks)
    return foreign >= 2 and foreign > english or (foreign >= 1 and english == 0 and len(toks) <= 4
                                                   and not rules.find_mentions(toks))


def unsafe_requested(toks: list[str], normalised: str) -> bool:
    """An unsafe term or phrase that is asked for, i.e. not under a negation."""
    clauses = rules.clause_ids(toks)
    for i, tok in enumerate(toks):
        if tok in UNSAFE_TERMS and clauses[i] >= 0 and rules.polarity_at(toks, clauses, i, i + 1) != rules.NEG:
            return True
    phrase = _UNSAFE_PHRASES.search(normalised)
    if phrase:
        before = rules.tokens(normalised[:phrase.start()])[-3:]
        return not any(t in rules.NEG_CUES for t in before)
    return False


def names_person(scrubbed: str, normalised: str) -> bool:
    """A request to depict a private person (by relation or by name)."""
    if _PRIVATE_PERSON.search(normalised):
        return True
    for match in _NAME.finditer(scrubbed):
        if match.group(1) in _NOT_NAMES or match.group(2) in _NOT_NAMES:
            continue
        if _NAME_DEPICT.search(scrubbed):
            return True
    return False


def check(scrubbed: str, max_chars: int) -> str | None:
    """The rule-based refusal reason for an (already scrubbed) instruction, or None."""
    if not scrubbed.strip():
        return EMPTY
    if len(scrubbed) > max_chars:
        return TOO_LONG
    normalised = rules.normalise(scrubbed)
    if _INJECTION.search(normalised) or _INJECTION.search(rules.rewrite_idioms(normalised)):
        return INJECTION
    toks = rules.tokens(rules.rewrite_idioms(normalised))
    if unsafe_requested(toks, normalised):
        return UNSAFE
    if names_person(scrubbed, normalised):
        return REAL_PERSON
    if is_foreign(scrubbed):
        return LANGUAGE
    return None
