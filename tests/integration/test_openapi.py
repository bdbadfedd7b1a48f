"""The OpenAPI document: valid OpenAPI 3.1, complete (every app route, nothing more),
consistent with the middleware's public routes, and built from the live models."""
from __future__ import annotations

import re
from typing import Any

import pytest
from openapi_spec_validator import validate

from chalicelib.gateway import middleware
from chalicelib.gateway import openapi
from chalicelib.jobs import schemas as api_models

METHODS = {"get", "post", "put", "patch", "delete"}


def app_routes() -> set[tuple[str, str]]:
    from app import app

    return {(method.upper(), path) for path, entries in app.routes.items() for method in entries}


def documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(m.upper(), path) for path, ops in doc["paths"].items() for m in ops if m in METHODS}


def test_document_is_valid_openapi_3_1() -> None:
    doc = openapi.document()
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


def test_document_is_built_once_per_container() -> None:
    assert openapi.document() is openapi.document()
    assert openapi.document_json() is openapi.document_json()


def test_every_app_route_is_documented() -> None:
    missing = app_routes() - documented(openapi.document())
    assert not missing, f"routes without documentation: {sorted(missing)}"


def test_every_documented_route_exists_in_the_app() -> None:
    extra = documented(openapi.document()) - app_routes()
    assert not extra, f"documented routes that app.py does not serve: {sorted(extra)}"


def test_auth_and_maintenance_models_are_the_real_ones() -> None:
    assert openapi.unresolved_models() == []


def test_public_routes_match_the_middleware() -> None:
    doc = openapi.document()
    public = {(m.upper(), p) for p, ops in doc["paths"].items() for m, op in ops.items() if op.get("security") == []}
    assert public == set(middleware.PUBLIC_ROUTES)
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if (method.upper(), path) not in public:
                assert "401" in op["responses"], (method, path)


def test_admin_routes_document_403_and_path_ids_document_404() -> None:
    for route in openapi.ROUTES:
        responses = openapi.document()["paths"][route.path][route.method.lower()]["responses"]
        if route.auth == "admin":
            assert "403" in responses, route.path
        if "{" in route.path:
            assert "404" in responses, route.path
            params = openapi.document()["paths"][route.path][route.method.lower()]["parameters"]
            assert {p["name"] for p in params if p["in"] == "path"} == set(re.findall(r"{(\w+)}", route.path))


def test_every_error_response_uses_the_one_error_format() -> None:
    for path, ops in openapi.document()["paths"].items():
        for method, op in ops.items():
            for code, response in op["responses"].items():
                if int(code) >= 400 and path != "/health":
                    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}


def test_jobs_routes_reference_the_api_models() -> None:
    doc = openapi.document()
    create = doc["paths"]["/jobs"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/CreateJobRequest")
    assert create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/CreateJobResponse")
    schema = doc["components"]["schemas"]["JobParams"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["segment_length"]["maximum"] == api_models.MAX_SEGMENT_LENGTH
    job = doc["components"]["schemas"]["JobOut"]
    assert set(job["required"]) >= {"job_id", "job_name", "status", "progress", "created_at", "updated_at"}
    params = {p["name"]: p for p in doc["paths"]["/jobs"]["get"]["parameters"]}
    assert params["limit"]["schema"]["maximum"] == 100 and params["limit"]["schema"]["default"] == 50
    assert "anyOf" not in params["status"]["schema"] and "Archived" in params["status"]["schema"]["enum"]


def test_an_unresolvable_reference_degrades_to_a_generic_schema() -> None:
    route = openapi.RouteDoc("GET", "/x", "x", "user", 200, openapi.Ref("chalicelib.nope", "Missing"))
    doc = openapi.build_document((route,))
    validate(doc)
    ref = doc["paths"]["/x"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/GenericObject")


@pytest.mark.parametrize("code", sorted(openapi.ERROR_REASONS))
def test_error_reasons_are_described(code: int) -> None:
    assert openapi.ERROR_REASONS[code]
