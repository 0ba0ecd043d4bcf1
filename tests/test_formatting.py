"""sim.formatting: the one number formatter (money to 3 significant figures)."""

import math

import pytest

from sim.formatting import count, money, share


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1_250_000, "1.25M"),
        (1_254_999, "1.25M"),
        (30_200, "30.2k"),
        (30_249, "30.2k"),
        (999_999, "1M"),
        (1_234, "1.23k"),
        (950, "950"),
        (12.345, "12.3"),
        (0, "0"),
        (-4_100, "-4.1k"),
        (-8_670_000, "-8.67M"),
        (2.5e9, "2.5B"),
    ],
)
def test_money_has_three_significant_figures(value, text):
    assert money(value) == text


def test_money_digits_and_missing():
    assert money(8_674_321, digits=4) == "8.674M"
    assert money(None) == "-"
    assert money(math.nan) == "-"


def test_share_and_count():
    assert share(0.456) == "46%"
    assert share(0.4567, digits=1) == "45.7%"
    assert share(float("nan")) == "-"
    assert count(12_345.4) == "12,345"
    assert count(None) == "-"


def test_money_alike_writes_compared_amounts_with_one_unit_and_precision():
    from sim.formatting import money_alike

    assert money_alike([8.70e6, 8.67e6]) == ["8.70M", "8.67M"]
    assert money_alike([8.70e6, 0.5e6, -1.2e6, None, float("nan")]) == [
        "8.70M",
        "0.50M",
        "-1.20M",
        "-",
        "-",
    ]
    assert money_alike([950.0, 30.2, 0.0]) == ["950", "30", "0"]
    assert money_alike([0.0, 0.0]) == ["0", "0"]


def test_interval_writes_a_mean_and_its_ends_alike():
    from sim.formatting import interval

    assert interval(8.67e6, 8.6e6, 8.74e6) == "8.67M [8.60M, 8.74M]"
    assert interval(0.45, 0.41, 0.49, "share") == "45% [41%, 49%]"
    assert interval(1.25e6, 0.98e6, 1.52e6, "difference") == "+1.25M [0.98M, 1.52M]"
    assert interval(-3e4, -5e4, float("nan"), "difference") == "-30.0k"
    assert interval(float("nan"), 0, 1) == "-"
