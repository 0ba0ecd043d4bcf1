"""The workshop app (sim/app/) without a browser: the comparison model, rung changes as schedule
entries, the play loop (`Controller`) in every state, the hand-outs, and the page rendered with
Solara's test renderer (its widgets found and clicked as a browser would), including 50 sessions
opened and closed.

Small markets (200-300 people, 24-60 months) keep each test well under a few seconds.
"""

from __future__ import annotations

import gc
import io
import re
import threading
import time
import weakref

import ipyvuetify as v
import ipywidgets
import pandas as pd
import pytest
import solara
from solara.components.file_download import FileDownloadWidget

from sim import app, rules
from sim.cli import main
from sim.ladder import get_ladder

SMALL = app.Settings(market_size=300, months=24, seed=7)


def _replay(settings: app.Settings, changes=(), months: int | None = None) -> app.WorkshopModel:
    """The headless replay: the rung changes given as schedule entries from the start."""
    model = app.WorkshopModel(settings, changes)
    for _ in range(settings.months if months is None else months):
        model.step()
    return model


def _wait(predicate, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# --------------------------------------------------------------------------------------------
# The comparison model.


def test_side_by_side_markets_start_from_the_same_people():
    model = app.WorkshopModel(SMALL)
    a, b = model.markets
    assert [p.expectation for p in a.people] == [p.expectation for p in b.people]
    assert [p.status for p in a.people] == [p.status for p in b.people]
    assert model.labels == ["A · Good", "B · Excellent"]


def test_dots_account_for_every_person_and_match_the_counts():
    model = _replay(SMALL, months=3)
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
    model = _replay(settings, months=4)
    assert len(model.markets) == 1 and len(model.markets[0].firm_agents) == 2
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
    model = app.WorkshopModel(app.Settings(market_size=200, months=12))
    for _ in range(11):
        model.step()
    assert model.running
    model.step()
    assert not model.running and model.month == 12
    model.step()  # a step past the horizon does nothing
    assert model.month == 12


def test_settings_helpers_keep_rungs_on_the_ladder():
    s = app.Settings().with_firms(3)
    assert s.rungs == ("good", "excellent", "world_class")
    assert s.with_ladder("three").rungs == ("expected", "desired", "unanticipated")
    assert s.with_firms(1).rungs == ("good",)
    assert s.with_rung(0, "poor").firm_label(0) == "A · Poor"


@pytest.mark.parametrize("layout", app.LAYOUTS)
def test_a_rung_change_mid_run_is_the_same_as_a_schedule_entry_from_the_start(layout):
    settings = app.Settings(layout=layout, market_size=300, months=30, seed=5)
    live = _replay(settings, months=8)
    change = live.change_rung(0, "world_class")
    assert change == app.RungChange(9, 0, "world_class")  # from the next month
    for _ in range(22):
        live.step()
    replay = _replay(settings, [change])
    pd.testing.assert_frame_equal(live.frame(), replay.frame())
    firm_a = live.frame().query("series == 'A · Good'").set_index("step")["delivered_rung"]
    assert (firm_a[8], firm_a[9]) == ("good", "world_class")
    # ...and the change is a real change: without it the run differs
    assert not live.frame().equals(_replay(settings).frame())


def test_events_mark_the_move_and_the_recognition_years_later():
    settings = app.Settings(rungs=("good",), market_size=200, months=60, seed=2)
    model = _replay(settings, months=2)
    model.change_rung(0, "world_class")
    for _ in range(58):
        model.step()
    events = [(e.month, e.text) for e in model.view().events]
    ladder = settings.ladder_obj
    excellent = ladder[ladder.index("excellent")].sustain_months
    assert events[0] == (3, "A moves to World class")
    assert (3 + excellent - 1, "A recognised as Excellent") in events
    assert not any("World class" in t and "recognised" in t for _, t in events)  # 60 months


def test_settings_round_trip_through_the_url_query_and_bad_values_are_named():
    s = app.PRESETS["Block 3 · why world class takes years"]
    assert app.Settings.from_query(s.to_query()) == s
    assert app.settings_from_url("months=36&rule=strikes")[0].months == 36
    for query, word in (
        ({"months": "7"}, "months"),
        ({"rungs": "good,nope"}, "rungs"),
        ({"colour": "red"}, "colour"),
        ({"seed": "x"}, "seed"),
    ):
        with pytest.raises(ValueError, match=word):
            app.Settings.from_query(query)
    settings, notice = app.settings_from_url("months=7")
    assert settings == app.Settings() and "months" in notice


def test_handouts_carry_the_settings_month_and_seed():
    view = _replay(SMALL, months=1).view()
    csv = app.handout_csv(view).decode()
    assert "month 1 of 24" in csv and "seed 7" in csv and "rungs=good,excellent" in csv
    rows = pd.read_csv(io.StringIO(csv), comment="#")
    assert len(rows) == 2 * 2  # months 0 and 1, two firms
    assert {"series", "step", "customers", "revenue", "cumulative_profit"} <= set(rows.columns)
    assert app.handout_stem(view) == "workshop-side_by_side-good-excellent-fixed-seed7-month001"
    fig = app.plots_figure(view, caption=app.handout_caption(view))
    assert len(fig.legends) == 1 and not any(ax.get_legend() for ax in fig.axes)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "Firm A · Good",
        "Firm B · Excellent",
    ]
    assert any("seed 7" in t.get_text() and "Month 1 of 24" in t.get_text() for t in fig.texts)
    assert app.handout_png(view).startswith(b"\x89PNG")


