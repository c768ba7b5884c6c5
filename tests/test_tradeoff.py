"""The recommendation's trade-off (auditor/rules/tradeoff.py) on hand-computed cases."""

from __future__ import annotations

import math

from auditor.rules.tradeoff import Point, dominates, pareto_front, score, tradeoff

# Figures shaped like a real scan (shipped bytes, fuel per call, heap efficiency).
DEFAULT = Point("release/default", 20_000, 400.0, 0.98)
LOL = Point("release/lol_alloc", 15_300, 1200.0, 0.87)
TALC = Point("release/talc", 15_900, 200.0, 0.90)
RLSF = Point("release/rlsf", 16_500, 225.0, 0.85)  # talc beats it on all three axes


def test_domination_needs_every_axis_at_least_as_good_and_one_better():
    assert dominates(TALC, RLSF, ("size", "speed", "heap"))
    assert not dominates(TALC, DEFAULT, ("size", "speed", "heap"))  # DEFAULT has the better heap
    assert not dominates(TALC, TALC, ("size", "speed", "heap"))
    assert dominates(LOL, DEFAULT, ("size",))


def test_front_drops_only_the_dominated_variant():
    assert pareto_front([DEFAULT, LOL, TALC, RLSF]) == [DEFAULT, LOL, TALC]


def test_named_choices_and_the_balanced_score_by_hand():
    t = tradeoff([DEFAULT, LOL, TALC, RLSF])
    assert (t.smallest, t.fastest, t.most_efficient) == (LOL, TALC, DEFAULT)
    best = {"size": 15_300, "speed": 200.0, "heap": 0.98}
    # by hand: mean of log(best/size), log(best_fuel/fuel), log(heap/best_heap)
    by_hand = {p.id: (math.log(15_300 / p.bytes) + math.log(200.0 / p.fuel) + math.log(p.heap / 0.98)) / 3
               for p in (DEFAULT, LOL, TALC)}
    for p in (DEFAULT, LOL, TALC):
        assert math.isclose(score(p, best, ("size", "speed", "heap"), {"size": 1, "speed": 1, "heap": 1}),
                            by_hand[p.id])
    assert t.balanced == max((DEFAULT, LOL, TALC), key=lambda p: by_hand[p.id]) == TALC


def test_weights_move_the_balanced_choice():
    assert tradeoff([DEFAULT, LOL, TALC], weights={"size": 1, "speed": 0, "heap": 0}).balanced == LOL
    assert tradeoff([DEFAULT, LOL, TALC], weights={"size": 0, "speed": 0, "heap": 1}).balanced == DEFAULT


def test_minimums_exclude_before_the_front_is_drawn():
    t = tradeoff([DEFAULT, LOL, TALC], min_speed=0.5)  # at most 2x the fastest's fuel (400 ok, 1200 not)
    assert [x["variant"] for x in t.excluded] == ["release/lol_alloc"]
    assert "17%" in t.excluded[0]["reason"]  # 200 / 1200
    assert t.smallest == TALC
    t = tradeoff([DEFAULT, LOL, TALC], min_heap=0.95)
    assert t.front == [DEFAULT] and t.balanced == DEFAULT
    assert tradeoff([LOL], min_heap=0.95).balanced is None


def test_without_speed_figures_it_is_the_smallest():
    pts = [Point("a", 300), Point("b", 200, 100.0, 0.9)]
    t = tradeoff(pts)
    assert t.axes == ("size",)
    assert t.smallest == t.balanced == pts[1] and t.fastest is None


def test_cost_notes_say_what_each_choice_costs_against_the_others():
    t = tradeoff([DEFAULT, LOL, TALC])
    assert ("release/lol_alloc saves 600 B against release/talc but needs 6.0x the instructions per allocator "
            "call and uses only 87.0% of its heap before refusing a request (vs 90.0%)") in t.notes
    # balanced = fastest = talc, most heap-efficient = default: three pairs
    assert len(t.notes) == 3
    assert ("release/talc saves 4.0 KiB and needs 2.0x fewer instructions per allocator call against "
            "release/default but uses only 90.0% of its heap before refusing a request (vs 98.0%)") in t.notes
    t = tradeoff([DEFAULT, LOL, TALC], weights={"size": 0, "speed": 0, "heap": 1})
    assert any(n.startswith("release/lol_alloc saves 4.6 KiB against release/default but needs 3.0x") for n in t.notes)


# --------------------------------------------------------------------------- over scan records
# Hand-made variant records as a scan writes them; the front and the choices below are
# worked out by hand from these figures, not read from the code.

import copy  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from auditor.config import load_config  # noqa: E402
from auditor.errors import AuditorError  # noqa: E402
from auditor.gate.budgets import evaluate  # noqa: E402
from auditor.rules.recommend import recommended, tradeoff_settings  # noqa: E402

import clirun  # noqa: E402


