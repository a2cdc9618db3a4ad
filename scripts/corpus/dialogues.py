#!/usr/bin/env python3
# Builds the chat-format stage's text: synthetic dialogues in MiMo's chat format (ChatML turns, the empty think
# block that the generation prompt carries when thinking is off), made from the pre-training corpus's own sources
# so the stage teaches the turn format and stopping at <|im_end|>, not new knowledge:
#   definitions   WordNet glosses (wordnet.txt: "word (pos): gloss; \"example\"")
#   arithmetic    sums, differences and small products with their exact answers
#   code          Python functions that have a docstring (py-*.txt), shown without it; the answer is its first paragraph
#   greetings     short greetings and questions about the assistant itself
# A third of the dialogues have two or three exchanges, and one in eight opens with a system turn. Items whose key
# hashes into the held-out share (about 2%) never appear in the text; they go to OUT_HELDOUT.jsonl as prompts with
# reference answers, for checking that the model answers and stops on questions it was not trained on.
# Deterministic for a seed. Written for MimoSharp's scripts/train-chat.sh; stdlib only.
#   usage: dialogues.py CORPUS_TEXT_DIR OUT.txt OUT_HELDOUT.jsonl [DIALOGUES] [SEED]
import ast
import hashlib
import json
import random
import re
import sys
from pathlib import Path

corpus, out_text, out_heldout = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
count = int(sys.argv[4]) if len(sys.argv) > 4 else 40000
rng = random.Random(int(sys.argv[5]) if len(sys.argv) > 5 else 1)
THINK_OFF = "<think>\n\n</think>\n\n"   # what ChatTemplate's generation prompt appends with thinking off
SYSTEM_PROMPTS = [
    "You are MiMo, a small AI assistant.",
    "You are a helpful assistant. Answer briefly.",
    "You are MiMo, an AI assistant developed by Xiaomi.",
]


def held_out(kind, key):
    return hashlib.sha256(f"{kind}:{key}".encode()).digest()[0] < 6   # 6/256 ≈ 2.3%


