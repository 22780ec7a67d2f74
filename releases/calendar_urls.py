from django.urls import path

from releases.views import calendar

app_name = "calendar"

urlpatterns = [
    path("calendar/", calendar.calendar_page, name="month"),
    path("calendar/day/<str:day>/", calendar.day_page, name="day"),
    path("calendar.ics", calendar.feed, name="ics"),
]
