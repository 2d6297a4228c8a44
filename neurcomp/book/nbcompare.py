"""How a chapter's stored outputs are compared with a fresh run's (the book's nbval rule).

nbval compares every output of a re-executed chapter with the one stored in the notebook, as strings.
Most of a chapter's outputs are deterministic (seeded, one thread, integer-table coders), but a few
things in them are not, and a string comparison would fail on them or force whole cells to be
skipped. This module states once what is *not* compared, and installs it into nbval as a pytest plugin
(``-p neurcomp.book.nbcompare``, in ``pyproject.toml``'s ``addopts``, so every ``pytest --nbval`` in the
repository uses it):

* **durations** (``14.8 s``, ``0.3 h``, ``2 min``, ``120 ms``, ``it/s``) and progress bars: wall
  clocks on a shared CPU swing 2x between runs; each becomes ``<time>``;
* **stderr**: progress bars and library warnings, nothing a reader is told to check;
* **the last digit of a float**: a printed number matches when it agrees to :data:`RTOL` relative,
  or, printed with decimals, to :data:`PRINTED_UNITS` unit of its last digit (a value near a rounding
  boundary may flip its last digit between CPUs); integers get only the relative tolerance, so a
  count (5 images, 300 steps) must be equal, and a stale number (a re-shipped network, a changed
  method: percent-level changes) still fails;
* **runs of spaces**: a table's columns move when a number's width changes;
* **on another CPU, the digits of a float32 optimization**: a chapter's training, SGA, bits-back and
  overfitting runs are float32 arithmetic, whose last bits depend on the CPU's vector kernels (AVX2,
  AVX-512, their cache blocking), and a few hundred steps of gradient descent carry a last-bit difference
  into the third digit (measured between the CPUs of this project's machines: up to 0.75 % of a loss or a
  rate). A notebook re-executed by ``benchmarks/book.py --inplace`` records the CPU it ran on
  (:func:`cpu_fingerprint`, in the notebook's metadata ``neurcomp.executed_on``). On that CPU the rule
  above holds; on another one (or for a notebook that records none), numbers agree to
  :data:`FOREIGN_RTOL` relative or :data:`FOREIGN_UNITS` units of their last digit, and a cell tagged
  ``nbval-same-cpu`` has its words and the count of its numbers compared, not their values: numbers that
  move further on another CPU (a bits-back stack's word padding, anywhere in 0..31 bits once a latent
  changes; a count of codewords in use; a difference of two nearly equal numbers; a short training's
  sweep), found by re-running the chapters with AVX2 kernels on an AVX-512 machine
  (``ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_CBWR=AVX2``) and by CI on another CPU.

Everything else (words, integers printed by counting, the order and number of outputs) must be equal.
A cell whose output is genuinely not reproducible (a timing table, a wall-clock plot) keeps the
``nbval-ignore-output`` tag; ``tests/test_book_config.py`` bounds how many do.

>>> same_output("SGA 1.1440 -8.6% 0.607 bpp (15.3 s)", "SGA   1.1441 -8.6% 0.607 bpp (9.1 s)")
True
>>> same_output("net 10,296 bits", "net 10,297 bits"), same_output("net 10,296 bits", "net 10,396 bits")
(True, False)
>>> same_output("29.34 dB", "29.84 dB"), same_output("5 images", "6 images")
(False, False)
>>> first_difference("amortized 0.622 bpp", "amortized 0.701 bpp")
"'0.622' vs '0.701'"
"""
from __future__ import annotations

import math
import re

from ..results import cpu_fingerprint  # what the notebooks record (also re-exported)

#: relative tolerance of a printed number
RTOL = 1e-3
#: absolute tolerance in units of the last printed digit (1 -> 0.01 for "29.34"); integers: none
PRINTED_UNITS = 1
#: the same on a CPU other than the one that executed the notebook (float32 optimizations differ in the
#: third digit there: up to 0.75 % measured, see the module docstring)
FOREIGN_RTOL, FOREIGN_UNITS = 0.03, 3
#: the notebook metadata key that records the CPU a chapter was executed on
EXECUTED_ON = "executed_on"
#: a cell whose numbers are compared only on the CPU that executed it (its words everywhere)
SAME_CPU_TAG = "nbval-same-cpu"

