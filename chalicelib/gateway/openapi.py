"""The OpenAPI 3.1 description of the service, generated from the route table below.

Every route of `app.py` has one `RouteDoc` here naming its pydantic models, so request
validation, responses and the document share one definition (a test checks that the
table and the app's routes agree). Models of other modules are referenced lazily by
`Ref`, so importing this module stays cheap and an unfinished module degrades to a
generic schema instead of breaking the document. The document is built once per
container.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import models_json_schema

from chalicelib.gateway.schemas import ErrorBody, HealthResponse
from chalicelib.jobs import schemas as m

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"
SCHEMA_REF = "#/components/schemas/{model}"
Auth = Literal["public", "user", "admin"]

ERROR_REASONS: dict[int, str] = {
    400: "Invalid request: malformed JSON, wrong types, unknown fields, values out of range, bad page token",
    401: "Missing, invalid or expired bearer token",
    403: "The caller may not do this (a deactivated account, not an administrator, or a migrated "
    "account that must reset its password: code password_reset_required)",
    404: "No such resource for this caller (another user's job is 404 too)",
    409: "The resource's state does not allow this (e.g. job already terminal, or Running)",
    406: "The answer's media type is not among those the Accept header names",
    413: "The answer is too large for one response",
    415: "The body must be JSON with Content-Type: application/json",
    429: "Too many attempts; see Retry-After",
    503: "Storage temporarily unavailable or service misconfigured; retry later",
}


class GenericObject(BaseModel):
    """Stand-in for a model whose module does not provide it (yet)."""

    model_config = ConfigDict(extra="allow", title="GenericObject")


@dataclass(frozen=True)
class Ref:
    """A model defined in another module, imported only when the document is built."""

    module: str
    name: str

    def load(self) -> type[BaseModel] | None:
        try:
            model = getattr(importlib.import_module(self.module), self.name)
        except (ImportError, AttributeError):
            return None
        return model if isinstance(model, type) and issubclass(model, BaseModel) else None

    def resolve(self) -> type[BaseModel]:
        return self.load() or GenericObject


ModelRef = type[BaseModel] | Ref | None


@dataclass(frozen=True)
class RouteDoc:
    method: str
    path: str
    summary: str
    auth: Auth
    status: int
    response: ModelRef = None  # None: no body (e.g. 204)
    request: ModelRef = None
    query: ModelRef = None
    errors: tuple[int, ...] = ()
    tag: str = "jobs"
    description: str = ""
    extra_responses: dict[int, tuple[str, ModelRef]] = field(default_factory=dict)
    media_type: str | None = None  # a non-JSON success body (the web app's page and assets)
    #: other media types the success answer can take (a query parameter chooses), as files
    also_media: tuple[str, ...] = ()


def _accounts(name: str) -> Ref:
    return Ref("chalicelib.accounts.api", name)


def _maintenance(name: str) -> Ref:
    return Ref("chalicelib.maintenance.tasks", name)


#: The batch workbook's media type (chalicelib.batches.schemas.XLSX_MEDIA_TYPE; not imported:
#: the document is built from references, loaded on first use).
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _batches(name: str) -> Ref:
    return Ref("chalicelib.batches.schemas", name)


def _runs(name: str) -> Ref:
    return Ref("chalicelib.maintenance.runs", name)


ROUTES: tuple[RouteDoc, ...] = (
    # --- auth (chalicelib.accounts.api) ---
    RouteDoc(
        "POST",
        "/auth/register",
        "Create an account",
        "public",
        201,
        _accounts("UserOut"),
        _accounts("RegisterRequest"),
        errors=(409, 429),
        tag="auth",
    ),
    RouteDoc(
        "POST",
        "/auth/login",
        "Exchange username and password for a bearer token",
        "public",
        200,
        _accounts("TokenOut"),
        _accounts("LoginRequest"),
        errors=(401, 403, 429),
        tag="auth",
    ),
    RouteDoc("GET", "/auth/me", "The caller's account", "user", 200, _accounts("UserOut"), tag="auth"),
    RouteDoc(
        "POST",
        "/auth/password",
        "Change the password; older tokens stop working",
        "user",
        204,
        None,
        _accounts("PasswordChangeRequest"),
        errors=(403, 429),
        tag="auth",
    ),
    RouteDoc(
        "POST",
        "/auth/password-reset",
        "Email a password-reset token (always 202)",
        "public",
        202,
        _accounts("ResetAccepted"),
        _accounts("PasswordResetRequest"),
        errors=(429,),
        tag="auth",
    ),
    RouteDoc(
        "POST",
        "/auth/password-reset/confirm",
        "Set a new password with a reset token",
        "public",
        204,
        None,
        _accounts("PasswordResetConfirm"),
        tag="auth",
    ),
    RouteDoc(
        "GET",
        "/admin/users",
        "List accounts",
        "admin",
        200,
        _accounts("UserList"),
        query=_accounts("UserListQuery"),
        tag="admin",
    ),
    RouteDoc(
        "PATCH",
        "/admin/users/{user_id}",
        "Activate/deactivate an account or change its role",
        "admin",
        200,
        _accounts("UserOut"),
        _accounts("AdminUserPatch"),
        errors=(404, 409),
        tag="admin",
    ),
    # --- jobs (chalicelib.jobs.api) ---
    RouteDoc(
        "POST",
        "/jobs",
        "Submit a job and get a presigned POST for its input file",
        "user",
        201,
        m.CreateJobResponse,
        m.CreateJobRequest,
        description="Upload the FASTA file with the returned presigned POST within its expiry; "
        "its arrival starts the prediction.",
    ),
    RouteDoc(
        "GET",
        "/jobs",
        "The caller's jobs, newest first; with scope=all, every user's jobs of one status (administrators)",
        "user",
        200,
        m.JobListResponse,
        query=m.JobListQuery,
        errors=(403,),
    ),
    RouteDoc("GET", "/jobs/{job_id}", "One job", "user", 200, m.JobOut),
    RouteDoc(
        "POST", "/jobs/{job_id}/cancel", "Cancel a Submitted or Running job", "user", 202, m.JobOut, errors=(409,)
    ),
    RouteDoc("DELETE", "/jobs/{job_id}", "Delete a job with its events and files", "user", 204, None, errors=(409,)),
    RouteDoc(
        "GET", "/jobs/{job_id}/logs", "The job's events, oldest first", "user", 200, m.LogsResponse, query=m.LogsQuery
    ),
    RouteDoc(
        "GET",
        "/jobs/{job_id}/results",
        "predictions.json plus download links of every result file",
        "user",
        200,
        m.ResultsResponse,
        errors=(409,),
    ),
    # --- batches (chalicelib.batches.api) ---
    RouteDoc(
        "POST",
        "/batches",
        "Submit a batch of 1-500 samples; a presigned POST for each sample's file",
        "user",
        201,
        _batches("CreateBatchResponse"),
        _batches("CreateBatchRequest"),
        tag="batches",
        description="Every sample becomes a job with `batch_id`; upload each file with its presigned POST.",
    ),
    RouteDoc(
        "GET",
        "/batches",
        "The caller's batches, newest first",
        "user",
        200,
        _batches("BatchListResponse"),
        query=_batches("BatchListQuery"),
        tag="batches",
    ),
    RouteDoc(
        "GET",
        "/batches/{batch_id}",
        "One batch: counts by status, progress, timing",
        "user",
        200,
        _batches("BatchOut"),
        tag="batches",
    ),
    RouteDoc(
        "POST",
        "/batches/{batch_id}/cancel",
        "Cancel every Submitted or Running job of the batch",
        "user",
        202,
        _batches("BatchOut"),
        tag="batches",
    ),
    RouteDoc(
        "DELETE",
        "/batches/{batch_id}",
        "Delete the batch with every job, event and file of it",
        "user",
        204,
        None,
        errors=(409,),
        tag="batches",
        description="409 while a job of the batch is Running: cancel the batch first.",
    ),
    RouteDoc(
        "GET",
        "/batches/{batch_id}/matrix",
        "Sample x antibiotic matrix (R, S, ?, or empty while unknown)",
        "user",
        200,
        _batches("MatrixResponse"),
        query=_batches("MatrixQuery"),
        tag="batches",
        errors=(406, 413),
        also_media=("text/tab-separated-values", XLSX),
        description="format=tsv answers text/tab-separated-values for a spreadsheet; format=xlsx the batch "
        "workbook (sheets Summary, Matrix, Genes, Mutations, Plasmids, MLST, QC, Settings), "
        f"for a request with `Accept: {XLSX}` (406 otherwise).",
    ),
    RouteDoc(
        "GET",
        "/stats",
        "Job statistics of the caller, or of everyone (admins)",
        "user",
        200,
        m.StatsResponse,
        query=m.StatsQuery,
        errors=(403,),
    ),
    # --- maintenance (chalicelib.maintenance.tasks) ---
    RouteDoc(
        "DELETE",
        "/jobs/cleanup",
        "Delete terminal jobs older than N days",
        "admin",
        200,
        _maintenance("CleanupReport"),
        query=_maintenance("CleanupQuery"),
        tag="admin",
        description="Bounded: at most cleanup.max_jobs_per_run jobs and "
        "about 20 seconds per call; `more_due` asks the caller to call again.",
    ),
    RouteDoc(
        "POST",
        "/admin/maintenance",
        "Queue an archive / purge / stalled-job recovery run now",
        "admin",
        202,
        _runs("RunAccepted"),
        _maintenance("MaintenanceRequest"),
        tag="admin",
        description="Answers at once; the run executes in the maintenance function. "
        "Follow it with GET /admin/maintenance/{run_id}.",
    ),
    RouteDoc(
        "GET",
        "/admin/maintenance/{run_id}",
        "A maintenance run: queued, running, finished (with its report) or failed",
        "admin",
        200,
        _runs("RunOut"),
        tag="admin",
        errors=(404,),
    ),
    # --- service ---
    RouteDoc(
        "GET",
        "/health",
        "Storage reachability",
        "public",
        200,
        HealthResponse,
        tag="service",
        extra_responses={503: ("Storage is unreachable; the body names what", HealthResponse)},
    ),
    RouteDoc("GET", "/openapi.json", "This document", "public", 200, GenericObject, tag="service"),
    # --- the browser app (chalicelib.gateway.webapp) ---
    RouteDoc(
        "GET",
        "/",
        "The web app's page",
        "public",
        200,
        media_type="text/html",
        tag="web",
        description="Served with a Content-Security-Policy that allows only the app's own assets, "
        "this API and the upload bucket.",
    ),
    RouteDoc(
        "GET",
        "/assets/{name}",
        "One asset of the web app (script, style sheet, icon)",
        "public",
        200,
        media_type="*/*",
        tag="web",
        description="ETag-validated (Cache-Control: no-cache; 304 when unchanged).",
    ),
)


def route_doc(method: str, path: str) -> RouteDoc | None:
    for route in ROUTES:
        if route.method == method.upper() and route.path == path:
            return route
    return None


def unresolved_models() -> list[str]:
    """Lazy references that their module does not (yet) provide: the document shows a
    generic object for them."""
    missing = []
    for route in ROUTES:
        refs = [route.request, route.query, route.response] + [r for _, r in route.extra_responses.values()]
        for ref in refs:
            if isinstance(ref, Ref) and ref.load() is None:
                missing.append(f"{ref.module}.{ref.name}")
    return sorted(set(missing))


def _resolve(ref: ModelRef) -> type[BaseModel] | None:
    return ref.resolve() if isinstance(ref, Ref) else ref


def _path_params(path: str) -> list[dict[str, Any]]:
    """Ids (`*_id`) are UUIDs; other path parameters (an asset's file name) are plain text."""
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "format": "uuid"} if name.endswith("_id") else {"type": "string"},
            "description": "A UUID; anything else is 404" if name.endswith("_id") else "A file name; unknown is 404",
        }
        for name in re.findall(r"{([^}]+)}", path)
    ]