def test_month_zero_axes_are_labelled_and_text_is_projector_sized():
    fig = app.plots_figure(app.WorkshopModel(SMALL).view())
    fig.canvas.draw() if hasattr(fig.canvas, "draw") else None
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    for ax in fig.axes:
        labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
        assert len(set(labels)) == len(labels) and "-0" not in labels
        sizes = [t.get_fontsize() for t in [*ax.get_xticklabels(), *ax.get_yticklabels()]]
        assert min(sizes) >= app.figures.FONT


# --------------------------------------------------------------------------------------------
# The play loop.


@pytest.fixture
def controller():
    made = []

    def make(settings=SMALL, **kw):
        made.append(app.Controller(settings, **kw))
        return made[-1]

    yield make
    for c in made:
        c.close()
        c.join(5)


def test_controls_work_after_a_finished_run(controller):
    c = controller(app.Settings(market_size=200, months=12))
    c.run_to_end()
    _wait(lambda: c.finished and not c.playing)
    assert c.view.month == 12
    c.apply(replace_(c.settings, refer_prob=0.5))  # defect 1: a setting after the end
    assert (c.view.month, c.playing, c.finished) == (0, False, False)
    assert "refer prob changed" in c.notice
    c.step()
    assert c.view.month == 1
    c.play()
    _wait(lambda: c.view.month >= 3)
    c.pause()
    month = c.view.month
    time.sleep(0.05)
    assert c.view.month == month and not c.playing


def replace_(settings, **kw):
    from dataclasses import replace

    return replace(settings, **kw)


def test_reset_replays_the_shown_settings(controller):
    c = controller()
    c.apply(replace_(c.settings, churn_rule="strikes"))
    c.apply(c.settings.with_rung(0, "acceptable"))  # month 0: a new run on that rung
    for _ in range(6):
        c.step()
    c.reset()
    assert c.view.month == 0
    assert c.view.settings.churn_rule == "strikes"
    assert c.view.firms[0].rung == "acceptable"


