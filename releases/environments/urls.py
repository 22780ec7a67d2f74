from django.urls import path

from releases.environments import api
from releases.environments.views import bookings, environments

app_name = "environments"

urlpatterns = [
    path("", environments.environment_list, name="list"),
    path("board/", environments.booking_board, name="board"),
    path("what-runs-where/", environments.environment_matrix, name="matrix"),
    path("<int:pk>/", environments.environment_detail, name="detail"),
    path("<int:pk>/bookings.ics", environments.environment_feed, name="ics"),
    path("bookings/new/", bookings.booking_request, name="booking-request"),
    path("bookings/check/", bookings.booking_check, name="booking-check"),
    path("bookings/queue/", bookings.booking_list, name="queue"),
    path("bookings/queue/approve/", bookings.booking_approve_many, name="booking-approve-many"),
    path("bookings/<int:pk>/approve/", bookings.booking_approve, name="booking-approve"),
    path("bookings/<int:pk>/reject/", bookings.booking_reject, name="booking-reject"),
    path("bookings/<int:pk>/cancel/", bookings.booking_cancel, name="booking-cancel"),
    path("bookings/<int:pk>/shorten/", bookings.booking_shorten, name="booking-shorten"),
]

# Under /api/, in the "api" namespace with the other areas' (portal/urls.py).
api_urlpatterns = [
    path("environments", api.environment_list, name="environments"),
    path("bookings", api.booking_list_or_request, name="bookings"),
    path("bookings/<int:pk>/cancel", api.booking_cancel, name="booking-cancel"),
]
