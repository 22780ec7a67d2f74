from django.urls import path

from releases.views import calendar

app_name = "calendar"

urlpatterns = [
    path("calendar/", calendar.month, name="month"),
]