def record(alloc: str, size: int, fuel: float | None, heap: float | None, churn: str = "plateau",
           profile: str = "release", speed: bool = True) -> dict:
    rt: dict = {"churn": {"verdict": churn}, "oom": {"outcome": "unreachable"}}
    if speed:
        rt["speed"] = {"reason": None, "headline": "random_realloc", "fuel_per_action": fuel,
                       "heap_efficiency": heap,
                       "workloads": {"random_realloc": {"outcome": "ok" if fuel is not None else "null",
                                                        "completed": 6872}}}
    return {"id": f"{profile}/{alloc}", "profile": profile, "allocator": alloc, "status": "ok",
            "wasm": {"bytes": size}, "allocator_check": None, "delta": None, "runtime": rt}


RECORDS = [
    record("default", 29_653, 800.9, 0.966),
    record("lol_alloc", 20_949, 1_441.0, 0.838),
    record("talc", 22_845, 413.0, 0.902),
    record("rlsf", 23_000, 910.8, 0.85),  # talc: smaller, fewer instructions, more heap -> dominated
    record("wee_alloc", 22_237, None, 0.377, churn="leak"),  # a runtime fault: never a candidate
    record("dlmalloc", 24_000, None, 0.97),  # its headline workload ran out of memory: no speed figure
]
MATRIX = [r["id"] for r in RECORDS]
PROFILES = [{"name": "release", "settings": {}}]


def test_front_and_choices_from_scan_records():
    rec = recommended(RECORDS, MATRIX, PROFILES)
    t = rec["tradeoff"]
    assert rec["variant"] == "release/lol_alloc"  # still the smallest with no runtime fault
    assert t["axes"] == ["size", "speed", "heap"]
    assert [p["variant"] for p in t["front"]] == ["release/default", "release/lol_alloc", "release/talc"]
    assert (t["smallest"]["variant"], t["fastest"]["variant"], t["most_efficient"]["variant"]) == \
        ("release/lol_alloc", "release/talc", "release/default")
    # balanced by hand: mean log-ratio against the best on each axis
    best = (20_949, 413.0, 0.966)
    by_hand = {r["id"]: (math.log(best[0] / r["wasm"]["bytes"]) + math.log(best[1] / r["runtime"]["speed"]
                         ["fuel_per_action"]) + math.log(r["runtime"]["speed"]["heap_efficiency"] / best[2])) / 3
               for r in RECORDS[:3]}
    assert t["balanced"]["variant"] == max(by_hand, key=by_hand.__getitem__) == "release/talc"
    assert t["candidates"] == 5  # wee_alloc was passed over before the trade-off
    assert t["fastest"]["speed_from"] == "release/talc probe build"
    shared = copy.deepcopy(RECORDS)  # a scan that probes one build per allocator says which one
    shared[2] = dict(shared[2], id="opt-z/talc", profile="opt-z",
                     probe_build={"profile": "release", "allocator": "talc", "path": "x"})
    t2 = recommended(shared, [r["id"] for r in shared], PROFILES)["tradeoff"]
    assert t2["fastest"] == {**t["fastest"], "variant": "opt-z/talc", "speed_from": "release/talc probe build"}
    assert t["excluded"] == [{"variant": "release/dlmalloc",
                              "reason": "no speed figure (random_realloc: null at action 6,872)", "by": None}]
    # 22,845 - 20,949 = 1,896 B = 1.9 KiB; 1,441 / 413 = 3.49
    assert ("release/lol_alloc saves 1.9 KiB against release/talc but needs 3.5x the instructions per "
            "allocator call and uses only 83.8% of its heap before refusing a request (vs 90.2%)") in t["notes"]


def test_without_the_speed_probe_the_tradeoff_is_size_alone():
    recs = [record("default", 29_653, None, None, speed=False), record("talc", 22_845, None, None, speed=False)]
    t = recommended(recs, [r["id"] for r in recs], PROFILES)["tradeoff"]
    assert t["axes"] == ["size"] and t["excluded"] == []
    assert t["smallest"]["variant"] == t["balanced"]["variant"] == "release/talc" and t["fastest"] is None


def test_config_weights_and_minimums(tmp_path):
    (tmp_path / "auditor.toml").write_text('[recommend]\nweight-size = 1\nweight-speed = 0\nweight-heap = 0\n')
    t = recommended(RECORDS, MATRIX, PROFILES, tradeoff_settings(load_config(tmp_path)))["tradeoff"]
    assert t["balanced"]["variant"] == "release/lol_alloc"  # size alone
    (tmp_path / "auditor.toml").write_text('[recommend]\nmin-speed = 0.5\nmin-heap-efficiency = "85%"\n')
    s = tradeoff_settings(load_config(tmp_path))
    assert (s["min_speed"], s["min_heap_efficiency"]) == (0.5, 0.85)
    t = recommended(RECORDS, MATRIX, PROFILES, s)["tradeoff"]
    # min-speed 0.5: at most 2 x 413 = 826 fuel -> lol_alloc (1,441) and rlsf (910.8) out
    out = {x["variant"] for x in t["excluded"]}
    assert out == {"release/dlmalloc", "release/lol_alloc", "release/rlsf"}
    assert [p["variant"] for p in t["front"]] == ["release/default", "release/talc"]
    assert t["smallest"]["variant"] == "release/talc"
    # the minimums rule lol_alloc (the smallest) out of the recommendation too, and say so;
    # dlmalloc only lacks a speed figure, which the pick does not need
    rec = recommended(RECORDS, MATRIX, PROFILES, s)
    assert rec["variant"] == "release/talc"
    assert {"reason": "slower than min-speed 50% of the fastest (29%)", "variants": ["release/lol_alloc"]} \
        in rec["skipped"]


