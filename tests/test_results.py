"""The results-file format (neurcomp.results) and how chapter 9 groups its records (book.synthesis)."""
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurcomp import results
from neurcomp.book import synthesis as syn
from neurcomp.book.benchmarks import Result
from neurcomp.results import Record

_names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
_maybe = st.one_of(st.none(), st.floats(0, 1e3, allow_nan=False))
records = st.builds(Record, label=_names, group=_names, image=_names, model=_names, base=_names, value=_maybe,
                    method=st.sampled_from(sorted(results.METHOD_LABELS)), bpp=st.floats(0, 24, allow_nan=False),
                    psnr=st.floats(0, 100, allow_nan=False), steps=st.one_of(st.none(), st.integers(1, 10 ** 6)),
                    ms_ssim=st.one_of(st.none(), st.floats(0, 1)), ideal_bpp=_maybe,
                    ideal=st.sampled_from(["", "information content", "NELBO", "KL"]),
                    pixels=st.one_of(st.none(), st.integers(1, 10 ** 8)), enc_s=_maybe, dec_s=_maybe,
                    role=st.sampled_from(["", "anchor"]),
                    extra=st.dictionaries(_names, st.one_of(st.integers(), _names), max_size=3))


@settings(max_examples=50, deadline=None)
@given(st.lists(records, max_size=5))
def test_records_survive_a_results_file(tmp_path_factory, recs):
    path = tmp_path_factory.mktemp("r") / "x.json"
    results.write(path, recs, {"command": "test", "weights": {}}, table=[1, 2])
    f = results.read(path)
    assert f.records == recs and [r.extra for r in f.records] == [r.extra for r in recs]
    assert f.details == {"table": [1, 2]} and f.provenance["command"] == "test"


def test_json_gets_no_nan_and_numpy_numbers_become_python_ones(tmp_path):
    r = Record("x", "kodak", "a", "m@1", "m", None, "amortized", np.float32(0.5), float("nan"),
               extra={"arr": np.arange(3), "inf": float("inf")})
    d = json.loads(results.write(tmp_path / "x.json", [r], {}).read_text())
    assert d["records"][0]["psnr"] is None and d["records"][0]["bpp"] == 0.5
    assert d["records"][0]["extra"] == {"arr": [0, 1, 2], "inf": None}


@pytest.mark.parametrize("content, message", [
    ('[{"image": "a"}]', r"^old\.json: not a neurcomp-results/1 results file \(format 'list'\); upgrade it with "),
    ('{"records": []}', r"^old\.json: not a neurcomp-results/1 results file \(format None\)"),
    ('{"format": "neurcomp-results/1", "records": [{"image": "a", "psnr_rec": 1}]}',
     r"^old\.json: a record has unknown field\(s\) psnr_rec$"),
    ("{not json", r"^old\.json: cannot read it as JSON"),
])
def test_a_file_of_another_layout_is_refused_in_one_line(tmp_path, content, message):
    (tmp_path / "old.json").write_text(content)
    with pytest.raises(results.ResultsFileError, match=message):
        results.read(tmp_path / "old.json")
    assert results.is_results_file(tmp_path / "old.json") == ("neurcomp-results/1" in content)


def _recs(label, group, images, points, method="amortized", role="", base="m"):
    return [Record(label, group, img, f"{base}@{p}", base, p, method, 0.1 * p + 0.01 * i, 25 + p + i, role=role)
            for p in points for i, img in enumerate(images)]


def _result(name, recs):
    return Result(None, Path(f"{name}.json"), {"provenance": {}}, "current", "", recs)


def test_rows_group_by_label_and_images_and_keep_the_file_with_a_curve():
    four, two = ["a", "b", "c", "d"], ["a", "b"]
    res = {"first": _result("first", _recs("net", "kodak", two, [1, 2, 3, 4, 5])
                            + _recs("JPEG", "kodak", two, [1, 2, 3, 4, 5], method="jpeg", base="jpeg")),
           "second": _result("second", _recs("net", "kodak", four, [3])  # more images, but one rate point
                             + _recs("JPEG", "kodak", four, [1, 2, 3, 4, 5, 6], method="jpeg", base="jpeg")
                             + _recs("anchor", "kodak", four, [1, 2, 3, 4, 5], role="anchor", base="h")
                             + _recs("net", "crops 64", two, [1, 2, 3, 4]))}
    rows = syn.method_rows(res)
    assert [(r.label, r.group, r.source) for r in rows] == [
        ("anchor", "kodak", "second"), ("net", "kodak", "first"), ("JPEG", "kodak", "second"),
        ("net", "crops 64", "second")]
    net = rows[1]
    assert {r.image for r in net.jpeg} == set(two)  # the file with the most images, restricted to the row's
    assert [r.model for r in net.jpeg][:2] == ["jpeg@1", "jpeg@1"] and len(net.jpeg) == 12  # 6 points x 2 images
    assert {r.image for r in net.amortized} == set(two) and rows[0].anchor and not net.anchor
    assert rows[3].jpeg is None and rows[3].amortized is None  # no anchor on those crops
    s = syn.summary(rows)
    assert s[0]["bd_amortized"] == "anchor" and s[1]["images"] == "2 Kodak" and s[3]["images"] == "2 64 px crops"
    assert isinstance(s[1]["bd_jpeg"], float) and s[1]["bd_amortized"] is not None


def test_the_row_style_comes_from_the_method_else_the_network():
    res = {"f": _result("f", _recs("x", "kodak", ["a"], [1], method="sga", base="mshp")
                        + _recs("y", "kodak", ["a"], [1], base="mshp") + _recs("z", "kodak", ["a"], [1], base="new"))}
    sga, amortized, new = sorted(syn.method_rows(res), key=lambda r: r.label)
    assert syn.style(sga)["color"] == "#D55E00" and syn.style(amortized)["color"] == "#0072B2"
    assert syn.style(new) == {}
