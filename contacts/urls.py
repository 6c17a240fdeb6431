"""Public pages for recipients (opt-out links)."""

from django.urls import path

from contacts import views

app_name = "contacts"
urlpatterns = [
    path("opt-out/<str:token>/", views.opt_out, name="opt_out"),
    path("opt-out/<str:token>/done/", views.opt_out_done, name="opt_out_done"),
]