def test_a_rung_change_while_playing_keeps_playing_and_equals_the_replay(controller):
    c = controller(app.Settings(market_size=200, months=40, seed=4), interval_ms=5)
    c.play()
    _wait(lambda: c.view.month >= 5)
    c.apply(c.settings.with_rung(1, "world_class"))
    assert c.playing and "moves to World class" in c.notice
    _wait(lambda: c.finished)
    (change,) = c.view.changes
    assert change.firm == 1 and change.month >= 6
    pd.testing.assert_frame_equal(c.view.frame, _replay(c.view.settings, [change]).frame())
    c.reset()  # Reset starts from the rungs shown: B on world class from month 0
    assert c.view.month == 0 and c.view.firms[1].delivered == "World class"


def test_the_fastest_interval_gives_the_headless_replay_whatever_the_redraws(controller):
    settings = app.Settings(layout=app.COMPETING, market_size=300, months=60, seed=11)
    drawn = []

    def redraw():  # a slow, busy page: reads every view while the loop goes on
        view = c.view
        drawn.append((view.month, int(view.frame["customers"].sum())))
        time.sleep(0.002 * (view.month % 5))  # drawing takes longer some months

    c = controller(settings, on_change=redraw, interval_ms=app.FASTEST_INTERVAL_MS)
    c.play()
    # a second thread pressing Step and reading the model while it plays
    poker = threading.Thread(target=lambda: [c.view.frame.shape for _ in range(200)])
    poker.start()
    _wait(lambda: c.finished)
    poker.join()
    pd.testing.assert_frame_equal(c.view.frame, _replay(settings).frame())
    assert drawn[-1][0] == 60


def test_a_closed_session_stops_computing_and_lets_the_model_go(controller):
    c = controller(app.Settings(market_size=300, months=240), interval_ms=0)
    model = weakref.ref(c.model)
    c.play()
    _wait(lambda: c.view.month >= 2)
    c.close()
    c.join(5)
    assert not c._thread.is_alive()
    month = c.view.month
    time.sleep(0.05)
    assert c.view.month == month
    gc.collect()
    assert model() is None


# --------------------------------------------------------------------------------------------
# The page, rendered headless.


@solara.component
def _Wrapped(settings):
    with solara.AppLayout():
        app.WorkshopApp(settings)


@pytest.fixture
def page():
    _box, rc = solara.render(_Wrapped(SMALL), handle_error=False)
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


def _rung_buttons(rc, firm: int) -> list:
    return rc.find(v.Html, class_=f"rs-rungs rs-rungs-{firm}").find(v.Btn).widgets


def test_page_shows_its_controls(page):
    for label in ("Reset", "▶ Play", "Step", "Run to end", *app.PRESETS):
        _button(page, label)
    assert [b.children[0] for b in _rung_buttons(page, 1)] == list(get_ladder("five").labels)
    selects = {w.label for w in page.find(v.Select).widgets}
    assert {"ladder", "set-up", "churn rule"} <= selects
    html = _html(page)
    for text in ("Month 0 of 24", "Firm A", "Firm B", "World class", "60 (5 years)", "300 ms"):
        assert text in html
    assert "1 years" not in html and "year 1" not in html  # month 0 is the start
    assert len(page.find(FileDownloadWidget).widgets) == 2
    assert len(_images(page)) == 3  # two markets' dots and the plots


def test_step_advances_the_model_and_changes_the_plots(page):
    before = _images(page)
    _button(page, "Step").click()
    assert _month(page) == 1
    after = _images(page)
    assert all(a != b for a, b in zip(before, after, strict=True))
    for _ in range(11):
        _button(page, "Step").click()
    assert _month(page) == 12 and "year 1" in _html(page)


def test_a_rung_button_mid_run_moves_the_firm_from_next_month(page):
    _button(page, "Step").click()
    _button(page, "Step").click()
    _rung_buttons(page, 1)[4].click()  # firm B to world class
    assert _month(page) == 2 and "B moves to World class from month 3" in _html(page)
    _button(page, "Step").click()
    assert _month(page) == 3 and "delivers <b>World class</b>" in _html(page)
    _button(page, "Reset").click()  # Reset starts from the rungs shown
    assert _month(page) == 0 and "delivers <b>World class</b>" in _html(page)


