from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("me/", views.me, name="me"),
    path("support/", views.support, name="support"),
    path("healthz", views.health, name="health"),
]
