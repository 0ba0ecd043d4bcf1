"""Exploration: the [explore] table, its SALib designs and seeds, the analysis, the commands."""

import copy
import json
import math

import numpy as np
import pandas as pd
import pytest
from SALib.analyze import sobol as salib_sobol
from SALib.sample import morris as salib_morris
from SALib.sample import sobol as salib_sobol_sample
from SALib.test_functions import Ishigami
from scipy.stats import qmc

from conftest import interrupt_at
from sim.cli import main
from sim.exploration import Exploration, Uncertainty
from sim.explore import (
    SENSITIVITY_COLUMNS,
    explore,
    indices,
    lever_table,
    minimax_regret,
    noise_share,
    win_regions,
)
from sim.scenario import ScenarioError, load_scenario
from sim.store import load_results
from sim.sweep import Plan, SweepInterrupted, run_sweep

TINY = {
    "scenario": {"name": "tiny_explore", "months": 12, "replicates": 2, "seed": 11},
    "market": {"size": 150},
    "firms": [{"name": "Us", "service_level": "good"}],
    "explore": {
        "design": "sobol",
        "samples": 2,
        "levers": {"firms.0.service_level": ["good", "excellent"]},
        "uncertainties": {
            "referrals.refer_prob": [0.05, 0.4],
            "customers.tolerance": [0.8, 2.0],
            "market.size": [120, 180],
        },
    },
}


def design(kind, samples, uncertainties, seed=5):
    """An Exploration with one two-valued lever, built directly (no scenario)."""
    return Exploration(
        kind,
        samples,
        "discounted_profit",
        None,
        4,
        (),
        (("k", (1, 2)),),
        tuple(uncertainties),
        seed=seed,
    )


# --- designs -----------------------------------------------------------------------------------


def test_the_sobol_sample_is_salibs_for_the_same_seed():
    scenario = load_scenario(TINY)
    bounds = [[0.05, 0.4], [0.8, 2.0]]
    ranges = {"referrals.refer_prob": bounds[0], "customers.tolerance": bounds[1]}
    doc = copy.deepcopy(TINY)
    doc["explore"]["uncertainties"] = ranges
    doc["explore"]["samples"] = 8
    exploration = load_scenario(doc).sweep
    problem = {"num_vars": 2, "names": list(ranges), "bounds": bounds}
    expected = salib_sobol_sample.sample(problem, 8, calc_second_order=False, seed=11)
    futures = pd.DataFrame(exploration.futures())[list(ranges)].to_numpy()
    assert futures.shape == (8 * (2 + 2), 2)
    np.testing.assert_array_equal(futures, expected)
    # a range of whole numbers gives whole numbers, in equal strata
    sizes = [f["market.size"] for f in scenario.sweep.futures()]
    assert all(isinstance(s, int) and 120 <= s <= 180 for s in sizes)


def test_the_morris_and_latin_hypercube_samples_are_salibs_and_scipys():
    ranges = [Uncertainty("a", 0.0, 2.0), Uncertainty("b", -1.0, 1.0), Uncertainty("c", 3.0, 4.0)]
    problem = {"num_vars": 3, "names": ["a", "b", "c"], "bounds": [[0, 2], [-1, 1], [3, 4]]}
    morris = design("morris", 6, ranges)
    expected = salib_morris.sample(problem, 6, num_levels=4, seed=5)
    np.testing.assert_array_equal(morris.sample(), expected)
    assert len(morris.futures()) == 6 * (3 + 1)
    lhs = design("latin_hypercube", 10, ranges)
    unit = qmc.LatinHypercube(d=3, rng=np.random.default_rng(np.random.SeedSequence(5))).random(10)
    np.testing.assert_allclose(lhs.sample(), unit * [2, 2, 1] + [0, -1, 3], rtol=0, atol=1e-15)


def test_a_named_distribution_is_drawn_through_its_inverse_distribution_function():
    doc = copy.deepcopy(TINY)
    triang = {"distribution": "triang", "c": 0.5, "loc": 0.6, "scale": 0.4}
    doc["explore"]["uncertainties"]["churn.leave_prob"] = triang
    exploration = load_scenario(doc).sweep
    unit = exploration.unit_sample()[:, 3]
    drawn = [f["churn.leave_prob"] for f in exploration.futures()]
    from scipy.stats import triang as scipy_triang

    np.testing.assert_allclose(drawn, scipy_triang(0.5, loc=0.6, scale=0.4).ppf(unit))
    assert min(drawn) > 0.6 and max(drawn) < 1.0