_NUMBER = re.compile(r"(?<![\w.])[-+\u2212]?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,])|(?<![\w.])[-+\u2212]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_DURATION = re.compile(
    r"\d+(?:\.\d+)?\s?(?:ms|s|sec|seconds|min|minutes|h|hours)\b(?!\s*/\s*image)"  # 14.8 s, 0.3 h (not "s / image")
    r"|\d+(?:\.\d+)?\s?(?:it/s|s/it)"  # tqdm rates
    r"|\[\d+:\d+(?::\d+)?<[\d:?]+(?:,[^\]]*)?\]"  # tqdm's [00:12<00:00, ...]
)
_SPACES = re.compile(r"[ \t]+")


def normalize(text: str) -> str:
    """The text as compared: durations replaced by ``<time>``, runs of spaces collapsed, lines stripped.

    >>> normalize("encoding 14.8 s (line 2: 11.6 s)   done")
    'encoding <time> (line 2: <time>) done'
    """
    text = _DURATION.sub("<time>", text)
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.splitlines())


def _value(token: str) -> float:
    return float(token.replace(",", "").replace("\u2212", "-"))


def _last_digit(token: str) -> float:
    """One unit of the last printed digit: 0.01 for "29.34", 1 for "10,296"."""
    mantissa = re.split("[eE]", token)[0]
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    exponent = int(re.split("[eE]", token)[1]) if re.search("[eE]", token) else 0
    return 10.0 ** (exponent - decimals)


def numbers_agree(a: str, b: str, rtol: float = RTOL, units: float = PRINTED_UNITS) -> bool:
    """Whether two printed numbers agree to ``rtol`` or to ``units`` of their last printed digit.

    >>> numbers_agree("0.6284", "0.6285"), numbers_agree("0.6284", "0.6384"), numbers_agree("3", "3.0")
    (True, False, True)
    >>> numbers_agree("29.34", "29.35"), numbers_agree("29.34", "29.38"), numbers_agree("299", "300")
    (True, False, False)
    """
    x, y = _value(a), _value(b)
    if x == y:
        return True
    if math.isnan(x) or math.isnan(y):
        return False
    decimals = [_last_digit(t) for t in (a, b) if "." in t or "e" in t.lower()]
    unit = units * max(decimals) if decimals else 0.0
    return abs(x - y) <= max(rtol * max(abs(x), abs(y)), unit) * (1 + 1e-9)


def _parts(text: str) -> tuple[list[str], list[str]]:
    """``(words, numbers)``: the text between numbers and the numbers, in order."""
    text = normalize(text)
    numbers = _NUMBER.findall(text)
    return _NUMBER.split(text), numbers


def first_difference(expected: str, got: str, rtol: float = RTOL, units: float = PRINTED_UNITS,
                     values: bool = True) -> str | None:
    """The first place where two outputs differ under this module's rule (None: they agree); ``rtol`` and
    ``units`` as in :func:`numbers_agree`, ``values=False`` compares the words and the count of numbers only.

    >>> first_difference("loss 1.1418", "loss 1.1482"), first_difference("loss 1.1418", "loss 1.1482", FOREIGN_RTOL)
    ("'1.1418' vs '1.1482'", None)
    >>> first_difference("padding +17 bits", "padding +5 bits", values=False)
    """
    (w1, n1), (w2, n2) = _parts(expected), _parts(got)
    if len(w1) != len(w2):
        return f"{len(n1)} numbers vs {len(n2)}: {_diff_text(normalize(expected), normalize(got))}"
    for k, (a, b) in enumerate(zip(w1, w2)):
        if a != b:
            return f"text {a.strip()[-60:]!r} vs {b.strip()[-60:]!r}"
        if values and k < len(n1) and not numbers_agree(n1[k], n2[k], rtol, units):
            return f"{n1[k]!r} vs {n2[k]!r}"
    return None


def _diff_text(a: str, b: str) -> str:
    i = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return f"{a[max(0, i - 40):i + 40]!r} vs {b[max(0, i - 40):i + 40]!r}"


def same_output(expected: str, got: str) -> bool:
    """Whether a fresh run's output ``got`` matches the stored ``expected`` (see the module's rule)."""
    return first_difference(expected, got) is None


#: output fields that are never compared (besides nbval's own skips: metadata, execution counts, images)
SKIPPED_STREAMS = ("stderr",)


