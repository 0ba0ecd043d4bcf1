"""How numbers are written for people: one formatter for the app, figures, report and CLI.

Money goes to three significant figures with a unit suffix (1.25M, 30.2k, 950), shares to a whole
percent unless asked otherwise, counts with thousands separators. Money is in the scenario's
currency units: the unit of ``monthly_fee`` (docs/model.md, "Accounts").

What does not live here: deciding which numbers to show (`summary.py`, `report.py`, `plots.py`).
"""

from __future__ import annotations

import math

MISSING = "-"
_UNITS = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))


def _finite(value: float | None) -> bool:
    return value is not None and isinstance(value, int | float) and math.isfinite(value)


def money(value: float | None, digits: int = 3) -> str:
    """Money to ``digits`` significant figures with a unit suffix: 1.25M, 30.2k, 950, -4.1k.

    Args:
        value: an amount in currency units (the unit of ``monthly_fee``); None or NaN gives "-".
        digits: significant figures (3 by default).
    """
    if not _finite(value):
        return MISSING
    assert value is not None
    if value == 0:
        return "0"
    rounded = float(f"{value:.{digits}g}")
    for scale, unit in _UNITS:
        if abs(rounded) >= scale:
            return f"{float(f'{rounded / scale:.{digits}g}'):g}{unit}"
    if abs(rounded) >= 10 ** (digits - 1):
        return f"{rounded:,.0f}"
    return f"{rounded:g}"


def share(value: float | None, digits: int = 0) -> str:
    """A share (0-1) as a percent with ``digits`` decimals: 0.456 -> "46%"; None or NaN -> "-"."""
    if not _finite(value):
        return MISSING
    assert value is not None
    return f"{100 * value:.{digits}f}%"


def count(value: float | None) -> str:
    """A count or other plain number with thousands separators and no decimals: 12,345."""
    if not _finite(value):
        return MISSING
    assert value is not None
    return f"{value:,.0f}"


def money_alike(values: list[float | None], digits: int = 3) -> list[str]:
    """Amounts meant to be compared, written alike: one unit suffix and one number of decimals
    for all, enough for ``digits`` significant figures of the largest (8.70M beside 8.67M, never
    8.7M beside 8.67M). None or NaN gives "-".

    Args:
        values: amounts in currency units.
        digits: significant figures of the largest amount.
    """
    finite = [abs(float(v)) for v in values if _finite(v)]
    if not finite or max(finite) == 0:
        return [money(v, digits) for v in values]
    largest = float(f"{max(finite):.{digits}g}")
    scale, unit = next(((s, u) for s, u in _UNITS if largest >= s), (1.0, ""))
    decimals = max(0, digits - 1 - math.floor(math.log10(largest / scale)))
    out = []
    for v in values:
        if not _finite(v):
            out.append(MISSING)
            continue
        assert v is not None
        text = f"{v / scale:,.{decimals}f}"
        out.append(("0" if float(text.replace(",", "")) == 0 else text) + unit)
    return out


def interval(mean: float | None, low: float | None, high: float | None, kind: str = "money") -> str:
    """A mean with its interval, the three written alike: ``8.67M [8.60M, 8.74M]``,
    ``45% [41%, 49%]``, ``+1.25M [0.98M, 1.52M]`` for a difference (``kind="difference"``).

    Args:
        mean, low, high: the estimate and its interval's ends (None or NaN: left out).
        kind: ``"money"``, ``"difference"`` (money with a sign) or ``"share"``.
    """
    if not _finite(mean):
        return MISSING
    assert mean is not None
    if kind == "share":
        texts = [share(v) for v in (mean, low, high)]
    else:
        texts = money_alike([mean, low, high])
        if kind == "difference" and mean > 0:
            texts[0] = "+" + texts[0]
    if not (_finite(low) and _finite(high)):
        return texts[0]
    return f"{texts[0]} [{texts[1]}, {texts[2]}]"
