"""Every MONAI Label internal the app relies on, and the MONAI Label versions it was written and tested for.

The app patches or subclasses MONAI Label below its public API in the places listed in :data:`RELIANCES`. A
MONAI Label release may change any of them without notice, so the server refuses to start on a version not in
:data:`SUPPORTED` (:func:`check_versions`), naming the supported ones; ``SSB_ALLOW_UNTESTED_MONAILABEL=1``
starts it anyway with a warning (then run ``make test`` first: each reliance has a test against the real server
that fails when upstream behaviour changes, named in the table).

To support a new MONAI Label release: install it, run the tests named below, fix what fails, add the version.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["RELIANCES", "SUPPORTED", "UnsupportedUpstream", "add_middleware", "check_versions", "rebuild_middleware",
           "replace_router", "route_entries", "route_paths", "serving_app"]

logger = logging.getLogger(__name__)

SUPPORTED: dict[str, tuple[str, ...]] = {"monailabel": ("0.8.5",)}

# (upstream internal, where the app relies on it, the test that fails when it changes)
RELIANCES: tuple[tuple[str, str, str], ...] = (
    ("monailabel.endpoints.user.auth.get_current_user (overridden through the FastAPI app's dependency_overrides: every "
     "RBAC asks it), User, RBAC and the role names of monailabel.config.settings; MONAI_LABEL_AUTH_ENABLE read by RBAC at "
     "each request; the Slicer plugin's /auth/, /auth/token (form username, password), /auth/token/valid",
     "lib/identity/login.py, lib/identity/claims.py", "tests/app/test_auth.py, tests/app/test_signin.py"),
    ("FastAPI / Starlette: app.user_middleware, middleware_stack, build_middleware_stack, Middleware.cls, "
     "exception_handlers, router.routes (first match wins; FastAPI 0.16x wraps an included router in _IncludedRouter "
     "with original_router and include_context.prefix); pinned in pyproject.toml",
     "lib/upstream.py, lib/safety/request_guard.py, lib/identity/__init__.py, lib/audit/trail.py, lib/labels/routes.py",
     "tests/app/test_bad_input.py, tests/app/test_signin.py"),
    ("monailabel.endpoints.infer.nifti_to_dicom_seg (replaced: highdicom instead of dcmqi)", "lib/dicom/monailabel_hooks.py",
     "tests/hospital/test_dicomweb.py"),
    ("MONAILabelApp._download_dcmqi_tools (nothing downloaded)", "main.py", "tests/hospital/test_dicomweb.py"),
    ("MONAILabelApp.batch_infer / BatchInferTask (multi_gpu defaults to true and divides by the GPU count)", "main.py",
     "tests/app/test_infer.py"),
    ("monailabel.app.app middleware stack, CORSMiddleware options, exception handlers and the text of MONAI Label's "
     "HTTP 500 answers", "lib/safety/request_guard.py", "tests/app/test_bad_input.py, tests/app/test_fuzz.py"),
    ("LocalDatastore internals (_datastore, _config_ts, _lock_file, _filename, _to_id, the index file)",
     "lib/safety/datastore.py", "tests/app/test_durability.py"),
    ("DICOMWebDatastore internals (_client, _search_filter, _fetch_by_frame, _convert_to_nifti)", "lib/dicom/datastore.py",
     "tests/hospital/test_dicomweb.py"),
    ("monailabel.endpoints.proxy.proxy_dicom (wrapped: the /proxy/dicom routes look it up at each call; it appends "
     "the path to the PACS URL as given and sends QIDO .../metadata to the WADO prefix)", "lib/dicom/proxy.py",
     "tests/hospital/test_pacs_requests.py"),
    ("DICOMWebDatastore.get_image_uri fetching an uncached series into the cache folder <image_path()>/<id>/ "
     "(IndexError for an unknown one), LocalDatastore.json (the output=all answer)", "lib/dicom/pacs_series.py",
     "tests/hospital/test_pacs_requests.py"),
    ("POST /activelearning/{strategy} calling app.next_sample with the viewer's params (client_id) in the request, "
     "answering {} when the strategy returns None; MONAI Label's strategies reading datastore.get_unlabeled_images",
     "lib/activelearning/per_reader.py", "tests/app/test_next_sample.py, tests/hospital/test_pacs_requests.py"),
    ("the save endpoint calling datastore.save_label then app.on_save_label in one request", "lib/label_saves.py",
     "tests/app/test_infer.py"),
    ("the request keys MONAI Label, its Slicer plugin and its OHIF panel add", "lib/infers/params.py (CLIENT_KEYS)",
     "tests/app/test_infer.py, tests/hospital/test_ohif.py"),
    ("the bundled OHIF 3.10: its HTML pages, the MONAI Label panel's MONAILABEL_SERVER_URL cookie, window.services, "
     "its panelService and webpack chunk list (the SSB tab), its tool groups' brush tools and cornerstone3D 2.x segmentation "
     "APIs", "lib/viewer_page.py, viewer/ssb-ohif.js", "tests/hospital/test_ohif_workflow.py"),
    ("train_stats keys the viewers read (epoch, total_epochs, best_metric, total_time)", "lib/trainers/status.py",
     "tests/app/test_training.py"),
)


class UnsupportedUpstream(RuntimeError):
    """An installed MONAI Label the app was not written for."""


def _installed() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in SUPPORTED:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def check_versions(installed: Mapping[str, str] | None = None, allow_untested: bool | None = None) -> dict[str, str]:
    """The installed versions; raise :class:`UnsupportedUpstream` for one outside :data:`SUPPORTED`.

    Args:
        installed: versions to check (default: what is installed). allow_untested: warn instead of raising
            (default: the ``SSB_ALLOW_UNTESTED_MONAILABEL`` environment variable).
    """
    installed = dict(installed or _installed())
    if allow_untested is None:
        allow_untested = os.environ.get("SSB_ALLOW_UNTESTED_MONAILABEL", "").lower() in ("1", "true", "yes")
    wrong = {n: v for n, v in installed.items() if v not in SUPPORTED.get(n, (v,))}
    if wrong:
        what = ", ".join(f"{n} {v} (supported: {', '.join(SUPPORTED[n])})" for n, v in wrong.items())
        message = (f"the app relies on internals of {what}; see apps/ssb/lib/upstream.py. Install a supported version "
                   "(pip install --no-deps -r requirements/monailabel-nodeps.txt), or set SSB_ALLOW_UNTESTED_MONAILABEL=1 "
                   "to start anyway after running the tests listed there")
        if not allow_untested:
            raise UnsupportedUpstream(message)
        logger.warning("untested upstream version: %s", message)
    return installed


def serving_app() -> Any | None:
    """MONAI Label's FastAPI app when this process is the server (``monailabel.app`` imported), else None (a
    training subprocess, the CLI)."""
    module = sys.modules.get("monailabel.app")
    return None if module is None else module.app


def add_middleware(app: Any, cls: type, **options: Any) -> None:
    """``cls`` as the innermost middleware of ``app`` (replacing one added before); call :func:`rebuild_middleware`
    once the app's middleware and handlers are all set."""
    from starlette.middleware import Middleware

    app.user_middleware[:] = [m for m in app.user_middleware if m.cls is not cls]
    app.user_middleware.append(Middleware(cls, **options))


