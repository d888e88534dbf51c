"""LLM-as-a-judge: verdict parsing, judge prompts and calls, answer style features, and the typed
records a judged item stores in its ``details``. The scorers are ``scoring.scorers.judge_single``
(MT-Bench) and ``scoring.scorers.judge_pairwise`` (Arena-Hard)."""
