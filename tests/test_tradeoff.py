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
