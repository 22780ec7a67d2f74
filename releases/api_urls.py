from django.urls import path

from releases import api, api_bookings

app_name = "api"

urlpatterns = [
    path("releases/<int:pk>/gates", api.release_gates, name="release-gates"),
    path("can-deploy", api.can_deploy_view, name="can-deploy"),
    path("environments", api_bookings.environments_view, name="environments"),
    path("bookings", api_bookings.bookings_view, name="bookings"),
    path("bookings/<int:pk>/cancel", api_bookings.booking_cancel_view, name="booking-cancel"),
]
