"""A stand-in view for a page being built (removed once the last page lands)."""

from django.shortcuts import render


def being_built(title: str):
    def view(request, **kwargs):
        return render(request, "portal/coming_soon.html", {"title": title, "summary": "Being built."})

    return view
