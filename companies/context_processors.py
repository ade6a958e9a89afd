from core.tenancy import Role


def shell(request):
    """What the page shell needs: no queries (the user is loaded with company and partner)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    if user.role == Role.PARTNER_STAFF and user.partner_id:
        tenant_name = user.partner.name
    elif user.company_id:
        tenant_name = user.company.name
    else:
        tenant_name = "Velory"
    return {"tenant_name": tenant_name, "can_use_admin": user.is_staff}