@pytest.mark.parametrize("text,message", [
    ("min-speed = 2", "min-speed must be a share from 0 to 1"),
    ('min-heap-efficiency = "lots"', "min-heap-efficiency must be a share from 0 to 1"),
    ('min-heap-efficiency = "x%"', 'min-heap-efficiency must be a share like 0.9 or "90%"'),
    ("weight-speed = -1", "expected a non-negative number"),
    ("speedy = 1", "speedy"),
])
def test_recommend_config_is_checked(tmp_path, text, message):
    (tmp_path / "auditor.toml").write_text(f"[recommend]\n{text}\n")
    with pytest.raises(AuditorError) as e:
        load_config(tmp_path)
    assert message in str(e.value)


def _scan_record(variants: list[dict]) -> dict:
    return {"schema": "auditor.scan/1", "variants": variants, "matrix": [v["id"] for v in variants],
            "profiles": PROFILES, "baseline_variant": None}


def test_a_budget_bounds_fuel_per_action(tmp_path):
    (tmp_path / "auditor.toml").write_text('[[budget]]\nname = "speed"\nvariant = "release/*"\n'
                                           'fuel-per-action = 1000\n')
    r = evaluate(_scan_record(copy.deepcopy(RECORDS[:4])), load_config(tmp_path))
    got = {bv.variant: (bv.limits[0].actual, bv.limits[0].status) for bv in r.budgets[0].variants}
    assert got == {"release/default": (800.9, "pass"), "release/lol_alloc": (1441.0, "fail"),
                   "release/talc": (413.0, "pass"), "release/rlsf": (910.8, "pass")}
    assert {f.rule for f in r.findings} == {"AUD901"}
    # no speed figure: "not measured", never a pass
    r = evaluate(_scan_record([record("default", 1, None, None, speed=False)]), load_config(tmp_path))
    assert r.budgets[0].variants[0].limits[0].status == "error" and {f.rule for f in r.findings} == {"AUD904"}


def test_merge_redraws_the_tradeoff_with_the_shards_settings(tmp_path):
    s = {"weights": {"size": 1.0, "speed": 0.0, "heap": 0.0}, "min_speed": None, "min_heap_efficiency": None}
    shards = []
    template = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "reports" / "scan-v1.json")
                          .read_text())  # crate, toolchain, options and variant fields of a real report
    full = []
    for r in RECORDS:
        v = copy.deepcopy(template["variants"][0])
        v.update({k: r[k] for k in ("id", "profile", "allocator", "runtime")})
        v["wasm"]["bytes"] = r["wasm"]["bytes"]
        full.append(v)
    for i, part in enumerate((full[:3], full[3:])):
        rep = {**template, **_scan_record(part), "matrix": MATRIX, "shard": {"index": i + 1, "count": 2},
               "recommended": recommended(part, MATRIX, PROFILES, s), "findings": [], "checks": []}
        shards.append(tmp_path / f"s{i}.json")
        shards[-1].write_text(json.dumps(rep))
    r = clirun.run(["merge", *shards], cwd=tmp_path)
    assert r.returncode in (0, 1), r.stderr
    t = json.loads(r.stdout)["recommended"]["tradeoff"]
    assert t["weights"] == s["weights"] and t["balanced"]["variant"] == "release/lol_alloc"
    assert [p["variant"] for p in t["front"]] == ["release/default", "release/lol_alloc", "release/talc"]


def test_scan_markdown_and_text_blocks_show_the_front_and_the_choices():
    from auditor.report.speed_blocks import tradeoff_lines, tradeoff_markdown

    t = recommended(RECORDS, MATRIX, PROFILES)["tradeoff"]
    md = "\n".join(tradeoff_markdown(t))
    assert "| `release/talc` | 22,845 (22.3 KiB) | 413.0 | 90.2% | fastest, balanced |" in md
    assert "| `release/default` | 29,653 (29.0 KiB) | 800.9 | 96.6% | most heap-efficient |" in md
    assert "release/rlsf" not in md.split("- excluded")[0]  # dominated: not on the front
    assert "- excluded `release/dlmalloc`: no speed figure" in md
    text = "\n".join(tradeoff_lines(t))
    assert "release/lol_alloc  20,949      1,441.0      83.8%  smallest" in text
    # size alone: nothing to weigh, no block
    assert tradeoff_lines(recommended([record("a", 5, None, None, speed=False)], ["release/a"], PROFILES)
                          ["tradeoff"]) == []
