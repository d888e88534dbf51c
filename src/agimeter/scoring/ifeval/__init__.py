"""IFEval (Zhou et al. 2023) instruction checks that run fully offline.

``evaluate(row, response)`` gives the strict and loose verdict of every instruction of one
``input_data.jsonl`` row, as google-research ``instruction_following_eval`` does in the copy
vendored by lm-eval 0.4.13 (``lm_eval/tasks/ifeval``), the reference here (Apache-2.0; the
ported files keep its header). Strict checks the response as it is; loose counts an
instruction as followed when any of eight variants passes (the response, without its first
line, last line or both, each with and without ``*``). An empty or blank variant never passes.

Differences from the reference, all of them:

* **Sentences** (``length_constraints:number_sentences``, and the sentence step inside
  ``change_case:capital_word_frequency``). The reference uses NLTK's Punkt model for English,
  which must be downloaded. ``_punkt`` is a port of NLTK 3.10's Punkt tokenizer (inference
  only, stdlib ``re`` instead of the ``regex`` engine) with the English model's abbreviation,
  collocation and frequent-sentence-starter tables embedded, but not its orthographic-context
  table (how ~20,000 training words were capitalised): every word counts as unseen. Decisions
  differ from the full model only after a period-final token that is
  (a) a listed abbreviation or an ellipsis followed by a capitalised word: the model also
  splits when that word was seen lower-case and never capitalised mid-sentence, we split only
  when it is one of the 39 frequent sentence starters (``Dr. Smith`` and ``U.S. The`` agree;
  ``a.m. Then`` may not);
  (b) a single-letter initial followed by a capitalised word: the model splits when the word
  was ever seen lower-case (``Plan B. Then``), we never split;
  (c) an initial or a number followed by a lower-case word that training saw lower-case at a
  sentence start and never capitalised: the model splits, we do not.
  In the 541 prompts 26 of 951 period-final tokens fall under (a)-(c) (e.g. ``Mrs. Smith``,
  ``1. do``, ``... Do``); no other decision can differ.
* **Words for capital_word_frequency**: ``nltk.word_tokenize`` is reproduced (its Treebank
  regexes, NLTK 3.10, run by ``re`` rather than ``regex``) on our sentences, so only the
  sentence differences above can change it. Word counts (``number_words``) are exact.
* **Language** (``language:response_language``, ``change_case:english_*``): the same
  langdetect package, but a private detector seeded with 0, so a verdict is repeatable; the
  reference uses langdetect's unseeded global detector, whose answer on short or mixed text
  can change from run to run. A text langdetect finds no features in passes, as in the
  reference, but nothing is logged.
* **Arguments**: the reference replaces a missing or out-of-range argument with a random one
  (random keywords, thresholds, relations) and lm-eval first drops every falsy value
  (``0``, ``""``, ``[]``). We drop only ``None`` and raise :class:`agimeter.errors.DataError`
  naming the instruction id for: an unknown instruction id (reference: ``KeyError``); a
  missing, unexpected or mistyped argument (strict types: ``"3"`` is not ``3``, ``True`` is not
  an int); a negative count; ``nth_paragraph`` outside ``1..num_paragraphs``; a ``letter``
  that is not one character; a ``language`` outside the reference's 30 codes (reference:
  ``KeyError``); an empty ``keywords``/``forbidden_words``/``keyword``/``prompt_to_repeat``;
  and a keyword, forbidden word, section splitter or postscript marker that is not a valid
  regular expression once spliced in as the reference does (reference: ``re.error`` while
  scoring). None of these occur in the 541 published rows.
* **letter_frequency with a non-letter**: rows 1122 (``#``, "at least 4 hashtags") and 1129
  (``!``) ask to count a character that is not an ASCII letter; the reference silently swaps
  it for a random letter, so its verdict is a coin toss. We count the character asked for.
* The reference rebuilds a checker with ``prompt=`` when its arguments include ``prompt``; no
  registered instruction has one, so that step is left out.
"""

from agimeter.scoring.ifeval._checkers import Checker
from agimeter.scoring.ifeval._evaluate import IFEvalResult, build_checker, evaluate, supported_instructions

__all__ = ["Checker", "IFEvalResult", "build_checker", "evaluate", "supported_instructions"]
