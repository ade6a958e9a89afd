"""The permission groups behind the roles. Created and kept in sync by migrations
(``sync_role_groups``), never by hand; ``user_set_role`` puts a user in the right group.

Model permissions only open the admin's doors; what a user may *do* to an object
(transitions) is checked in the services, and which rows they see is the tenant scope."""

from core.tenancy import Role

GROUP_NAMES = {
    Role.COMPANY_ADMIN: "Company admins",
    Role.PARTNER_STAFF: "Partner staff",
}

ROLE_PERMISSIONS = {
    Role.COMPANY_ADMIN: [
        "companies.view_company",
        "companies.change_company",
        "companies.view_partner",
        "companies.view_leasingcompany",
        "companies.view_user",
        "companies.add_user",
        "companies.change_user",
        "notifications.view_notification",
        "devices.view_device",
        "devices.view_deviceevent",
        "orders.view_order",
        "orders.view_orderline",
        "orders.view_shipment",
        "orders.view_product",
        "orders.add_product",
        "orders.change_product",
        "orders.view_productrequest",
        "orders.change_productrequest",
        "orders.change_order",
        "budgets.view_budget",
        "budgets.add_budget",
        "budgets.change_budget",
        "budgets.view_budgetentry",
        "budgets.view_cardpayment",
        "budgets.view_refund",
        "budgets.view_paymentmismatch",
        "budgets.change_paymentmismatch",
        "leasing.view_lease",
        "leasing.change_lease",
        "leasing.view_leasingarrangement",
        "leasing.add_leasingarrangement",
        "leasing.change_leasingarrangement",
        "leasing.view_buyout",
        # The people lifecycle (people/): groups, policies, directory tokens, CSV, leavers.
        "companies.view_employeegroup",
        "companies.add_employeegroup",
        "companies.change_employeegroup",
        "budgets.view_budgetpolicy",
        "budgets.add_budgetpolicy",
        "budgets.change_budgetpolicy",
        "budgets.delete_budgetpolicy",
        "people.view_scimtoken",
        "people.add_scimtoken",
        "people.view_csvimport",
        "people.add_csvimport",
        "people.view_offboardingcase",
        "people.change_offboardingcase",
        "people.view_offboardingitem",
        "people.view_attestation",
        "people.view_attestationanswer",
        "orders.view_orderalert",
        # Signed webhooks (notifications/webhooks.py): their endpoints and deliveries.
        "notifications.view_webhookendpoint",
        "notifications.add_webhookendpoint",
        "notifications.change_webhookendpoint",
        "notifications.view_webhookdelivery",
    ],
    Role.PARTNER_STAFF: [
        "companies.view_company",
        "companies.view_partner",
        "devices.view_device",
        "devices.view_deviceevent",
        "orders.view_order",
        "orders.view_orderline",
        "orders.view_shipment",
        "orders.view_product",
        "orders.change_order",
        "orders.view_workqueuedevice",
        "orders.view_workqueueorder",
        "orders.view_orderalert",
        "partners.view_distributorconnection",
        # The push API's keys: made (shown once) and revoked by the partner's own staff.
        "partners.view_partnerapikey",
        "partners.add_partnerapikey",
        "leasing.view_lease",
        "leasing.view_buyout",
        # Signed webhooks (notifications/webhooks.py): their endpoints and deliveries.
        "notifications.view_webhookendpoint",
        "notifications.add_webhookendpoint",
        "notifications.change_webhookendpoint",
        "notifications.view_webhookdelivery",
    ],
}


def sync_role_groups(apps) -> None:
    """Create the groups and give each exactly its permissions (for migrations)."""
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after migrate; a data migration needs them now.
    # A migration's app configs have no models module, so create_permissions would skip
    # them: lend one for the call and put back what was there (the live registry's module
    # must survive, or post_migrate would stop creating content types after a flush).
    for app_config in apps.get_app_configs():
        original = getattr(app_config, "models_module", None)
        app_config.models_module = original or True
        try:
            create_permissions(app_config, verbosity=0, apps=apps)
        finally:
            app_config.models_module = original

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, name in GROUP_NAMES.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = []
        for code in ROLE_PERMISSIONS[role]:
            app_label, codename = code.split(".")
            perm = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if perm is not None:
                wanted.append(perm)
        group.permissions.set(wanted)
