"""How numbers are written for people: one formatter for the app, figures, report and CLI.

Money goes to three significant figures with a unit suffix (1.25M, 30.2k, 950), shares to a whole
percent unless asked otherwise, counts with thousands separators. Money is in the scenario's
currency units: the unit of ``monthly_fee`` (docs/model.md, "Accounts").

What does not live here: deciding which numbers to show (`summary.py`, `report.py`, `plots.py`).
"""

from __future__ import annotations

import math
from numbers import Real

MISSING = "-"
_UNITS = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))


def _finite(value: float | None) -> bool:
    """A finite real number (Python or numpy, not a bool)."""
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


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
