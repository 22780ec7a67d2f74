from django.urls import path

from releases.views import release_detail, release_list, train

app_name = "releases"

urlpatterns = [
    path("", release_list.release_list, name="list"),
    path("<int:pk>/", release_detail.release_detail, name="detail"),
    path("trains/<int:pk>/", train.train_detail, name="train"),
]