def test_every_future_runs_under_every_lever_value_with_the_same_seeds(tmp_path):
    scenario = load_scenario(TINY)
    plan = Plan(scenario)
    futures, levers = 2 * (3 + 2), 2
    assert plan.runs == futures * levers * 2
    for f in range(futures):
        assert plan.seeds[f * levers] == plan.seeds[f * levers + 1]  # same seeds per future
        if f:
            assert plan.seeds[f * levers] != plan.seeds[(f - 1) * levers]
    # ... and the futures are the same under each lever value
    for f in range(futures):
        good, excellent = plan.values[f * levers], plan.values[f * levers + 1]
        assert (good["firms.0.service_level"], excellent["firms.0.service_level"]) == (
            "good",
            "excellent",
        )
        assert {k: v for k, v in good.items() if k != "firms.0.service_level"} == {
            k: v for k, v in excellent.items() if k != "firms.0.service_level"
        }
    runs = run_sweep(scenario, tmp_path / "out", executor="serial", kind="explore").runs
    runs["future"] = runs["point"] // levers
    assert (runs.groupby(["future", "replicate"])["seed"].nunique() == 1).all()
    assert runs.groupby("future")["seed"].first().nunique() == futures


def test_an_exploration_reloads_from_its_own_dictionary():
    doc = copy.deepcopy(TINY)
    doc["explore"]["uncertainties"]["churn.leave_prob"] = {
        "distribution": "beta",
        "a": 9.0,
        "b": 1.0,
    }
    doc["explore"]["compare"] = [["excellent", "good"]]
    scenario = load_scenario(doc)
    again = load_scenario(scenario.to_dict())
    assert again == scenario
    assert again.sweep.points() == scenario.sweep.points()


# --- analysis on known answers -------------------------------------------------------------------


def test_sobol_indices_of_ishigami_through_the_analysis_match_the_published_values():
    # Ishigami & Homma (1990), a = 7, b = 0.1: the analytic indices (Saltelli et al. 2008).
    s1 = [0.3139, 0.4424, 0.0]
    st = [0.5576, 0.4424, 0.2437]
    box = [Uncertainty(f"x{i}", -math.pi, math.pi) for i in (1, 2, 3)]
    exploration = design("sobol", 1024, box, seed=1)
    found = indices(exploration, Ishigami.evaluate(exploration.sample()), seed=1)
    assert found["method"].eq("sobol").all()
    for i in range(3):
        row = found.iloc[i]
        assert abs(row["S1"] - s1[i]) <= row["S1_conf"], (i, row["S1"], row["S1_conf"])
        assert abs(row["ST"] - st[i]) <= row["ST_conf"], (i, row["ST"], row["ST_conf"])
        assert row["S1_conf"] < 0.1 and row["ST_conf"] < 0.1  # tight enough to mean something
    # the same numbers as SALib's own analysis of its own sample
    problem = exploration.problem()
    direct = salib_sobol.analyze(
        problem, Ishigami.evaluate(exploration.sample()), calc_second_order=False, seed=1
    )
    np.testing.assert_allclose(found["ST"], direct["ST"])


def test_morris_mu_star_of_a_linear_function_is_its_slope_times_the_range():
    ranges = [Uncertainty("a", 0.0, 2.0), Uncertainty("b", 10, 20), Uncertainty("c", 1.0, 5.0)]
    exploration = design("morris", 20, ranges)
    x = pd.DataFrame(exploration.futures()).to_numpy(float)
    found = indices(exploration, 3 * x[:, 0] - 2 * x[:, 2], seed=1)
    np.testing.assert_allclose(found["mu_star"], [6.0, 0.0, 8.0], atol=1e-9)
    np.testing.assert_allclose(found["sigma"], [0.0, 0.0, 0.0], atol=1e-9)


def test_regret_wins_and_minimax_regret_on_a_hand_made_table():
    means = np.array(
        [
            [10.0, 12.0, 11.0],  # B best; regrets 2, 0, 1
            [5.0, 3.0, 9.0],  # C best; regrets 4, 6, 0
            [7.0, 7.0, 1.0],  # A and B tie; regrets 0, 0, 6
            [2.0, 4.0, 3.0],  # B best; regrets 2, 0, 1
        ]
    )
    table = lever_table(means, ["A", "B", "C"]).set_index("lever")
    assert table["win_share"].tolist() == [0.125, 0.625, 0.25]
    assert table["mean_regret"].tolist() == [2.0, 1.5, 2.0]
    assert table["max_regret"].tolist() == [4.0, 6.0, 6.0]
    assert table["mean"].tolist() == [6.0, 6.5, 6.0]
    assert table.loc["A", "p50"] == 6.0
    assert minimax_regret(table.reset_index()) == "A"


