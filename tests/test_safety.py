"""Nothing in src/ may unpickle: model and data files come from users."""

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "starlabel"
FORBIDDEN = [
    r"pickle\.loads?\(",
    r"joblib\.load\(",
    r"allow_pickle\s*=\s*True",
    r"weights_only\s*=\s*False",
    r"\bimport\s+pickle\b",
    r"(?<![.\w])eval\(",  # the builtin, not module.eval()
    r"(?<![.\w])exec\(",
]


def test_no_unsafe_calls_in_src():
    offenders = []
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for pattern in FORBIDDEN:
            for m in re.finditer(pattern, text):
                line = text[: m.start()].count("\n") + 1
                offenders.append(f"{path.relative_to(SRC)}:{line}: {m.group(0)}")
    assert not offenders, offenders


def test_the_check_finds_what_it_looks_for(tmp_path):
    sample = "import pickle\nx = pickle.load(f)\nnp.load(p, allow_pickle=True)\ny = eval(s)\n"
    hits = [p for p in FORBIDDEN if re.search(p, sample)]
    assert len(hits) == 4
    assert not any(re.search(p, "module.eval()\nnet.train()") for p in FORBIDDEN)
