"""Public pages for recipients (opt-out links)."""

app_name = "contacts"
urlpatterns: list = []
