# Copyright (C) 2001-2026 NLTK Project
# Algorithm: Kiss & Strunk (2006), "Unsupervised Multilingual Sentence Boundary Detection".
# Original NLTK authors: Willy, Steven Bird, Edward Loper, Joel Nothman, Arthur Darcet, Tom Aarsen.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
#
# Modified for agimeter: a typed port of the *inference* half of NLTK 3.10's
# ``nltk.tokenize.punkt.PunktSentenceTokenizer`` (no training), using the stdlib
# ``re`` engine, with the small tables of NLTK's pre-trained English model
# (``punkt_tab/english``) embedded so that nothing has to be downloaded.
"""Offline Punkt sentence splitter (a port of NLTK's, with its English abbreviation tables).

The English model's orthographic-context table (about 20,000 words and how each was
capitalised in training) is *not* embedded: every word gets an empty context. That only
matters right after a token that ends in a period and is an abbreviation, an initial or a
number; see the package docstring for the exact consequences.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

# Orthographic context flags (BEG/MID/UNK position, upper/lower case first letter).
_ORTHO_BEG_UC = 1 << 1
_ORTHO_MID_UC = 1 << 2
_ORTHO_UNK_UC = 1 << 3
_ORTHO_BEG_LC = 1 << 4
_ORTHO_MID_LC = 1 << 5
_ORTHO_UNK_LC = 1 << 6
_ORTHO_UC = _ORTHO_BEG_UC + _ORTHO_MID_UC + _ORTHO_UNK_UC
_ORTHO_LC = _ORTHO_BEG_LC + _ORTHO_MID_LC + _ORTHO_UNK_LC


def _entries(table: str) -> list[str]:
    """The whitespace-separated entries of an embedded model table."""
    return table.split()


# NLTK punkt_tab/english/abbrev_types.txt (lower case, final period removed).
_ENGLISH_ABBREVIATIONS = frozenset(
    _entries(
        """
    ct m.j t a.c n.h ms p.a.m dr pa p.m u.k st dec u.s.a lt g.k adm p h.m ga tenn yr sen n.c j.j d.h s.g inc
    vs s.p.a a.t n feb sr jan s.a.y n.y col g.f c.o.m.b d ft va r.k e.f chg r.i a.g minn a.h k n.j m l.f f.j
    gen i.m.s s.a aug j.p okla m.d.c ltd oct s vt r.a j.c ariz w.w b.v ore h w.r e.h mrs cie corp w n.v a.d
    r.j ok e.m w.c ill nov u.s prof conn u.s.s.r mg f.g ph.d g calif messrs h.f wash tues sw bros u.n l wis
    mr sep d.c ave e.l co s.s reps c r.t h.c r wed a.s v fla jr r.h c.v m.b.a rep a.a e c.i.t l.a b.f j.b
    d.w j.k ala f w.va sept mich n.m j.r l.p s.c colo fri a.m g.d kan maj ky a.m.e n.d t.j cos nev
    """
    )
) | {". . "}  # the spaced ellipsis ". . ." is a word token; its stem ". . " is listed as an abbreviation

# NLTK punkt_tab/english/collocations.tab: (word before the period, word after).
_ENGLISH_COLLOCATIONS = frozenset(
    tuple(pair.split("|"))
    for pair in _entries(
        """
    ##number##|international ##number##|rj ##number##|commodities ##number##|cooper b|stewart
    ##number##|genentech ##number##|wedgestone i|toussie ##number##|pepper j|fialka o|ludcke
    ##number##|insider ##number##|aes i|magnin ##number##|credit ##number##|corrections ##number##|financing
    ##number##|henley ##number##|business ##number##|pay-fone b|wigton b|edelman b|levine ##number##|leisure
    b|smith j|walter ##number##|pegasus ##number##|dividend j|aron ##number##|review ##number##|abreast
    ##number##|who ##number##|letters ##number##|colgate ##number##|cbot ##number##|notable ##number##|zimmer
    """
    )
)

# NLTK punkt_tab/english/sent_starters.txt.
_ENGLISH_SENT_STARTERS = frozenset(
    _entries(
        """
    most he since so both these it nevertheless this indeed however instead under similarly some though while
    when in despite although nonetheless thus there if the nor separately moreover but they yet many according
    sales among meanwhile even i
    """
    )
)


@dataclass(frozen=True)
class PunktParameters:
    """The learned tables Punkt decides with (defaults: NLTK's English model, minus ortho context)."""

    abbrev_types: frozenset[str] = _ENGLISH_ABBREVIATIONS
    collocations: frozenset[tuple[str, ...]] = _ENGLISH_COLLOCATIONS
    sent_starters: frozenset[str] = _ENGLISH_SENT_STARTERS
    ortho_context: Mapping[str, int] = field(default_factory=dict)


_SENT_END_CHARS = (".", "?", "!")
_NON_WORD_CHARS = r"(?:[)\";}\]\*:@\'\({\[\u2018\u2019\u201c\u201d\xab\xbb?!])"
_MULTI_CHAR_PUNCT = r"(?:\-{2,}|\.{2,}|(?:\.\s){2,}\.)"
_WORD_START = r"[^\(\"\`{\[:;&\#\*@\)}\]\-,]"
_WORD_TOKENIZER = re.compile(
    rf"""(
        {_MULTI_CHAR_PUNCT}
        |
        (?={_WORD_START})\S+?  # word characters until an end is found
        (?=
            \s|$|{_NON_WORD_CHARS}|{_MULTI_CHAR_PUNCT}|
            ,(?=$|\s|{_NON_WORD_CHARS}|{_MULTI_CHAR_PUNCT})  # a comma at the end of a word
        )
        |
        \S
    )""",
    re.UNICODE | re.VERBOSE,
)
_PERIOD_CONTEXT = re.compile(
    rf"""
    [\.\?!]                      # a potential sentence ending
    (?=(?P<after_tok>
        {_NON_WORD_CHARS}        # either other punctuation
        |
        \s+(?P<next_tok>\S+)     # or whitespace and some other token
    ))""",
    re.UNICODE | re.VERBOSE,
)
_BOUNDARY_REALIGNMENT = re.compile(r'["\')\]}\u2018\u2019\u201c\u201d\xab\xbb]+?(?:\s+|(?=--)|$)', re.MULTILINE)
_RE_ELLIPSIS = re.compile(r"\.\.+$")
_RE_NUMERIC = re.compile(r"^-?[\.,]?\d[\d,\.-]*\.?$")
_RE_INITIAL = re.compile(r"[^\W\d]\.$", re.UNICODE)
_PUNCTUATION = tuple(";:,.!?")


class _Token:
    """One word token with the annotations of the two Punkt passes."""

    __slots__ = ("abbr", "ellipsis", "period_final", "sentbreak", "tok", "type")

    def __init__(self, tok: str) -> None:
        self.tok = tok
        self.type = _RE_NUMERIC.sub("##number##", tok.lower())
        self.period_final = tok.endswith(".")
        self.sentbreak = False
        self.abbr = False
        self.ellipsis = False

    @property
    def type_no_period(self) -> str:
        return self.type[:-1] if len(self.type) > 1 and self.type[-1] == "." else self.type

    @property
    def type_no_sentperiod(self) -> str:
        return self.type_no_period if self.sentbreak else self.type

    @property
    def first_upper(self) -> bool:
        return self.tok[0].isupper()

    @property
    def first_lower(self) -> bool:
        return self.tok[0].islower()

    @property
    def is_ellipsis(self) -> bool:
        return _RE_ELLIPSIS.match(self.tok) is not None

    @property
    def is_initial(self) -> bool:
        return _RE_INITIAL.match(self.tok) is not None


class PunktSentenceSplitter:
    """``PunktSentenceTokenizer.tokenize`` without training: same spans, same decisions."""

    def __init__(self, params: PunktParameters | None = None) -> None:
        self._params = params or PunktParameters()

    def tokenize(self, text: str) -> list[str]:
        """The sentences of ``text`` (boundaries realigned past closing quotes/brackets, as NLTK does)."""
        return [text[s] for s in self._realign_boundaries(text, self._slices_from_text(text))]

    # --- word tokens and annotation ------------------------------------------------------------

    @staticmethod
    def _tokenize_words(text: str) -> Iterator[_Token]:
        for line in text.split("\n"):
            if line.strip():
                for tok in _WORD_TOKENIZER.findall(line):
                    yield _Token(tok)

    def _first_pass(self, token: _Token) -> None:
        tok = token.tok
        if tok in _SENT_END_CHARS:
            token.sentbreak = True
        elif token.is_ellipsis:
            token.ellipsis = True
        elif token.period_final and not tok.endswith(".."):
            stem = tok[:-1].lower()
            if stem in self._params.abbrev_types or stem.split("-")[-1] in self._params.abbrev_types:
                token.abbr = True
            else:
                token.sentbreak = True

    def _second_pass(self, tok1: _Token, tok2: _Token | None) -> None:
        if tok2 is None or not tok1.period_final:
            return
        typ = tok1.type_no_period
        next_typ = tok2.type_no_sentperiod
        tok_is_initial = tok1.is_initial

        if (typ, next_typ) in self._params.collocations:
            tok1.sentbreak = False
            tok1.abbr = True
            return

        if (tok1.abbr or tok1.ellipsis) and not tok_is_initial:
            is_sent_starter = self._ortho_heuristic(tok2)
            if is_sent_starter is True:
                tok1.sentbreak = True
                return
            if tok2.first_upper and next_typ in self._params.sent_starters:
                tok1.sentbreak = True
                return

        if tok_is_initial or typ == "##number##":
            is_sent_starter = self._ortho_heuristic(tok2)
            if is_sent_starter is False:
                tok1.sentbreak = False
                tok1.abbr = True
                return
            if (
                is_sent_starter is None
                and tok_is_initial
                and tok2.first_upper
                and not (self._params.ortho_context.get(next_typ, 0) & _ORTHO_LC)
            ):
                tok1.sentbreak = False
                tok1.abbr = True

    def _ortho_heuristic(self, token: _Token) -> bool | None:
        """Whether ``token`` starts a sentence: True, False or None (NLTK's "unknown")."""
        if token.tok in _PUNCTUATION:
            return False
        ortho = self._params.ortho_context.get(token.type_no_sentperiod, 0)
        if token.first_upper and (ortho & _ORTHO_LC) and not (ortho & _ORTHO_MID_UC):
            return True
        if token.first_lower and ((ortho & _ORTHO_UC) or not (ortho & _ORTHO_BEG_LC)):
            return False
        return None

    def _annotate(self, text: str) -> list[_Token]:
        tokens = list(self._tokenize_words(text))
        for token in tokens:
            self._first_pass(token)
        for index, token in enumerate(tokens):
            self._second_pass(token, tokens[index + 1] if index + 1 < len(tokens) else None)
        return tokens

    def _text_contains_sentbreak(self, text: str) -> bool:
        # A break on the last token does not count: it only says the context ends a sentence.
        return any(token.sentbreak for token in self._annotate(text)[:-1])

    # --- candidate boundaries and spans --------------------------------------------------------

    @staticmethod
    def _last_whitespace_index(text: str) -> int:
        for i in range(len(text) - 1, -1, -1):
            if text[i] in string.whitespace:
                return i
        return 0

    def _potential_end_contexts(self, text: str) -> Iterator[tuple[re.Match[str], str]]:
        previous_slice = slice(0, 0)
        previous_match: re.Match[str] | None = None
        for match in _PERIOD_CONTEXT.finditer(text):
            before_text = text[previous_slice.stop : match.start()]
            index_after_last_space = self._last_whitespace_index(before_text)
            if index_after_last_space:
                index_after_last_space += previous_slice.stop + 1
            else:
                index_after_last_space = previous_slice.start
            prev_word_slice = slice(index_after_last_space, match.start())
            if previous_match and previous_slice.stop <= prev_word_slice.start:
                yield previous_match, text[previous_slice] + previous_match.group() + previous_match.group("after_tok")
            previous_match = match
            previous_slice = prev_word_slice
        if previous_match:
            yield previous_match, text[previous_slice] + previous_match.group() + previous_match.group("after_tok")

    def _slices_from_text(self, text: str) -> Iterator[slice]:
        last_break = 0
        for match, context in self._potential_end_contexts(text):
            if self._text_contains_sentbreak(context):
                yield slice(last_break, match.end())
                last_break = match.start("next_tok") if match.group("next_tok") else match.end()
        yield slice(last_break, len(text.rstrip()))

    @staticmethod
    def _realign_boundaries(text: str, slices: Iterator[slice]) -> Iterator[slice]:
        pending = list(slices)
        realign = 0
        for index, current in enumerate(pending):
            sentence1 = slice(current.start + realign, current.stop)
            sentence2 = pending[index + 1] if index + 1 < len(pending) else None
            if sentence2 is None:
                if text[sentence1]:
                    yield sentence1
                continue
            m = _BOUNDARY_REALIGNMENT.match(text[sentence2])
            if m:
                yield slice(sentence1.start, sentence2.start + len(m.group(0).rstrip()))
                realign = m.end()
            else:
                realign = 0
                if text[sentence1]:
                    yield sentence1
