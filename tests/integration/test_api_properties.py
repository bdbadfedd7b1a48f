"""Property-based robustness of the whole HTTP API against its OpenAPI document.

For every documented route that the app serves, Hypothesis generates requests — right
and wrong tokens, path ids (own, foreign, unknown, not UUIDs), query strings, bodies
(valid-looking, wrongly typed, unknown fields, huge/negative numbers, unicode, raw
bytes, wrong content types) — sends them through the Chalice test client on moto and
asserts that the answer is never a 5xx and that its status and body are what the
document declares for that route. Examples per route are bounded so the file stays
fast; the number of cases run is reported at the end.
"""
from __future__ import annotations

import contextlib
import functools
import json
import re
import uuid
from collections import Counter
from typing import Any, Iterator
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_schema_validator import OAS31Validator

from chalicelib.batches import store as batches
from chalicelib.gateway import openapi
from chalicelib.jobs import lifecycle as jobs, s3layout, schemas as api_models
from chalicelib.jobs.params import PredictParams
from chalicelib.core.settings import get_settings

EXAMPLES_PER_ROUTE = 50
CASES: Counter[str] = Counter()
ANSWERS: dict[str, Counter[int]] = {}
PARAM_NAMES = list(api_models.JobParams.model_fields)
STATUSES = ["Submitted", "Running", "Completed", "Error", "Archived", "Cancelled"]
CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "text/plain", "multipart/form-data", None]


def _app_routes() -> set[tuple[str, str]]:
    from app import app

    return {(method.upper(), path) for path, entries in app.routes.items() for method in entries}


SERVED = [r for r in openapi.ROUTES if (r.method, r.path) in _app_routes()]
NOT_SERVED = [f"{r.method} {r.path}" for r in openapi.ROUTES if (r.method, r.path) not in _app_routes()]


@pytest.fixture(scope="module", autouse=True)
def report_cases(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"property cases run: {sum(CASES.values())} over {len(CASES)} routes"]
    for route, count in sorted(CASES.items()):
        answers = " ".join(f"{status}x{n}" for status, n in sorted(ANSWERS.get(route, Counter()).items()))
        lines.append(f"  {count:4d}  {route:34s} {answers}")
    if NOT_SERVED:
        lines.append(f"  documented but not served by app.py (skipped): {', '.join(NOT_SERVED)}")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        for line in lines:
            if reporter is not None:
                reporter.write_line(line)
            else:
                print(line)


# --- checking answers against the document ---------------------------------------


@functools.lru_cache(maxsize=None)
def _validator(ref: str) -> OAS31Validator:
    doc = openapi.document()
    return OAS31Validator({"$ref": ref, "components": doc["components"]})


def check_answer(route: openapi.RouteDoc, response: Any) -> None:
    """No 5xx; the status is declared for the route and the body matches its schema."""
    status = response.status_code
    assert status < 500 or (route.path == "/health" and status == 503), (status, response.body)
    op = openapi.document()["paths"][route.path][route.method.lower()]
    assert str(status) in op["responses"], f"{route.method} {route.path}: undocumented status {status}: {response.body!r}"
    content = op["responses"][str(status)].get("content")
    if content is None:
        assert not response.body, response.body
        return
    if "application/json" not in content:  # the web app's page and assets
        media = next(iter(content))
        served = str(response.headers.get("Content-Type", ""))
        assert media == "*/*" or served.startswith(media), (route.path, served)
        return
    body = json.loads(response.body)
    errors = sorted(_validator(content["application/json"]["schema"]["$ref"]).iter_errors(body), key=str)
    assert not errors, f"{route.method} {route.path} {status}: {errors[0].message} in {body!r}"


# --- the world the requests act on ------------------------------------------------


def _with_results(user_id: str, job_id: str) -> None:
    bucket = get_settings().results_bucket
    body = {"job_id": job_id, "database": {"name": "resfinder"}, "genes": [], "resistance": {}, "stats": {}}
    key = s3layout.result_key(user_id, job_id, "predictions.json")
    s3layout.put_object(bucket, key, json.dumps(body).encode(), "application/json")
    jobs.transition(job_id, "Running")
    jobs.transition(job_id, "Completed", result_keys=[key])


@pytest.fixture
def world(client: Any, make_user: Any) -> dict[str, Any]:
    """Three accounts; Alice owns a job in several statuses, Bob one job."""
    alice_id, alice = make_user("alice")
    bob_id, bob = make_user("bob")
    admin_id, admin = make_user("root", role="admin")
    mine = {status: jobs.create_job(user_id=alice_id, job_name=status, params={}).job_id for status in
            ("Submitted", "Running", "Completed", "Cancelled")}
    jobs.transition(mine["Running"], "Running")
    jobs.transition(mine["Cancelled"], "Cancelled")
    _with_results(alice_id, mine["Completed"])
    foreign = jobs.create_job(user_id=bob_id, job_name="bob's", params={}).job_id
    batch = batches.create(user_id=alice_id, batch_name="run", params={})
    jobs.create_job(user_id=alice_id, job_name="sample", params={}, batch_id=batch.batch_id)
    foreign_batch = batches.create(user_id=bob_id, batch_name="bob's run", params={}).batch_id
    return {
        "client": client,
        "headers": {"alice": alice, "bob": bob, "admin": admin},
        "ids": {**{f"job_{k}": v for k, v in mine.items()}, "foreign_job": foreign, "bob_user": bob_id,
                "admin_user": admin_id, "batch": batch.batch_id, "foreign_batch": foreign_batch},
    }