def test_noise_share_is_the_replicate_variance_of_a_mean_against_the_futures_spread():
    runs = np.array([[1.0, 3.0], [5.0, 7.0], [9.0, 11.0]])  # within var 2; means 2, 6, 10
    assert noise_share(runs) == pytest.approx((2.0 / 2) / 16.0)
    assert math.isnan(noise_share(runs[:, :1]))  # one replicate: cannot tell
    assert noise_share(np.array([[1.0, 3.0], [1.0, 3.0]])) == 1.0  # all noise


def test_win_regions_name_the_winner_in_each_cell():
    futures = pd.DataFrame({"u": [0.1, 0.2, 0.3, 0.7, 0.8, 0.9], "v": [1, 2, 1, 2, 1, 2]})
    won = ["low", "low", "low", "high", "high", "high"]
    cells = win_regions(futures, won, ["u", "v"], bins=2)
    assert [(c["winner"], c["futures"], c["share"]) for c in cells] == [
        ("low", 2, 1.0),  # u 0.1 and 0.3, v 1
        ("low", 1, 1.0),  # u 0.2, v 2
        ("high", 1, 1.0),  # u 0.8, v 1
        ("high", 2, 1.0),  # u 0.7 and 0.9, v 2
    ]
    assert cells[0]["u"] == [0.1, 0.5] and cells[0]["v"] == [1.0, 1.5]  # the bins' edges


# --- folders and commands ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def explored(tmp_path_factory):
    """A finished tiny exploration (serial), analysed without figures."""
    out = tmp_path_factory.mktemp("explore") / "out"
    result, analysis = explore(TINY, out, executor="serial", figures=False)
    return result, analysis


def test_an_exploration_writes_tidy_tables_and_its_analysis(explored):
    result, analysis = explored
    sensitivity = pd.read_parquet(result.path / "sensitivity.parquet")
    assert tuple(sensitivity.columns) == SENSITIVITY_COLUMNS
    assert sensitivity["lever"].unique().tolist() == ["excellent - good", "good", "excellent"]
    assert len(sensitivity) == 3 * 3
    levers = pd.read_csv(result.path / "levers.csv")
    assert levers["lever"].tolist() == ["good", "excellent"]
    assert levers["win_share"].sum() == pytest.approx(1.0)
    saved = json.loads((result.path / "analysis.json").read_text())
    assert saved["futures"] == 10 and saved["runs"] == 40
    assert saved["minimax_regret"] in ("good", "excellent")
    assert len(saved["decisive"]) == 2
    assert saved == json.loads(json.dumps(analysis, default=float))


def test_a_resumed_exploration_analyses_the_same_as_one_left_alone(explored, tmp_path, monkeypatch):
    reference = explored[1]
    interrupt_at(monkeypatch, load_results(explored[0].path).manifest["run_seeds"][5][1])
    with pytest.raises(SweepInterrupted):
        explore(TINY, tmp_path / "out", executor="serial", batch_size=3, figures=False)
    monkeypatch.undo()
    assert main(["analyse", str(tmp_path / "out"), "--no-figures"]) == 2  # runs missing
    assert (
        main(
            [
                "explore",
                "--resume",
                str(tmp_path / "out"),
                "--executor",
                "serial",
                "--quiet",
                "--no-figures",
            ]
        )
        == 0
    )
    resumed = json.loads((tmp_path / "out" / "analysis.json").read_text())
    assert resumed == json.loads(json.dumps(reference, default=float))


def test_explore_and_analyse_on_the_command_line(tmp_path, capsys):
    scenario = tmp_path / "ex.toml"
    import tomli_w

    scenario.write_bytes(tomli_w.dumps(TINY).encode())
    out = tmp_path / "out"
    code = main(["explore", str(scenario), "--out", str(out), "--executor", "serial", "--quiet"])
    assert code == 0
    text = capsys.readouterr().out
    assert "of 10 futures" in text and "excellent - good decided by" in text
    for name in ("analysis.json", "levers.csv", "sensitivity.parquet", "report.md", "report.html"):
        assert (out / name).is_file(), name
    figures = sorted(p.stem for p in (out / "figures").glob("*.png"))
    assert figures == [
        "explore_levers",
        "explore_sensitivity",
        "explore_sensitivity_levers",
        "explore_win_map",
    ]
    report = (out / "report.md").read_text()
    assert "## Which choice wins" in report and "minimax-regret choice" in report
    before = (out / "analysis.json").read_text()
    assert main(["analyse", str(out), "--no-figures"]) == 0
    assert (out / "analysis.json").read_text() == before


