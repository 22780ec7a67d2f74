"""{% load numbers %}: {{ run.pass_rate|share:1 }} shows a fraction as releases.numbers says it."""

from django import template

from releases import numbers

register = template.Library()


@register.filter
def share(rate, decimals=None) -> str:
    """A fraction from 0 to 1 as "99.7%", "> 99.9%", "< 0.1%" (never a rounded 0% or 100%);
    {{ rate|share:1 }} with one decimal throughout, as pass rates are said."""
    return numbers.percent(
        None if rate in (None, "") else float(rate), decimals=None if decimals is None else int(decimals)
    )
