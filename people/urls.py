"""SCIM 2.0 under /scim/v2/ (the base URL a directory is given)."""

from django.urls import path, re_path

from . import scim

urlpatterns = [
    path("ServiceProviderConfig", scim.ServiceProviderConfig.as_view(), name="scim-config"),
    path("Schemas", scim.Schemas.as_view(), name="scim-schemas"),
    re_path(r"^Schemas/(?P<urn>[\w:.\-]+)$", scim.Schemas.as_view(), name="scim-schema"),
    path("ResourceTypes", scim.ResourceTypes.as_view(), name="scim-resource-types"),
    path("ResourceTypes/<str:name>", scim.ResourceTypes.as_view(), name="scim-resource-type"),
    path("Users", scim.Users.as_view(), name="scim-users"),
    path("Users/<int:pk>", scim.UserDetail.as_view(), name="scim-user"),
    path("Groups", scim.Groups.as_view(), name="scim-groups"),
    path("Groups/<int:pk>", scim.GroupDetail.as_view(), name="scim-group"),
]
