"""The partner API's reference page: the OpenAPI schema, rendered on the server as plain
HTML. Swagger UI and Redoc would need scripts from a CDN, which our Content Security Policy
(script-src 'self') refuses; this page needs none."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.shortcuts import render
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator

METHODS = ("get", "post", "put", "patch", "delete")


def _schema_ref(schema: dict, ref: str) -> dict:
    node = schema
    for part in ref.removeprefix("#/").split("/"):
        node = node.get(part, {})
    return node


def _endpoints(schema: dict) -> list[dict]:
    endpoints = []
    for path, item in schema.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if not operation:
                continue
            body = (
                operation.get("requestBody", {})
                .get("content", {})
                .get("application/json", {})
                .get("schema", {})
            )
            request = _schema_ref(schema, body["$ref"]) if "$ref" in body else {}
            endpoints.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": operation.get("summary", ""),
                    "description": operation.get("description", ""),
                    "parameters": [
                        {
                            "name": p["name"],
                            "where": p["in"],
                            "required": p.get("required", False),
                            "description": p.get("description", ""),
                        }
                        for p in operation.get("parameters", [])
                    ],
                    "fields": sorted((request.get("properties") or {}).items()),
                    "required": set(request.get("required", [])),
                    "responses": sorted(
                        (code, answer.get("description", ""))
                        for code, answer in operation.get("responses", {}).items()
                    ),
                }
            )
    return endpoints


@login_not_required
def docs_view(request):
    """Every endpoint, its parameters, body fields and answers, from the live schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return render(
        request,
        "partners/api_docs.html",
        {
            "info": schema.get("info", {}),
            "endpoints": _endpoints(schema),
            "schema_url": reverse("partner-api-schema"),
        },
    )