def _fields(outputs, skip) -> dict:
    """``{field: [values]}`` of a cell's outputs as nbval sees them: a stream by its name (``stdout``), a
    display's data by MIME type, anything else by key; ``skip`` and :data:`SKIPPED_STREAMS` left out."""
    fields: dict = {}
    for out in outputs:
        if out.get("output_type") == "stream":
            if out.get("name") not in SKIPPED_STREAMS:
                fields.setdefault(out.get("name"), []).append(out.get("text", ""))
            continue
        for key, value in out.items():
            if key in skip or key == "output_type":
                continue
            items = value.items() if key == "data" else [(key, value)]
            for k, v in items:
                if k not in skip:
                    fields.setdefault(k, []).append("".join(v) if isinstance(v, list) else v)
    return fields


def differences(test, ref, skip=("metadata", "traceback", "execution_count", "image/png", "image/jpeg"),
                rtol: float = RTOL, units: float = PRINTED_UNITS, values: bool = True) -> list[str]:
    """What differs between a fresh run's outputs ``test`` and the stored ``ref`` (nbformat output dicts,
    streams already coalesced), under this module's rule (``rtol``, ``units``, ``values``: see
    :func:`first_difference`); an empty list when they match.

    >>> out = lambda text: [{"output_type": "stream", "name": "stdout", "text": text}]
    >>> differences(out("loss 1.1440 (15 s)"), out("loss 1.1440 (31 s)"))
    []
    >>> differences(out("loss 1.1440"), out("loss 1.2440"))
    ["stdout: '1.2440' vs '1.1440' (stored vs this run)"]
    >>> differences([], out("a line the stored notebook had"))
    ["output fields differ: stored ['stdout'], this run []"]
    """
    got, want = _fields(test, skip), _fields(ref, skip)
    if set(got) != set(want):
        return [f"output fields differ: stored {sorted(want)}, this run {sorted(got)}"]
    problems = []
    for key, wanted in want.items():
        if len(wanted) != len(got[key]):
            problems.append(f"{key}: {len(wanted)} outputs stored, {len(got[key])} in this run")
            continue
        for w, g in zip(wanted, got[key]):
            if isinstance(w, str) and isinstance(g, str):
                diff = first_difference(w, g, rtol, units, values)
                if diff:
                    problems.append(f"{key}: {diff} (stored vs this run)")
            elif w != g:
                problems.append(f"{key}: {w!r} vs {g!r} (stored vs this run)")
    return problems


def rule_for(notebook_metadata, cell_tags, here: str | None = None) -> dict:
    """The comparison rule of a cell (keyword arguments of :func:`differences`): the strict one on the CPU that
    executed the notebook, else :data:`FOREIGN_RTOL` / :data:`FOREIGN_UNITS`, values not at all in a cell
    tagged :data:`SAME_CPU_TAG`.

    >>> made = {"neurcomp": {EXECUTED_ON: "x86_64 | cpu A"}}
    >>> rule_for(made, [], "x86_64 | cpu A"), rule_for(made, [], "x86_64 | cpu B")
    ({'rtol': 0.001, 'units': 1, 'values': True}, {'rtol': 0.03, 'units': 3, 'values': True})
    >>> rule_for({}, [SAME_CPU_TAG], "x86_64 | cpu A")["values"]
    False
    """
    made_on = (notebook_metadata or {}).get("neurcomp", {}).get(EXECUTED_ON)
    if made_on is not None and made_on == (here if here is not None else cpu_fingerprint()):
        return {"rtol": RTOL, "units": PRINTED_UNITS, "values": True}
    return {"rtol": FOREIGN_RTOL, "units": FOREIGN_UNITS, "values": SAME_CPU_TAG not in (cell_tags or [])}


def _compare_outputs(cell, test, ref, skip_compare=None):
    """nbval's ``IPyNbCell.compare_outputs`` with this module's rule (the differences go to nbval's report)."""
    nb = getattr(cell.parent, "nb", None)
    tags = getattr(getattr(cell, "cell", None), "metadata", {}).get("tags", [])
    rule = rule_for(nb.metadata if nb is not None else None, tags)
    cell.comparison_traceback = differences(test, ref, skip_compare or cell.parent.skip_compare, **rule)
    if cell.comparison_traceback and rule["rtol"] != RTOL:
        cell.comparison_traceback.append(f"(compared as on another CPU than the one that executed the notebook: "
                                         f"{rule['rtol']:.0%} or {rule['units']} units of the last digit)")
    return not cell.comparison_traceback


def pytest_configure(config):
    """(pytest plugin hook) Make nbval compare a chapter's outputs with this module's rule."""
    try:
        import nbval.plugin  # a test dependency: without it there is nothing to configure
    except ImportError:
        return
    nbval.plugin.IPyNbCell.compare_outputs = _compare_outputs