def render(system, exchanges):
    """ChatTemplate.Render's text for the conversation, the last assistant turn as the model generates it."""
    parts = [f"<|im_start|>system\n{system}<|im_end|>\n"] if system else []
    for i, (user, assistant) in enumerate(exchanges):
        think = THINK_OFF if i == len(exchanges) - 1 else ""   # earlier turns are history: no think block
        parts.append(f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n{think}{assistant}<|im_end|>\n")
    return "".join(parts)


# ---- definitions ----
POS = {"noun": "noun", "verb": "verb", "adj": "adjective", "adv": "adverb"}


def definitions():
    items = []
    for line in (corpus / "wordnet.txt").read_text(encoding="utf-8").splitlines():
        m = re.match(r"^(.+?) \((noun|verb|adj|adv)\): (.+)$", line)
        if not m:
            continue
        word, pos, gloss = m.group(1).strip(), POS[m.group(2)], m.group(3).strip()
        meaning, _, example = gloss.partition('; "')
        meaning = meaning.strip().rstrip(";")
        example = example.split('"')[0].strip() if example else ""
        if not meaning or len(word) < 2:
            continue
        questions = [f'What does "{word}" mean?', f"Define {word}.", f'What is the meaning of the word "{word}"?',
                     f"What does the {pos} {word} mean?", f"{word}?"]
        if pos == "noun":
            questions.append(f"What is {'an' if word[0] in 'aeiou' else 'a'} {word}?")
        answer = f'"{word}" ({pos}) means: {meaning}.'
        if example:
            answer += f' For example: "{example}"'
        items.append((word + "/" + pos, questions, answer))
    return items


# ---- arithmetic ----
def arithmetic(n):
    items = []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.4:
            a, b = rng.randint(0, 999), rng.randint(0, 999)
            expr, value = f"{a} + {b}", a + b
        elif kind < 0.75:
            a, b = rng.randint(0, 999), rng.randint(0, 999)
            a, b = max(a, b), min(a, b)
            expr, value = f"{a} - {b}", a - b
        else:
            a, b = rng.randint(2, 20), rng.randint(2, 20)
            expr, value = f"{a} × {b}", a * b
        questions = [f"What is {expr}?", f"Compute {expr}.", f"{expr} = ?", f"How much is {expr}?",
                     f"Please calculate {expr}."]
        items.append((expr, questions, f"{expr} = {value}."))
    return items


# ---- code ----
def code():
    items = []
    for path in sorted(corpus.glob("py-*.txt")):
        for doc in path.read_text(encoding="utf-8").split("\n\f\n"):
            header, _, source = doc.partition("\n")
            try:
                tree = ast.parse(source)
            except (SyntaxError, ValueError, RecursionError):
                continue
            lines = source.splitlines()
            for node in ast.walk(tree):
                if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name.startswith("_"):
                    continue
                doc_string = ast.get_docstring(node)
                if not doc_string or not node.body or node.end_lineno is None:
                    continue
                first = doc_string.split("\n\n")[0]
                summary = " ".join(first.split())
                if len(summary) < 20 or len(summary) > 400 or ">>>" in summary:
                    continue
                body = node.body[1:]   # the docstring is the first statement; the question shows the code without it
                if not body:
                    continue
                start = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
                head = lines[start:node.body[0].lineno - 1]   # the def line(s) up to the docstring
                rest = lines[body[0].lineno - 1:node.end_lineno]
                shown = head + rest
                if len(shown) > 24 or len(shown) < 3:
                    continue
                indent = min(len(s) - len(s.lstrip()) for s in shown if s.strip())
                snippet = "\n".join(s[indent:] for s in shown)
                questions = [f"What does this Python function do?\n\n```python\n{snippet}\n```",
                             f"Explain this code:\n\n```python\n{snippet}\n```",
                             f"```python\n{snippet}\n```\n\nWhat is `{node.name}` for?"]
                items.append((f"{header}:{node.name}:{node.lineno}", questions, f"`{node.name}`: {summary}"))
    return items


# ---- greetings ----
GREETINGS = ["Hello!", "Hi", "Hi there.", "Hey!", "Good morning!", "Good evening.", "Hello, who are you?",
             "Who are you?", "What are you?", "What is your name?", "Hi! What can you do?", "What can you do?",
             "Are you a person?", "Who made you?", "How are you?", "Hello, how are you today?", "Nice to meet you."]
THANKS = ["Thanks!", "Thank you.", "Thank you, bye.", "Great, thanks.", "OK, goodbye."]
INTRO = ["I am MiMo, a small language model.", "I'm MiMo, a small AI assistant.",
         "My name is MiMo. I am a small language model trained with MimoSharp."]
SKILLS = ["I can define English words, do simple arithmetic and explain short pieces of Python code.",
          "I know word meanings, simple sums and a little Python."]


def greeting(user):
    u = user.lower()
    if "how are you" in u:
        return f"I am fine, thank you. {rng.choice(INTRO)} How can I help you?"
    if "who made" in u:
        return "I was trained with MimoSharp, a .NET implementation of Xiaomi's MiMo-V2-Flash architecture."
    if "person" in u:
        return f"No. {rng.choice(INTRO)}"
    if "can you do" in u:
        return rng.choice(SKILLS)
    if "who" in u or "what are you" in u or "name" in u:
        return f"{rng.choice(INTRO)} {rng.choice(SKILLS)}"
    if "meet you" in u:
        return "Nice to meet you too. What would you like to know?"
    return f"Hello! {rng.choice(INTRO)} How can I help you?"


def main():
    pools = {"definitions": definitions(), "arithmetic": arithmetic(count), "code": code()}
    train = {k: [it for it in v if not held_out(k, it[0])] for k, v in pools.items()}
    held = {k: [it for it in v if held_out(k, it[0])] for k, v in pools.items()}
    for k in pools:
        rng.shuffle(train[k])
        print(f"dialogues: {k}: {len(train[k])} train items, {len(held[k])} held out", file=sys.stderr)
    weights = {"definitions": 0.4, "arithmetic": 0.25, "code": 0.25, "greetings": 0.1}
    cursor = {k: 0 for k in pools}

    def exchange(kind):
        if kind == "greetings":
            user = rng.choice(GREETINGS)
            return user, greeting(user)
        item = train[kind][cursor[kind] % len(train[kind])]
        cursor[kind] += 1
        return rng.choice(item[1]), item[2]

    kinds, w = list(weights), list(weights.values())
    written = 0
    with open(out_text, "w", encoding="utf-8") as f:
        for _ in range(count):
            turns = 1 if rng.random() < 0.67 else rng.choice([2, 3])
            exchanges = []
            if turns > 1 and rng.random() < 0.5:
                exchanges.append(exchange("greetings"))
            while len(exchanges) < turns:
                exchanges.append(exchange(rng.choices(kinds, w)[0]))
            if turns > 1 and rng.random() < 0.2:
                user = rng.choice(THANKS)
                exchanges[-1:] = [exchanges[-1], (user, "You are welcome!")]
            system = rng.choice(SYSTEM_PROMPTS) if rng.random() < 0.125 else None
            doc = render(system, exchanges) + "\n\f\n"
            f.write(doc)
            written += len(doc.encode())
    with open(out_heldout, "w", encoding="utf-8") as f:
        for kind in pools:
            for key, questions, answer in held[kind][:100]:
                f.write(json.dumps({"kind": kind, "prompt": questions[0], "reference": answer}) + "\n")
    print(f"dialogues: {count} dialogues, {written:,} bytes -> {out_text}", file=sys.stderr)


main()
