"""The role groups: what each role may do in the admin is one group, made by a migration
and re-made by the browser tests' fixture after each flush."""

from django.apps import apps
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType

from companies.roles import GROUP_NAMES, ROLE_PERMISSIONS, sync_role_groups


def test_sync_gives_each_role_group_exactly_its_permissions(db):
    Group.objects.all().delete()
    sync_role_groups(apps)
    for role, name in GROUP_NAMES.items():
        group = Group.objects.get(name=name)
        have = {
            f"{app}.{code}"
            for app, code in group.permissions.values_list("content_type__app_label", "codename")
        }
        assert have == set(ROLE_PERMISSIONS[role])


def test_sync_on_the_live_registry_leaves_its_app_configs_whole(db):
    """It once left every app without its models module, so the flush after a browser test
    stopped re-creating content types and later writes failed on a missing one."""
    before = {config.label: config.models_module for config in apps.get_app_configs()}
    sync_role_groups(apps)
    after = {config.label: config.models_module for config in apps.get_app_configs()}
    assert after == before
    assert ContentType.objects.get_for_model(Group).model == "group"
