"""Noise injection: text the SPEC's normalisation rules turn back into the truth, exactly."""

from __future__ import annotations

import html
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tests.sitegen.textrules import (
    ALNUM_RE,
    BR,
    FULL_PUNCT_AFTER_CJK_RE,
    FULL_TO_HALF,
    NBSP,
    TO_FULLWIDTH,
    ZERO_WIDTH_CHARS,
)


@dataclass(frozen=True)
class Noise:
    """How many of each kind of noise to inject into one text."""

    punct: int = 0
    """Full-width ，；：？！ after a CJK character written half-width."""
    spaces: int = 0
    """Stray white space between two CJK characters (body paragraphs only)."""
    zero_width: int = 0
    fullwidth: int = 0
    """ASCII letters or digits written full-width."""
    widen: int = 0
    """Existing spaces written as runs, NBSP or U+3000."""
    br: int = 0
    """Single ``<br />`` where white space is harmless (body paragraphs only)."""
    br_on_space: bool = False
    """Put the ``<br />`` where the truth has a space (else between CJK characters)."""


_STRAY_SPACES = (" ", " ", "  ", "\u3000", NBSP, "\n")
_WIDE_SPACES = ("  ", NBSP, "\u3000", " \u3000", "   ")


def inject_noise(clean: str, rng: random.Random, noise: Noise, *, body: bool) -> tuple[str, Counter[str]]:
    """Return ``clean`` with noise that normalisation removes, and what was done.

    Positions are chosen so that the noise kinds never interact: a stray space
    is only put between two characters that are still CJK after rules 1-2
    (never next to a half-width comma we wrote), so rule 4 takes it out again.
    """
    out = list(clean)
    before: dict[int, str] = {}  # text inserted before position p (p == len: at the end)
    done: Counter[str] = Counter()

    converted: set[int] = set()
    punct_sites = [m.start() for m in FULL_PUNCT_AFTER_CJK_RE.finditer(clean)]
    for i in pick(rng, punct_sites, noise.punct):
        out[i] = FULL_TO_HALF[clean[i]]
        converted.add(i)
        done["punct"] += 1

    alnum_sites = [m.start() for m in ALNUM_RE.finditer(clean)]
    for i in pick(rng, alnum_sites, noise.fullwidth):
        out[i] = chr(TO_FULLWIDTH[ord(clean[i])])
        done["fullwidth"] += 1

    space_sites = [m.start() for m in re.finditer(" ", clean)]
    spaces_taken: list[int] = []
    if body and noise.br:
        sites = space_sites if noise.br_on_space else _cjk_gaps(rng, clean, converted, noise.br)
        for pos in pick(rng, sites, noise.br):
            if noise.br_on_space:
                out[pos] = BR
                spaces_taken.append(pos)
                done["br_space"] += 1
            else:
                before[pos] = before.get(pos, "") + BR
                done["br_gap"] += 1
    for i in pick(rng, [i for i in space_sites if i not in spaces_taken], noise.widen):
        out[i] = rng.choice(_WIDE_SPACES)
        done["widen"] += 1

    if body and noise.spaces:
        for p in _cjk_gaps(rng, clean, converted, noise.spaces):
            before[p] = before.get(p, "") + rng.choice(_STRAY_SPACES)
            done["stray_space"] += 1

    if noise.zero_width and len(clean) > 1:
        for p in pick(rng, range(1, len(clean)), noise.zero_width):
            before[p] = before.get(p, "") + rng.choice(ZERO_WIDTH_CHARS)
            done["zero_width"] += 1

    for p, inserted in before.items():
        out[p] = inserted + out[p]
    return "".join(out), done


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return 0x3400 <= o <= 0x9FFF or 0x3000 <= o <= 0x303F or 0xFF00 <= o <= 0xFFEF or ch in "“”‘’"


def _cjk_gaps(rng: random.Random, clean: str, converted: set[int], k: int) -> list[int]:
    """Up to ``k`` positions p with clean[p-1] and clean[p] both CJK and neither
    written half-width; found by rejection sampling, which is cheap because
    Chinese text is mostly such gaps."""
    chosen: set[int] = set()
    if len(clean) < 2:
        return []
    for _ in range(20 * k + 20):
        if len(chosen) >= k:
            break
        p = rng.randrange(1, len(clean))
        if (_is_cjk(clean[p - 1]) and _is_cjk(clean[p]) and p - 1 not in converted and p not in converted):
            chosen.add(p)
    return sorted(chosen)


def pick(rng: random.Random, items: Sequence[Any], k: int) -> list[Any]:
    """Up to ``k`` distinct items in their original order (deterministic)."""
    if k <= 0 or not items:
        return []
    chosen = rng.sample(range(len(items)), min(k, len(items)))
    return [items[i] for i in sorted(chosen)]


def html_text(noisy: str) -> str:
    """Escape a (noisy) text for HTML and turn the sentinels into markup."""
    return html.escape(noisy, quote=False).replace(BR, "<br />").replace(NBSP, "&nbsp;")