def _query_params(schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema.get("properties", {}).items():
        prop = _without_null(prop)
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if "description" in prop:
            param["description"] = prop["description"]
        params.append(param)
    return params


def _without_null(prop: dict[str, Any]) -> dict[str, Any]:
    """An optional query parameter is absent, never null: drop pydantic's null branch."""
    branches = [b for b in prop.get("anyOf", []) if b.get("type") != "null"]
    if len(branches) != 1 or len(branches) == len(prop.get("anyOf", [])):
        return prop
    out = {k: v for k, v in prop.items() if k != "anyOf" and not (k == "default" and v is None)}
    return {**branches[0], **out}


def _json_content(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": ref}}}


def _error_codes(route: RouteDoc) -> list[int]:
    codes = set(route.errors) | {503}
    if route.auth != "public":
        codes |= {401, 403}  # 403: a deactivated account, or a user on an admin route
    if route.request is not None:
        codes |= {400, 415}
    if route.query is not None:
        codes.add(400)
    if "{" in route.path:
        codes.add(404)
    return sorted(codes - set(route.extra_responses))


def _operation(route: RouteDoc, refs: Mapping[Any, Any], defs: dict[str, Any]) -> dict[str, Any]:
    op_id = route.method.lower() + "_" + re.sub(r"[^A-Za-z0-9]+", "_", route.path).strip("_")
    op: dict[str, Any] = {"operationId": op_id, "summary": route.summary, "tags": [route.tag]}
    if route.description:
        op["description"] = route.description
    if route.auth == "public":
        op["security"] = []
    elif route.auth == "admin":
        op["description"] = (op.get("description", "") + " Administrators only.").strip()
    params = _path_params(route.path)
    query = _resolve(route.query)
    if query is not None:
        params += _query_params(defs[_def_name(refs[(query, "validation")])])
    if params:
        op["parameters"] = params
    request = _resolve(route.request)
    if request is not None:
        op["requestBody"] = {"required": True, "content": _json_content(refs[(request, "validation")])}
    responses: dict[str, Any] = {}
    response = _resolve(route.response)
    ok: dict[str, Any] = {"description": route.summary}
    if response is not None:
        ok["content"] = _json_content(refs[(response, "serialization")])
    elif route.media_type:
        ok["content"] = {route.media_type: {"schema": {"type": "string"}}}
    for media in route.also_media:
        ok.setdefault("content", {})[media] = {"schema": {"type": "string", "format": "binary"}}
    responses[str(route.status)] = ok
    for code, (text, model_ref) in route.extra_responses.items():
        model = _resolve(model_ref)
        entry: dict[str, Any] = {"description": text}
        if model is not None:
            entry["content"] = _json_content(refs[(model, "serialization")])
        responses[str(code)] = entry
    for code in _error_codes(route):
        responses[str(code)] = {
            "description": ERROR_REASONS[code],
            "content": _json_content(refs[(ErrorBody, "serialization")]),
        }
    op["responses"] = dict(sorted(responses.items()))
    return op


def _def_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _models(routes: tuple[RouteDoc, ...]) -> list[tuple[type[BaseModel], Literal["validation", "serialization"]]]:
    wanted: dict[tuple[type[BaseModel], str], None] = {(ErrorBody, "serialization"): None}
    for route in routes:
        for ref, mode in (
            (route.request, "validation"),
            (route.query, "validation"),
            (route.response, "serialization"),
        ):
            model = _resolve(ref)
            if model is not None:
                wanted[(model, mode)] = None
        for _, model_ref in route.extra_responses.values():
            model = _resolve(model_ref)
            if model is not None:
                wanted[(model, "serialization")] = None
    return list(wanted)  # type: ignore[arg-type]


def build_document(routes: tuple[RouteDoc, ...] = ROUTES) -> dict[str, Any]:
    """The OpenAPI 3.1 document for `routes` (pure: no AWS, no app import)."""
    models = _models(routes)
    refs_by_model, top = models_json_schema(models, ref_template=SCHEMA_REF)
    refs = {key: value["$ref"] for key, value in refs_by_model.items()}
    defs: dict[str, Any] = top.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, refs, defs)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "AMR prediction job service",
            "version": API_VERSION,
            "description": "Submit bacterial genome assemblies, follow their prediction jobs and fetch "
            'antimicrobial-resistance results. Every error is {"error": {"code", "message"}}.',
        },
        "servers": [{"url": "/"}],
        "tags": [{"name": t} for t in ("auth", "jobs", "batches", "admin", "service", "web")],
        "security": [{"bearerAuth": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(defs.items())),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


@functools.lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    """The service's document, built once per container."""
    return build_document()


@functools.lru_cache(maxsize=1)
def document_json() -> str:
    return json.dumps(document(), ensure_ascii=False, separators=(",", ":"))


def serve() -> Any:
    """GET /openapi.json."""
    from chalice.app import Response

    return Response(body=document_json(), status_code=200, headers={"Content-Type": "application/json"})
