"""The workshop app (sim/app.py) without a browser: the comparison model, and the page rendered
with Solara's test renderer (its widgets found and clicked as a browser would).

Small markets (200-300 people, 24 months) keep each render well under a second.
"""

from __future__ import annotations

import io
import re
import time

import ipyvuetify as v
import ipywidgets
import pandas as pd
import pytest
import solara
from solara.components.file_download import FileDownloadWidget

from sim import app, rules
from sim.cli import main

SMALL = app.Settings(market_size=300, months=24, seed=7)


# --------------------------------------------------------------------------------------------
# The comparison model.


def test_side_by_side_markets_start_from_the_same_people():
    model = app.WorkshopModel(SMALL)
    a, b = model.markets
    assert [p.expectation for p in a.people] == [p.expectation for p in b.people]
    assert [p.status for p in a.people] == [p.status for p in b.people]
    assert model.labels == ["A · Good", "B · Excellent"]


def test_dots_account_for_every_person_and_match_the_counts():
    model = app.WorkshopModel(SMALL)
    for _ in range(3):
        model.step()
    frame = model.frame()
    for m, market in enumerate(model.markets):
        row = frame[(frame["market"] == m) & (frame["step"] == 3)].iloc[0]
        counts = {c: int((market.categories == i).sum()) for i, c in enumerate(app.CATEGORIES)}
        customers = sum(counts[c] for c in ("delighted", "met", "bad", "no contact", "joined"))
        assert customers == row["customers"]
        assert counts["left"] == row["left_bad_experience"] + row["left_attrition"]
        assert counts["joined"] == row["joined_marketing"] + row["joined_referral"]
        assert counts["delighted"] <= row["delighted"]  # delighted customers who then left
        assert counts["prospect"] == row["prospects"]
        assert sum(counts.values()) == len(market.people)


def test_competing_firms_share_one_market_and_a_switcher_counts_as_left():
    settings = app.Settings(
        layout=app.COMPETING, rungs=("poor", "excellent"), market_size=300, months=12, seed=3
    )
    model = app.WorkshopModel(settings)
    assert len(model.markets) == 1 and len(model.markets[0].firm_agents) == 2
    for _ in range(4):
        model.step()
    market = model.markets[0]
    last = model.frame().query("step == 4")
    left = int((market.categories == app.LEFT).sum())
    assert left == int((last["left_bad_experience"] + last["left_attrition"]).sum())
    for i, person in enumerate(market.people):
        if market.categories[i] <= app.JOINED:  # a customer's dot shows their firm
            assert person.status == rules.CUSTOMER
            assert market.person_firm[i] == person.firm.index
    switched = [
        i
        for i, p in enumerate(market.people)
        if market.categories[i] == app.LEFT and p.status == rules.CUSTOMER
    ]
    assert len(switched) == int(last["switched_in"].sum())


def test_the_model_stops_at_the_horizon():
    model = app.WorkshopModel(app.Settings(market_size=100, months=2))
    model.step()
    assert model.running
    model.step()
    assert not model.running and model.month == 2
    model.step()  # a step past the horizon does nothing
    assert model.month == 2


def test_settings_helpers_keep_rungs_on_the_ladder():
    s = app.Settings().with_firms(3)
    assert s.rungs == ("good", "excellent", "world_class")
    assert s.with_ladder("three").rungs == ("expected", "desired", "unanticipated")
    assert s.with_firms(1).rungs == ("good",)
    assert s.with_rung(0, "poor").firm_label(0) == "A · Poor"


def test_run_csv_and_plots_png_are_files():
    model = app.WorkshopModel(SMALL)
    model.step()
    rows = pd.read_csv(io.BytesIO(app.run_csv(model)))
    assert len(rows) == 2 * 2  # months 0 and 1, two firms
    assert {"series", "step", "customers", "revenue", "cumulative_profit"} <= set(rows.columns)
    assert app.plots_png(model).startswith(b"\x89PNG")


# --------------------------------------------------------------------------------------------
# The page, rendered headless.


@pytest.fixture
def page():
    @solara.component
    def Wrapped():
        with solara.AppLayout():
            app.WorkshopApp(SMALL)

    _box, rc = solara.render(Wrapped(), handle_error=False)
    yield rc
    rc.close()


