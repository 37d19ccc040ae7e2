"""Histograms: bucket bounds and BCC's classic drawing (libbpf-tools' layout)."""

import pytest

from eunomia.output.histogram import linear_histogram, log2_histogram


def test_log2_buckets_follow_libbpf_tools_slots():
    hist = log2_histogram([1, 0, 3, 0])
    assert [(b.low, b.high) for b in hist.buckets] == [(0, 1), (2, 3), (4, 7), (8, 15)]
    assert hist.total == 4


def test_log2_render_matches_classic_layout():
    text = log2_histogram([0, 2, 4, 0, 0], unit="usecs").render().splitlines()
    assert text[0] == "     usecs               : count    distribution"
    assert text[1] == "         0 -> 1          : 0        |" + " " * 40 + "|"
    assert text[2] == "         2 -> 3          : 2        |" + "*" * 20 + " " * 20 + "|"
    assert text[3] == "         4 -> 7          : 4        |" + "*" * 40 + "|"
    assert len(text) == 4  # trailing empty buckets are not drawn


def test_log2_wide_layout_beyond_slot_32():
    slots = [0] * 40
    slots[39] = 1
    lines = log2_histogram(slots, "nsecs").render().splitlines()
    assert lines[0].startswith(" " * 15 + "nsecs")
    assert "549755813888 -> 1099511627775" in lines[-1]
    assert lines[-1].endswith("|" + "*" * 20 + "|")


def test_empty_histogram_renders_nothing():
    assert log2_histogram([0, 0]).render() == ""
    assert linear_histogram([0]).render() == ""


def test_linear_render_skips_empty_rows_and_uses_base_and_step():
    hist = linear_histogram([0, 5, 0, 10], base=100, step=10, unit="ms")
    lines = hist.render().splitlines()
    assert lines[0] == "     ms            : count     distribution"
    assert lines[1] == "        110        : 5        |" + "*" * 20 + " " * 20 + "|"
    assert lines[2] == "        130        : 10       |" + "*" * 40 + "|"
    assert hist.buckets[3].low == 130 and hist.buckets[3].high == 139


def test_histogram_as_data():
    data = log2_histogram([1, 2], unit="us").to_dict()
    assert data == {"kind": "log2", "unit": "us", "total": 3,
                    "buckets": [{"low": 0, "high": 1, "count": 1},
                                {"low": 2, "high": 3, "count": 2}]}


def test_map_histograms_one_per_key_with_counts():
    from eunomia.decode import Record
    from eunomia.output.histogram import map_histograms, render_sections

    entries = [(Record(pid=1, comm="a"), Record(slots=[0, 2, 1])),
               (Record(pid=2, comm="b"), Record(slots=[0, 0, 0])),      # empty: skipped
               (Record(pid=3, comm="c"), Record(slots=[5]))]
    hists = map_histograms(entries, unit="usecs")
    assert [key.pid for key, _ in hists] == [1, 3]
    assert [b.count for b in hists[0][1].buckets] == [0, 2, 1]
    text = render_sections(hists)
    first, second = text.split("\n\n")
    assert first.splitlines()[0] == "pid = 1, comm = a"
    assert "usecs" in first.splitlines()[1] and "2 -> 3" in first
    assert second.startswith("pid = 3, comm = c\n")
    linear = map_histograms([(0, [1, 0, 3])], kind="linear", base=10, step=5)
    assert [(b.low, b.count) for b in linear[0][1].buckets] == [(10, 1), (15, 0), (20, 3)]
    assert render_sections(linear) == linear[0][1].render()     # one int key: no header
    assert linear[0][1].to_dict()["total"] == 4
    with pytest.raises(ValueError, match="log2"):
        map_histograms([], kind="cubic")


def test_sampled_entries_sorted_and_cut():
    import pytest

    from eunomia.errors import ArgumentError
    from eunomia.output.lines import ordered
    entries = [({"pid": 1}, {"bytes": 10, "comm": "a"}), ({"pid": 2}, {"bytes": 300, "comm": "b"}),
               ({"pid": 3}, {"bytes": 20, "comm": "c"})]
    assert [k["pid"] for k, _ in ordered(entries, "bytes", None)] == [2, 3, 1]
    assert [k["pid"] for k, _ in ordered(entries, "pid", 2)] == [3, 2]
    assert [k["pid"] for k, _ in ordered(entries, None, 1)] == [1]
    assert ordered([(5, 1), (6, 9)], "value", None) == [(6, 9), (5, 1)]
    with pytest.raises(ArgumentError, match="--sort names no field 'nope'"):
        ordered(entries, "nope", None)