# --- strategies ------------------------------------------------------------------------

texts = st.text(max_size=24)
numbers = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40), st.integers(-2, 200_000),
    st.floats(allow_nan=False), st.sampled_from([0, 1, 0.5, 1e-320, 2**63, -1]),
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def _fields_of(ref: openapi.ModelRef) -> list[str]:
    model = ref.resolve() if isinstance(ref, openapi.Ref) else ref
    return list(model.model_fields) if model is not None else []


def object_bodies(fields: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    names = st.sampled_from(fields + ["unknown"]) if fields else st.text(max_size=8)
    return st.dictionaries(names, json_values, max_size=4)


job_params = st.dictionaries(
    st.sampled_from(PARAM_NAMES + ["threads"]),
    st.one_of(numbers, st.booleans(), texts, st.sampled_from(["resfinder", None])),
    max_size=4,
)
create_job_bodies = st.fixed_dictionaries(
    {"job_name": st.one_of(st.text(min_size=1, max_size=30), st.text(min_size=1, max_size=3), texts, json_values)},
    optional={
        "params": st.one_of(st.just({}), job_params, job_params, json_values),
        "filename": st.one_of(st.sampled_from(["genome.fasta", "a.fna.gz", "x.txt", "../a.fa", ".a.fa"]), texts),
    },
)


names = st.from_regex(r"[a-z][a-z0-9_.-]{2,12}", fullmatch=True)
passwords = st.one_of(st.just("correct-horse-1"), st.text(min_size=10, max_size=20), texts)
#: Bodies that often pass validation, so the properties reach the routes' success paths.
PLAUSIBLE_BODIES: dict[tuple[str, str], st.SearchStrategy[Any]] = {
    ("POST", "/jobs"): create_job_bodies,
    ("POST", "/batches"): st.fixed_dictionaries(
        {"batch_name": st.one_of(names, names, texts),
         "samples": st.lists(st.fixed_dictionaries({"name": st.one_of(names, names, texts),
                                                    "filename": st.sampled_from(["a.fasta", "b.fa.gz", "x.txt"])}),
                             min_size=1, max_size=4, unique_by=lambda sample: sample["name"].casefold())},
        optional={"params": st.one_of(st.just({}), job_params, json_values)},
    ),
    ("POST", "/auth/register"): st.fixed_dictionaries(
        {"username": names, "password": passwords, "email": names.map(lambda n: f"{n}@example.org")}
    ),
    ("POST", "/auth/login"): st.fixed_dictionaries(
        {"username": st.sampled_from(["alice", "bob", "nobody"]), "password": passwords}
    ),
    ("POST", "/auth/password-reset"): st.fixed_dictionaries({"email": st.sampled_from(["bob@example.org", "x@y.org"])}),
    ("PATCH", "/admin/users/{user_id}"): st.fixed_dictionaries(
        {}, optional={"is_active": st.booleans(), "role": st.sampled_from(["user", "admin", "root"])}
    ),
    ("POST", "/admin/maintenance"): st.fixed_dictionaries(
        {}, optional={"tasks": st.lists(st.sampled_from(["archive", "purge", "stalled"]), max_size=3),
                      "dry_run": st.booleans()}
    ),
}


def bodies_for(route: openapi.RouteDoc) -> st.SearchStrategy[Any]:
    structured = object_bodies(_fields_of(route.request))
    plausible = PLAUSIBLE_BODIES.get((route.method, route.path), structured)
    return st.one_of(
        plausible, plausible, structured, json_values, st.binary(max_size=40),
        st.sampled_from([b"{", b"[" * 5000, b'{"a": NaN}', "\"\\ud800\"".encode()]),
    )


def queries_for(route: openapi.RouteDoc) -> st.SearchStrategy[dict[str, str]]:
    names = _fields_of(route.query)
    plausible = st.one_of(st.integers(-5, 200).map(str), st.sampled_from(STATUSES + ["all", "mine", "1e3", "", "0"]))
    values = st.one_of(plausible, plausible, texts)
    if not names:
        return st.one_of(st.just({}), st.dictionaries(st.sampled_from(["unknown", "limit"]), values, max_size=2))
    return st.one_of(
        st.just({}),
        st.dictionaries(st.sampled_from(names), values, max_size=3),
        st.dictionaries(st.sampled_from(names), values, max_size=3),
        st.dictionaries(st.sampled_from(names + ["unknown"]), values, max_size=3),
    )


def path_ids(name: str, world: dict[str, Any]) -> st.SearchStrategy[str]:
    ids = world["ids"]
    if name == "user_id":  # never Alice: deactivating her would only test 401s from then on
        own, foreign = [ids["bob_user"], ids["admin_user"]], [ids["bob_user"]]
    elif name == "name":  # an asset of the web app: a file name, not an id
        own, foreign = ["app.js", "app.css", "icon.svg"], ["index.html"]
    elif name == "batch_id":
        own, foreign = [ids["batch"]], [ids["foreign_batch"]]
    else:
        own, foreign = [v for k, v in ids.items() if k.startswith("job_")], [ids["foreign_job"]]
    garbage = st.text(min_size=1, max_size=40).filter(lambda s: s not in ("cleanup", ".", ".."))
    kinds: dict[str, st.SearchStrategy[str]] = {
        "own": st.sampled_from(own),
        "foreign": st.sampled_from(foreign),
        "unknown": st.uuids().map(str),
        "upper": st.sampled_from(own).map(str.upper),
        "garbage": garbage.map(lambda s: quote(s, safe="")),
    }
    return st.sampled_from(["own"] * 4 + list(kinds)).flatmap(kinds.__getitem__)


def callers(route: openapi.RouteDoc) -> st.SearchStrategy[str]:
    """Mostly a caller who may use the route, so the properties reach past the 401/403s."""
    usual = "admin" if route.auth == "admin" else "alice"
    return st.sampled_from([usual] * 5 + ["alice", "bob", "admin", "none", "garbage"])


def _headers(world: dict[str, Any], who: str, content_type: str | None) -> dict[str, str]:
    if who == "none":
        headers: dict[str, str] = {}
    elif who == "garbage":
        headers = {"Authorization": "Bearer eyJhbGciOiJub25lIn0.e30."}
    else:
        headers = {"Authorization": world["headers"][who]["Authorization"]}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return headers


def _encode(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    return json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")


# --- the properties ----------------------------------------------------------------------


@pytest.mark.parametrize("route", SERVED, ids=lambda r: f"{r.method} {r.path}")
def test_route_never_fails_and_answers_as_documented(route: openapi.RouteDoc, world: dict[str, Any]) -> None:
    path_names = re.findall(r"{(\w+)}", route.path)

    @settings(max_examples=EXAMPLES_PER_ROUTE, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        path = route.path
        for name in path_names:
            path = path.replace("{" + name + "}", data.draw(path_ids(name, world), label=name))
        query = data.draw(queries_for(route), label="query")
        url = path + ("?" + urlencode(query) if query else "")
        with_body = route.request is not None or data.draw(st.integers(0, 9), label="stray body") == 0
        body = _encode(data.draw(bodies_for(route), label="body")) if with_body else b""
        content_type = data.draw(st.sampled_from(CONTENT_TYPES[:1] * 4 + CONTENT_TYPES), label="content-type")
        headers = _headers(world, data.draw(callers(route), label="caller"), content_type)
        response = world["client"].http.request(route.method, url, headers=headers, body=body)
        CASES[f"{route.method} {route.path}"] += 1
        ANSWERS.setdefault(f"{route.method} {route.path}", Counter())[response.status_code] += 1
        check_answer(route, response)

    run()


@settings(max_examples=300, deadline=None, database=None)
@given(params=job_params)
def test_job_params_model_agrees_with_the_predictor(params: dict[str, Any]) -> None:
    """One source of truth: the API accepts exactly what PredictParams accepts, within
    the API's size caps."""
    CASES["JobParams vs PredictParams"] += 1
    try:
        PredictParams.from_dict(params)
        predictor_ok = True
    except (ValueError, TypeError):
        predictor_ok = False
    within_caps = all(
        not (isinstance(params.get(name), int) and params[name] > cap)
        for name, cap in (("segment_length", api_models.MAX_SEGMENT_LENGTH), ("batch_size", api_models.MAX_BATCH_SIZE))
    )
    try:
        api_models.JobParams.model_validate(params)
        api_ok = True
    except ValueError:
        api_ok = False
    assert api_ok == (predictor_ok and within_caps), params


def test_check_answer_rejects_undocumented_answers() -> None:
    """The checker itself must be able to fail."""

    class Fake:
        def __init__(self, status: int, body: Any) -> None:
            self.status_code, self.body = status, json.dumps(body).encode() if body is not None else b""

    route = openapi.route_doc("GET", "/jobs/{job_id}")
    assert route is not None
    job = {"job_id": str(uuid.uuid4())}  # missing required fields
    for bad in (Fake(500, {"error": {"code": "x", "message": "y"}}), Fake(418, None), Fake(200, job),
                Fake(404, {"message": "not our format"})):
        with pytest.raises(AssertionError):
            check_answer(route, bad)
    check_answer(route, Fake(404, {"error": {"code": "not_found", "message": "Job not found"}}))