def route_entries(route: Any, prefix: str = "") -> list[tuple[str, frozenset[str]]]:
    """(path, methods) of each route an entry of ``app.router.routes`` answers: a route's own, or (FastAPI 0.16x)
    every route of an included router with the prefix it was included under; a mount answers GET."""
    inner = getattr(route, "original_router", None)
    if inner is None:
        return [(prefix + route.path, frozenset(getattr(route, "methods", None) or {"GET"}))]
    prefix += getattr(getattr(route, "include_context", None), "prefix", "") or ""
    return [entry for r in inner.routes for entry in route_entries(r, prefix)]


def route_paths(route: Any) -> list[str]:
    """The paths of :func:`route_entries`."""
    return [path for path, _ in route_entries(route)]


def replace_router(app: Any, router: Any, prefix: str) -> None:
    """Include ``router`` in ``app`` first in the route table (the first match answers), removing every route
    under ``prefix`` included before (MONAI Label's own, or the app's from an earlier app object)."""
    routes = app.router.routes
    routes[:] = [r for r in routes if not any(p.startswith(prefix) for p in route_paths(r))]
    before = len(routes)
    app.include_router(router)
    added = routes[before:]
    del routes[before:]
    routes[:0] = added


def rebuild_middleware(app: Any) -> None:
    """MONAI Label creates the app object while uvicorn already serves it (in its lifespan): the middleware stack
    built then must be built again for middleware and exception handlers added since."""
    if app.middleware_stack is not None:
        app.middleware_stack = app.build_middleware_stack()