def _html(rc) -> str:
    return "\n".join(w.unsafe_innerHTML for w in rc.find(solara.widgets.HTML).widgets)


def _month(rc) -> int:
    return int(re.search(r"Month (\d+) of", _html(rc)).group(1))


def _images(rc) -> list[bytes]:
    return [w.value for w in rc.find(ipywidgets.Image).widgets]


def _button(rc, label: str):
    return rc.find(v.Btn, children=[label]).widget


def _rung_sliders(rc) -> list:
    labels = list(app.get_ladder("five").labels)
    return rc.find(v.Slider, tick_labels=labels).widgets


def test_page_shows_its_controls(page):
    for label in ("Reset", "▶", "Step"):
        _button(page, label)
    assert len(_rung_sliders(page)) == 2  # one per firm
    selects = {w.label for w in page.find(v.Select).widgets}
    assert {"ladder", "set-up", "churn rule"} <= selects
    sliders = page.find(v.Slider).widgets
    assert {(w.min, w.max) for w in sliders} >= {(200, 5000), (0.0, 1.0), (12, 240)}
    html = _html(page)
    for text in ("Month 0 of 24", "Firm A · Good", "Firm B · Excellent", "World class", "60 ("):
        assert text in html
    assert len(page.find(FileDownloadWidget).widgets) == 2
    assert len(_images(page)) == 3  # two markets' dots and the plots


def test_step_advances_the_model_and_changes_the_plots(page):
    before = _images(page)
    _button(page, "Step").click()
    assert _month(page) == 1
    after = _images(page)
    assert all(a != b for a, b in zip(before, after, strict=True))
    _button(page, "Step").click()
    assert _month(page) == 2


def test_a_rung_change_resets_the_model_with_the_new_rung(page):
    _button(page, "Step").click()
    _button(page, "Step").click()
    assert _month(page) == 2
    _rung_sliders(page)[1].v_model = 4  # firm B to world class
    assert _month(page) == 0
    assert "Firm B · World class" in _html(page)
    _button(page, "Step").click()
    assert _month(page) == 1
    # Reset rebuilds the same settings: firm B stays world class
    _button(page, "Reset").click()
    assert _month(page) == 0 and "Firm B · World class" in _html(page)


def test_a_market_setting_resets_the_model(page):
    _button(page, "Step").click()
    size = page.find(v.Slider, min=200, max=5000).widget
    size.v_model = 400
    assert _month(page) == 0
    assert "400 people per market" in _html(page)


def test_downloads_produce_non_empty_files(page):
    _button(page, "Step").click()
    files = {}
    for widget in page.find(FileDownloadWidget).widgets:
        widget.request_download = True  # what the browser sends when the button is clicked
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        files = {w.filename: w.bytes for w in page.find(FileDownloadWidget).widgets}
        if all(files.values()):
            break
        time.sleep(0.05)
    csv = next(data for name, data in files.items() if name.endswith(".csv"))
    png = next(data for name, data in files.items() if name.endswith(".png"))
    rows = pd.read_csv(io.BytesIO(csv))
    assert len(rows) == 4 and rows["step"].max() == 1
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


# --------------------------------------------------------------------------------------------
# The command.


def test_app_command_listens_on_loopback_by_default(capsys):
    from sim.cli import app_command, build_parser

    args = build_parser().parse_args(["app"])
    assert (args.host, args.port) == ("127.0.0.1", 8765)
    command = app_command(args.host, args.port)
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert "sim.app:Page" in command and "--production" in command
    assert main(["app", "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err


def test_a_firm_recognised_below_its_rung_climbs_one_rung_at_a_time():
    settings = app.Settings(
        layout=app.COMPETING,
        rungs=("good", "world_class"),
        recognised_start="good",
        market_size=200,
        months=30,
    )
    model = app.WorkshopModel(settings)
    status = model.firm_status(1)
    assert (status["delivered"], status["recognised"]) == ("World class", "Good")
    assert (status["next"], status["months_to_next"]) == ("Excellent", 24)
    for _ in range(24):
        model.step()
    status = model.firm_status(1)
    assert status["recognised"] == "Excellent"
    assert (status["next"], status["months_to_next"]) == ("World class", 36)