BAD = [
    ({"design": "factorial"}, "explore.design", "must be one of sobol, morris"),
    ({"samples": 6}, "explore.samples", "power of two"),
    ({"samples": 1}, "explore.samples", ">= 2"),
    ({"design": "latin_hypercube", "samples": 8}, "explore.samples", "at least 21"),
    ({"outcome": "happiness"}, "explore.outcome", "must be one of"),
    ({"colour": "red"}, "explore.colour", "unknown key"),
    ({"levels": 4}, "explore.levels", 'only goes with design = "morris"'),
    ({"firm": "Them"}, "explore.firm", "must name a firm"),
    (
        {"levers": {"firms.0.service_level": ["good"]}},
        "explore.levers.firms.0.service_level",
        "at least two values",
    ),
    (
        {"levers": {"firms.0.service_level": ["good", "superb"]}},
        "firms.0.service_level",
        "superb",
    ),
    ({"levers": {"scenario.seed": [1, 2]}}, "explore.levers.scenario.seed", "cannot be explored"),
    (
        {"uncertainties": {"referrals.refer_prob": [0.4, 0.1]}},
        "explore.uncertainties.referrals.refer_prob",
        "low must be below high",
    ),
    (
        {"uncertainties": {"referrals.refer_prob": [0.1, 1.4], "customers.tolerance": [1, 2]}},
        "referrals.refer_prob",
        "1.4",
    ),
    (
        {"uncertainties": {"churn.leave_prb": [0.1, 0.4], "customers.tolerance": [1, 2]}},
        "churn.leave_prb",
        "did you mean 'leave_prob'",
    ),
    (
        {"uncertainties": {"churn.leave_prob": {"distribution": "nonsense"}, "x.y": [0, 1]}},
        "explore.uncertainties.churn.leave_prob.distribution",
        "scipy.stats",
    ),
    ({"compare": [["excellent", "superb"]]}, "explore.compare", "pair of two different"),
]


@pytest.mark.parametrize(("change", "key", "problem"), BAD)
def test_a_bad_explore_table_exits_2_naming_the_key_and_writes_nothing(
    change, key, problem, tmp_path, capsys
):
    import tomli_w

    doc = copy.deepcopy(TINY)
    doc["explore"].update(change)
    path = tmp_path / "bad.toml"
    path.write_bytes(tomli_w.dumps(doc).encode())
    out = tmp_path / "out"
    assert main(["explore", str(path), "--out", str(out), "--executor", "serial"]) == 2
    err = capsys.readouterr().err
    assert key in err and problem in err, err
    assert str(path) in err
    assert not out.exists()
    with pytest.raises(ScenarioError):
        load_scenario(doc)


def test_a_scenario_cannot_have_both_a_sweep_and_an_explore_table(capsys):
    doc = copy.deepcopy(TINY)
    doc["sweep"] = {"churn.rule": ["fixed", "tarp"]}
    with pytest.raises(ScenarioError, match="not both"):
        load_scenario(doc)


def test_plot_of_an_exploration_draws_its_analysis_figures(explored, capsys):
    path = explored[0].path
    assert main(["plot", str(path)]) == 0
    assert (path / "figures" / "explore_levers.png").is_file()
    assert "## What decides it" in (path / "report.md").read_text()


@pytest.mark.parametrize(("design", "method"), [("morris", "mu_star"), ("latin_hypercube", "S1")])
def test_morris_and_latin_hypercube_explorations_analyse_end_to_end(design, method, tmp_path):
    doc = copy.deepcopy(TINY)
    doc["explore"].update(design=design, samples=3 if design == "morris" else 24)
    result, analysis = explore(doc, tmp_path / "out", executor="serial", figures=False)
    sensitivity = pd.read_csv(result.path / "sensitivity.csv")
    expected = {"morris": "morris", "latin_hypercube": "rbd_fast"}[design]
    assert sensitivity["method"].eq(expected).all()
    assert sensitivity[method].notna().all()
    assert analysis["futures"] == (3 * 4 if design == "morris" else 24)
    assert len(analysis["decisive"]) == 2
