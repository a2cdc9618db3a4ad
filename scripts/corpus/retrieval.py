#!/usr/bin/env python3
# Builds the context-extension stage's retrieval text: long runs of the pre-training corpus's own text with short
# facts hidden between its lines ("The locker number of Anna Berg is 48213.") and, far later, the same fact asked for
# ("What is the locker number of Anna Berg? The locker number of Anna Berg is 48213."). Predicting the number at the
# question pays only by finding the fact far back in the context, which is what a model extended to a longer context
# has to learn to use (scripts/train-long.sh; issue 14's passkey evaluation measures it).
#
# - The distance from a fact to its question is log-uniform between 64 and MAX_TOKENS tokens (counted at ~3 chars a
#   token, this corpus's rate), so short and long ranges are trained alike.
# - Several facts are open at once, with different owners and things, so the cue has to be matched, not just the
#   last number copied. Half the things are random word pairs from the corpus, so any repeated phrase works as a cue. A third of the questions answer without restating the cue ("It is 48213."), which needs the
#   fact retrieved by meaning rather than by the repeated phrase.
# - The passkey test's own wording ("pass key", its filler sentences) never appears here, so that evaluation measures
#   transfer to a prompt the model was not trained on.
# Deterministic for a seed; stdlib only.
#   usage: retrieval.py CORPUS_TEXT_DIR OUT.txt [CHARS] [MAX_TOKENS] [SEED]
import random
import re
import sys
from pathlib import Path

corpus, out_path = Path(sys.argv[1]), Path(sys.argv[2])
total_chars = int(sys.argv[3]) if len(sys.argv) > 3 else 6_000_000
max_tokens = int(sys.argv[4]) if len(sys.argv) > 4 else 16_384
rng = random.Random(int(sys.argv[5]) if len(sys.argv) > 5 else 1)
CHARS_PER_TOKEN = 3.0
MIN_TOKENS = 64

FIRST = ["Anna", "Marcus", "Lena", "Tomas", "Priya", "Oskar", "Mei", "Jonah", "Clara", "Ivan", "Sofia", "Daniel",
         "Amara", "Felix", "Nora", "Hugo", "Yara", "Elias", "Rosa", "Kenji", "Maya", "Victor", "Iris", "Omar"]
LAST = ["Berg", "Okafor", "Lindqvist", "Moreau", "Sato", "Novak", "Reyes", "Fischer", "Walsh", "Haddad", "Costa",
        "Petrov", "Nakamura", "Byrne", "Silva", "Kowalski", "Dubois", "Larsen", "Quinn", "Abbott"]
PLACES = ["the blue house", "the old mill", "the north tower", "the harbour office", "the village school",
          "the corner shop", "the east gate", "the river cabin", "the library annex", "the night train"]
THINGS = ["locker number", "room number", "account number", "door code", "secret number", "ticket number",
          "order number", "phone extension", "safe combination", "serial number", "lucky number", "house number",
          "badge number", "seat number", "parcel number", "vault code"]


def number():
    digits = rng.choice([3, 4, 5, 5, 5, 6, 7])
    return str(rng.randint(10 ** (digits - 1), 10 ** digits - 1))


def cue(owner, thing):
    return f"{thing} of {owner}" if owner else thing


def fact_text(owner, thing, value):
    name = cue(owner, thing)
    return rng.choice([
        f"The {name} is {value}.",
        f"The {name} is {value}. Remember it.",
        f"The {name} is {value}. Remember it. {value} is the {name}.",
        f"Note that the {name} is {value}.",
    ])


def question_text(owner, thing, value):
    name = cue(owner, thing)
    return rng.choice([
        f"What is the {name}? The {name} is {value}.",
        f"What is the {name}? The {name} is {value}.",
        f"Recall the {name}. It is {value}.",
        f"The {name}, mentioned earlier, is {value}.",
    ])


sources = sorted(corpus.glob("*.txt"))
texts = {p.stem: p.read_text(encoding="utf-8") for p in sources}
names = sorted(texts)
weights = [len(texts[n]) for n in names]
# Half the facts name their thing with two words drawn from the corpus ("the harbour lantern"), so what is learned is
# to find whatever phrase the question repeats, not a fixed list of phrases. The passkey test's words are left out.
counts = {}
for word in re.findall(r"\b[a-z]{3,10}\b", texts[names[0]] + texts[names[-1]]):
    counts[word] = counts.get(word, 0) + 1
WORDS = sorted(w for w, n in counts.items() if n >= 5 and w not in {"pass", "key", "keys", "passkey", "remember"})

out, written = [], 0
while written < total_chars:
    # One run of corpus text: a random stretch of one source, long enough to hold the longest distance.
    name = rng.choices(names, weights)[0]
    text = texts[name]
    span = int(rng.uniform(0.5, 1.5) * max_tokens * CHARS_PER_TOKEN)
    start = text.find("\n", rng.randrange(max(1, len(text) - span))) + 1
    lines = text[start:start + span].split("\n")[:-1]
    open_facts, pieces, pos = [], [], 0   # open_facts: (due position in chars, owner, thing, value)
    used = set()
    for line in lines:
        pieces.append(line)
        pos += len(line) + 1
        due = [f for f in open_facts if f[0] <= pos]
        for f in due:
            pieces.append(question_text(*f[1:]))
            pos += len(pieces[-1]) + 1
            open_facts.remove(f)
        if rng.random() < 0.08 and len(open_facts) < 12:
            if rng.random() < 0.5:
                owner, thing = None, f"{rng.choice(WORDS)} {rng.choice(WORDS)}"
            else:
                owner = f"{rng.choice(FIRST)} {rng.choice(LAST)}" if rng.random() < 0.7 else rng.choice(PLACES)
                thing = rng.choice(THINGS)
            if (owner, thing) in used:
                continue
            used.add((owner, thing))
            value = number()
            pieces.append(fact_text(owner, thing, value))
            pos += len(pieces[-1]) + 1
            tokens = MIN_TOKENS * (max_tokens / MIN_TOKENS) ** rng.random()
            open_facts.append((pos + int(tokens * CHARS_PER_TOKEN), owner, thing, value))
    # Facts still open are asked at the end of the run, at whatever distance that is.
    for f in open_facts:
        pieces.append(question_text(*f[1:]))
    run = "\n".join(pieces) + "\n\f\n"
    out.append(run)
    written += len(run)

out_path.write_text("".join(out), encoding="utf-8")
print(f"retrieval.py: {written:,} chars in {len(out)} runs, distances {MIN_TOKENS}-{max_tokens} tokens", file=sys.stderr)