def test_a_market_setting_restarts_paused_and_says_so(page):
    _button(page, "Step").click()
    page.find(v.Slider, min=200, max=5000).widget.v_model = 400
    assert _month(page) == 0
    html = _html(page)
    assert "400 people per market" in html and "market size changed" in html
    _button(page, "Step").click()
    assert _month(page) == 1


def test_a_preset_sets_every_control_as_its_block_says(page):
    _button(page, "Block 3 · why world class takes years").click()
    html = _html(page)
    assert "competing in one market, 2,000 people" in html and "Month 0 of 120" in html
    select = page.find(v.Select, label="recognised in month 0 as").widget
    assert select.v_model == "Good"
    assert "still recognised as <b>Good</b>, Excellent in 24 months" in html


def test_downloads_produce_files_with_the_settings(page):
    _button(page, "Step").click()
    for widget in page.find(FileDownloadWidget).widgets:
        widget.request_download = True  # what the browser sends when the button is clicked
    files: dict = {}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        files = {w.filename: w.bytes for w in page.find(FileDownloadWidget).widgets}
        if all(files.values()):
            break
        time.sleep(0.05)
    stem = "workshop-side_by_side-good-excellent-fixed-seed7-month001"
    assert set(files) == {f"{stem}.csv", f"{stem}.png"}
    rows = pd.read_csv(io.BytesIO(files[f"{stem}.csv"]), comment="#")
    assert len(rows) == 4 and rows["step"].max() == 1
    assert files[f"{stem}.png"].startswith(b"\x89PNG")


def test_fifty_sessions_opened_and_closed_release_their_models(monkeypatch):
    # the figures are tested above; here only the sessions' lifetime matters, so draw nothing
    monkeypatch.setattr(app.page, "plots_figure", lambda view: None)
    monkeypatch.setattr(app.page, "dots_figure", lambda view, *a, **kw: None)
    monkeypatch.setattr(app.page, "figure_png", lambda fig: b"")
    made: list[weakref.ref] = []
    original = app.Controller.__init__

    def tracking(self, *a, **kw):
        original(self, *a, **kw)
        made.append(weakref.ref(self))

    monkeypatch.setattr(app.Controller, "__init__", tracking)
    models = []
    for _ in range(50):
        _box, rc = solara.render(_Wrapped(SMALL), handle_error=False)
        _button(rc, "Step").click()
        _button(rc, "▶ Play").click()  # left playing, as a closed browser tab leaves it
        models.append(weakref.ref(made[-1]().model))
        rc.close()
    for ref in made:
        controller = ref()
        if controller is not None:
            assert controller.closed and controller.model is None
            controller.join(5)
            assert not controller._thread.is_alive()  # stopped computing
        del controller
    gc.collect()
    assert len(models) == 50
    assert sum(m() is not None for m in models) == 0  # every session's model freed


# --------------------------------------------------------------------------------------------
# The command.


def test_app_command_listens_on_loopback_by_default(capsys):
    from sim.cli import app_command, build_parser

    args = build_parser().parse_args(["app"])
    assert (args.host, args.port) == ("127.0.0.1", 8765)
    command = app_command(args.host, args.port)
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert "sim.app.page:Page" in command and "--production" in command
    assert main(["app", "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err


def test_a_busy_port_fails_at_once_and_port_zero_finds_a_free_one(capsys):
    import socket

    from sim.cli import free_port

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.monotonic()
        assert main(["app", "--port", str(port)]) == 2
        assert time.monotonic() - started < 5
        err = capsys.readouterr().err
        assert f"--port {port}" in err and "in use" in err and "starting" not in err
    assert free_port("127.0.0.1", 0) > 0


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
    assert (status.delivered, status.recognised) == ("World class", "Good")
    assert (status.next, status.months_to_next) == ("Excellent", 24)
    for _ in range(24):
        model.step()
    status = model.firm_status(1)
    assert status.recognised == "Excellent"
    assert (status.next, status.months_to_next) == ("World class", 36)
