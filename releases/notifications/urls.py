from django.urls import path

from releases.notifications import views

app_name = "notifications"

urlpatterns = [
    path("", views.notification_list, name="list"),
    path("read/", views.notifications_read_all, name="read-all"),
    path("<int:pk>/read/", views.notification_read, name="read"),
]
