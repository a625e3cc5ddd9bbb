from django.urls import path

from frontend_site import views

urlpatterns = [
    path("", views.index),
    path("roll", views.roll),
    path("roll-async", views.roll_many),
    path("healthz", views.healthz),
    path("readyz", views.readyz),
    path("metrics", views.metrics),
]

# Unknown paths, bad hosts and crashes answer JSON like the other services (with DEBUG off).
handler400 = views.bad_request
handler404 = views.not_found
handler500 = views.server_error
