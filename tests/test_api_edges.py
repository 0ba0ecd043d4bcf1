"""The Python API's edges: what `sim`'s public names do with unusual but reasonable calls."""

import functools
import inspect

import pandas as pd
import pytest

import sim
from sim.sweep import Plan

SWEPT = {
    "scenario": {"name": "edges", "seed": 3, "months": 6, "replicates": 2},
    "market": {"size": 200},
    "firms": [{"name": "A", "service_level": "good"}],
    "sweep": {"firms.0.service_level": ["poor", "excellent"]},
}


def test_load_results_offers_what_run_sweep_returns(tmp_path):
    made = sim.run_sweep(SWEPT, tmp_path / "out", executor="serial")
    read = sim.load_results(tmp_path / "out")
    pd.testing.assert_frame_equal(read.table, made.table)
    assert read.failed == made.failed == 0
    for name in ("summary", "timeseries", "runs", "manifest", "counts", "status"):
        assert hasattr(read, name)


def test_overrides_given_as_one_string_get_a_clear_error():
    with pytest.raises(TypeError, match=r"write \['churn.rule=tarp'\]"):
        sim.load_scenario(SWEPT, overrides="churn.rule=tarp")


def test_simulate_on_a_sweep_refuses_without_point_and_runs_the_point_given():
    scenario = sim.load_scenario(SWEPT)
    with pytest.raises(ValueError, match=r"has a \[sweep\] of 2 points: give point= \(0 to 1\)"):
        sim.simulate(scenario, seed=1)
    with pytest.raises(ValueError, match="has points 0 to 1"):
        sim.simulate(scenario, seed=1, point=2)
    one = Plan(scenario).scenarios[1]
    pd.testing.assert_frame_equal(
        sim.simulate(scenario, seed=1, point=1), sim.simulate(one, seed=1)
    )
    with pytest.raises(ValueError, match=r"point=1: edges has no \[sweep\]"):
        sim.simulate(one, seed=1, point=1)


def test_run_sweep_without_out_dir_writes_where_the_cli_would_and_says_so(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("SIM_RESULTS_DIR", str(tmp_path / "mine"))
    result = sim.run_sweep(SWEPT, executor="serial")
    assert result.path.parent == tmp_path / "mine" / "edges"
    assert result.path.name.startswith("sweep-")
    assert f"edges: writing results to {result.path}" in capsys.readouterr().err
    monkeypatch.delenv("SIM_RESULTS_DIR")
    monkeypatch.chdir(tmp_path)
    result = sim.run_sweep(SWEPT, executor="serial", kind="run")
    assert result.path.parent == __import__("pathlib").Path("results") / "edges"


def _public_members(obj):
    for name, member in inspect.getmembers(obj):
        if name.startswith("_") or name in type.__dict__ or name in object.__dict__:
            continue
        if inspect.isfunction(member) or isinstance(
            inspect.getattr_static(obj, name, None),
            property | classmethod | staticmethod | functools.cached_property,
        ):
            yield name, member


@pytest.mark.parametrize("name", sim.__all__)
def test_every_public_name_has_a_docstring_help_shows(name):
    obj = getattr(sim, name)
    if not (inspect.isclass(obj) or callable(obj)):  # data such as BUILTIN_LADDERS
        return
    assert (obj.__doc__ or "").strip(), f"sim.{name} has no docstring"
    if inspect.isclass(obj):
        for member_name, _ in _public_members(obj):
            static = inspect.getattr_static(obj, member_name)
            doc = getattr(static, "__doc__", None) or getattr(
                getattr(static, "fget", None), "__doc__", None
            )
            if isinstance(
                static, property | classmethod | staticmethod | functools.cached_property
            ) or inspect.isfunction(static):
                assert (doc or "").strip(), f"sim.{name}.{member_name} has no docstring"


@pytest.mark.parametrize("engine", ["agents", "population"])
def test_simulate_columns_are_the_frame_without_the_dataframe(engine):
    from conftest import build_scenario
    from sim.runner import simulate_columns

    scenario = build_scenario()
    frame = sim.simulate(scenario, seed=4, engine=engine)
    columns = simulate_columns(scenario, seed=4, engine=engine)
    assert list(columns) == list(frame.columns)
    for name, values in columns.items():
        expected = frame[name].to_numpy()
        assert values.dtype == expected.dtype, name
        pd.testing.assert_series_equal(pd.Series(values), pd.Series(expected), check_names=False)
