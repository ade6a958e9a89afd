"""The partner push API, /api/partner/v1/ (docs/partner-api.md): Django REST framework views
that parse, check the key and call ``partners.services.pushing``; OpenAPI 3 by
drf-spectacular."""
