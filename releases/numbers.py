"""Shares in words: one rule for every percentage the portal shows (test pass rates, failure rates,
on-time rates, occupancy). A share never rounds to 0% or 100% when the truth is not: 12 failures in
3,795 tests is "99.7%", 1 in 100,000 is "< 0.1%", 3,794 in 3,795 is "> 99.9%". Between 1% and 99% a
whole percent says enough; nearer the ends one decimal does. Pass rates, which cluster near 100% and
meet thresholds such as 97.5%, are said with one decimal throughout (`decimals=1`): "90.9%", and
"97%" when exactly that."""


def percent(rate: float | None, *, decimals: int | None = None) -> str:
    """A fraction from 0 to 1 as a percentage ("—" when there is none); `decimals` fixes the precision
    instead of the whole-percent-in-the-middle rule."""
    if rate is None:
        return "—"
    if rate <= 0:
        return "0%"
    if rate >= 1:
        return "100%"
    value = 100 * rate
    if decimals is None:
        decimals = 0 if 1 <= value <= 99 else 1
    text = f"{value:.0f}%" if abs(value - round(value)) < 1e-9 else f"{value:.{decimals}f}%"
    if float(text[:-1]) == 0:
        return f"< {10 ** -max(decimals, 1):g}%"
    if float(text[:-1]) == 100:
        return f"> {100 - 10 ** -max(decimals, 1):g}%"
    return text


def share(part: int, whole: int, *, decimals: int | None = None) -> str:
    """`part` of `whole` as a percentage ("—" when the whole is nothing)."""
    return percent(part / whole, decimals=decimals) if whole else "—"
