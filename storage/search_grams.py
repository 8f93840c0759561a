"""Short search terms (one or two characters) as index tokens.

A trigram index cannot look up a term shorter than three characters, and scanning every row of a
large organisation for one took seconds. So each row also keeps ``search_grams``: every distinct
character and every pair of adjacent characters of its folded text, each written as one token
that any word tokenizer keeps whole (``x61`` for "a", ``x61g62`` for "ab": code points in hex).
A one- or two-character term then has exactly one token to look up, and a row holds that token
exactly when its text holds the term: the tokens are code points, so no tokenizer folding can
make two different terms meet. Pairs never span whitespace or a field's end, because a folded
term of two characters never holds whitespace.
"""

from __future__ import annotations

SHORT = 2  # longest term looked up by its gram token


def grams(search_text: str) -> str:
    """The tokens of every distinct character and adjacent pair in ``search_text``."""
    found: set[str] = set()
    for word in search_text.split():
        found.update(word)
        found.update(word[i : i + 2] for i in range(len(word) - 1))
    return " ".join(sorted(gram_token(gram) for gram in found))


def gram_token(term: str) -> str:
    """The token of a term of one or two characters (none of them whitespace)."""
    return "x" + "g".join(f"{ord(ch):x}" for ch in term)


def has_token(term: str) -> bool:
    """Whether ``term`` can be looked up by its gram token alone."""
    return 0 < len(term) <= SHORT and not any(ch.isspace() for ch in term)


__all__ = ["SHORT", "gram_token", "grams", "has_token"]
