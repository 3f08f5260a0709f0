"""MONAI Label app serving a Segmentation Schrödinger Bridge (SSB): several plausible lesion masks per image.

Start it with (see README.md in this folder for the ``--conf`` table)::

    monailabel start_server --app apps/ssb --studies STUDIES --conf model_path models/ssb_lidc128.pt \
        --host 127.0.0.1 --port 8000

As in MONAI Label's sample apps, each module of ``lib/configs/`` defines one model (a ``TaskConfig``); the
config builds the model once and hands it to its infer, train, scoring and active-learning tasks. The app adds
what MONAI Label leaves as HTTP 500: unknown images, models and strategies are answered with HTTP 404.
``lib/safety`` keeps the datastore and the served model safe: checked uploads, atomic label writes, a request
guard (``--conf max_upload_mb``). ``lib/identity`` signs requests in against an OpenID Connect provider when
configured (off by default; ``docs/signin.md``), and ``lib/audit`` keeps the audit log (``--conf audit_log``).
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import pkgutil
from typing import Any

import ssb_core
from ssb_core.pipeline import resolve_device
from monailabel.config import settings
from monailabel.interfaces.app import MONAILabelApp
from monailabel.interfaces.datastore import Datastore
from monailabel.interfaces.config import TaskConfig
from monailabel.interfaces.tasks.infer_v2 import InferTask
from monailabel.interfaces.tasks.scoring import ScoringMethod
from monailabel.interfaces.tasks.strategy import Strategy
from monailabel.interfaces.tasks.train import TrainTask

import lib.configs
from lib.configs.ssb import conf_value
from lib.activelearning.per_reader import PerReader
from lib import identity
from lib.audit import trail as audit_trail
from lib.audit.log import AuditLog
from lib.dicom import monailabel_hooks as dicom_hooks
from lib.dicom import proxy as dicom_proxy
from lib.dicom.datastore import SSBDicomWebDatastore
from lib.errors import not_found
from lib.label_saves import saved_result
from lib.labels import routes as lesion_routes
from lib.labels import save_log
from lib.labels.provenance import label_provenance
from lib.retrain import RetrainTrigger
from lib.safety import request_guard
from lib.safety.datastore import SafeLocalDatastore
from lib import upstream, viewer_page

logger = logging.getLogger(__name__)


def _discover_configs() -> dict[str, type[TaskConfig]]:
    """``{module name: TaskConfig subclass}`` for every module of ``lib/configs`` (imported now: MONAI Label
    takes the app folder off ``sys.path`` once this file is loaded)."""
    found: dict[str, type[TaskConfig]] = {}
    for info in pkgutil.iter_modules(lib.configs.__path__):
        module = importlib.import_module(f"lib.configs.{info.name}")
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, TaskConfig) and obj is not TaskConfig and obj.__module__ == module.__name__:
                found[info.name] = obj
    return dict(sorted(found.items()))


CONFIGS = _discover_configs()


class SSBApp(MONAILabelApp):
    def __init__(self, app_dir: str, studies: str, conf: dict[str, str]) -> None:
        versions = upstream.check_versions()  # before anything relies on MONAI Label's internals
        logger.info("upstream versions %s (supported: %s)", versions, upstream.SUPPORTED)
        self.sign_in = identity.install(conf)  # sign-in, and no open server without it: checked before the model is loaded
        self.model_dir = os.path.join(app_dir, "model")
        wanted = conf.get("models", "all")
        names = list(CONFIGS) if wanted == "all" else [n.strip() for n in wanted.split(",") if n.strip()]
        unknown = [n for n in names if n not in CONFIGS]
        if unknown:
            raise ValueError(f"--conf models: unknown model(s) {unknown}; available: {list(CONFIGS)} or 'all'")
        self.models: dict[str, TaskConfig] = {}
        for name in names:
            config = CONFIGS[name]()
            config.datastore = lambda: self._datastore  # type: ignore[attr-defined]
            try:
                config.init(name, self.model_dir, conf, None, app_dir=app_dir)
            except Exception as exc:
                logger.error("cannot start the %s model: %s", name, exc)
                raise
            self.models[name] = config
        super().__init__(
            app_dir=app_dir,
            studies=studies,
            conf=conf,
            name="Segmentation Schrödinger Bridge (SSB)",
            description="Several plausible lesion masks per image, their agreement and a variability map",
            version=ssb_core.__version__,
        )
        self._auto_update_scoring = conf_value(conf, "auto_update_scoring", False, bool)
        self.retrain = RetrainTrigger(self, {n: getattr(c, "retrain_after", 0) for n, c in self.models.items()})
        self._datastore.labels.listeners.append(self.retrain.on_saved)  # one "label saved" event per save, every way in
        self.audit = AuditLog(conf_value(conf, "audit_log", os.path.join(app_dir, "logs", "audit.jsonl"), str))
        self._datastore.labels.listeners.append(self.audit.on_label_event)
        ssb_infer = self._infers.get("ssb")
        if ssb_infer is not None:  # a submitted lesion traced to the candidate it was touched up from (3D Slicer)
            self._datastore.labels.matcher = label_provenance(ssb_infer.recent_sets)
        max_upload_mb = conf_value(conf, "max_upload_mb", 1024.0, float)
        cors_conf = conf_value(conf, "cors_origins", ",".join(str(o) for o in settings.MONAI_LABEL_CORS_ORIGINS), str)
        cors = [o.strip().rstrip("/") for o in cors_conf.split(",") if o.strip()]
        viewer_page.install(sign_in=self.sign_in.enabled)
        audit_trail.install(self.audit)  # inside the sign-in gate (it names the user), outside the request guard
        request_guard.install(int(max_upload_mb * 2**20), self._task_names, self._check_train, cors)
        lesion_routes.install(self)
        save_log.install()  # MONAI Label's "Saving Label ... by admin" line no longer names a user it does not know

    def init_datastore(self) -> Datastore:
        """A local studies folder: MONAI Label's datastore with checked uploads and atomic writes."""
        if self.studies.startswith(("http://", "https://")):  # a DICOMweb PACS: reader labels go back as DICOM SEG
            dicom_hooks.install()
            dicom_proxy.install()  # the viewer's QIDO / WADO query reaches the PACS
            return SSBDicomWebDatastore.like(super().init_datastore())
        return SafeLocalDatastore(self.studies, extensions=settings.MONAI_LABEL_DATASTORE_FILE_EXT,
                                  auto_reload=settings.MONAI_LABEL_DATASTORE_AUTO_RELOAD,
                                  read_only=settings.MONAI_LABEL_DATASTORE_READ_ONLY)

    def _download_dcmqi_tools(self) -> None:
        """Nothing to download: DICOM SEG is written with highdicom (:mod:`lib.dicom`), never with dcmqi."""
        logger.info("DICOM SEG via highdicom: dcmqi is not needed (nothing downloaded)")

    def _task_names(self, kind: str) -> list[str]:
        """Names the request guard accepts in ``POST /{kind}/{name}``."""
        return list({"train": self._trainers, "scoring": self._scoring_methods, "batch/infer": self._infers}.get(kind, {}))

    def _check_train(self, model: str, body: object) -> None:
        """Raise ``ValueError`` for a ``POST /train/{model}`` body the model's trainer would refuse."""
        settings_ = getattr(self.models.get(model), "train_settings", None)
        if settings_ is not None:
            settings_.check_request(body)

    def init_infers(self) -> dict[str, InferTask]:
        return self._per_model("infer")  # ssb and ssb_lesions (the lesions saved on an image, for 3D Slicer)

    def init_trainers(self) -> dict[str, TrainTask]:
        return {name: t for name, config in self.models.items() if (t := config.trainer()) is not None}

    def _per_model(self, method: str) -> dict[str, Any]:
        """What each model config's ``method()`` returns (None, one object named after the model, or a dict), merged."""
        out: dict[str, Any] = {}
        for config in self.models.values():
            s = getattr(config, method)()
            out.update(s if isinstance(s, dict) else {} if s is None else {config.name: s})
        return out

    def init_strategies(self) -> dict[str, Strategy]:
        """Every strategy serves each reader the images THEY have not labelled (:mod:`lib.activelearning.per_reader`)."""
        return {name: PerReader(strategy) for name, strategy in self._per_model("strategy").items()}

    def init_scoring_methods(self) -> dict[str, ScoringMethod]:
        return self._per_model("scoring_method")

    def info(self) -> dict[str, Any]:
        meta = super().info()
        meta["ssb"] = {name: config.store.info() for name, config in self.models.items() if hasattr(config, "store")}
        return meta

    def infer(self, request: dict, datastore: Any = None) -> dict:
        """Answer unknown models / images with 404 (MONAI Label answers 500), and tell the task the image id. With a
        DICOMweb PACS the datastore looks the series up first (:mod:`lib.dicom.pacs_series`: 404, or 400 for an id
        that is not a UID), before anything is fetched."""
        model = request.get("model")
        if model not in self._infers:
            raise not_found(f"unknown model {model!r}; available: {sorted(self._infers)}")
        image = request.get("image")
        if isinstance(image, str) and not os.path.exists(image):
            ds = datastore or self.datastore()
            if not image or not ds.get_image_uri(image):
                raise not_found(f"unknown image {image!r}: not in the datastore (GET /datastore/?output=all lists the images)")
            request = {**request, "image_id": image}
        return super().infer(request, datastore)

    def batch_infer(self, request: dict, datastore: Any = None) -> dict:
        """MONAI Label's batch infer; without CUDA its default ``multi_gpu: true`` divides by the number of GPUs
        (0, an HTTP 500), so a server without CUDA runs it on its own device."""
        if resolve_device("auto") == "cpu":
            request = {**request, "multi_gpu": False}
        return super().batch_infer(request, datastore)

    def next_sample(self, request: dict) -> dict:
        strategy = request.get("strategy") or "random"
        if strategy not in self._strategies:
            raise not_found(f"unknown active-learning strategy {strategy!r}; available: {sorted(self._strategies)}")
        return super().next_sample(request)

    def on_save_label(self, image_id: str, label_id: str) -> dict:
        """A label was submitted (``PUT /datastore/label``): the answer says what the label service did with it (the
        retraining already counted it, as a listener of the service)."""
        super().on_save_label(image_id, label_id)
        return saved_result(image_id) or {}
