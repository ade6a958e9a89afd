"""Page reads for the employee portal, each a constant number of queries."""

from companies.models import Partner, User
from velory.tenancy import Role


def support_contacts_for(user: User) -> dict:
    """Who an employee can ask: their company's IT contact and admins, the partners that
    handle their orders, and the leasing company. Two queries."""
    company = user.company
    if company is None:
        return {"company": None, "admins": [], "partners": [], "leasing_company": None}
    admins = list(
        User.objects.filter(company=company, role=Role.COMPANY_ADMIN, is_active=True)
        .only("full_name", "email", "phone", "job_title")
        .order_by("full_name")
    )
    partners = list(Partner.objects.visible_to(user).order_by("name"))
    return {
        "company": company,
        "admins": admins,
        "partners": partners,
        "leasing_company": company.leasing_company if company.leasing_company_id else None,
    }
