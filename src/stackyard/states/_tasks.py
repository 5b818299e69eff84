"""Task resources, mapped onto stackyard's real parts.

* ``arn:aws:lambda:…:function:NAME`` and ``arn:aws:states:::lambda:invoke`` call a function
  of the local registry (``stackyard.lambdas``) in a runtime job;
* ``arn:aws:states:::sagemaker:create{Training,Processing,Transform,HyperParameterTuning}Job
  .sync`` run the SageMaker API request as a one-step pipeline run (the engine's job types,
  so the job is as durable and inspectable as any pipeline step) and return the
  ``Describe*`` shape;
* ``arn:aws:states:::sns:publish`` calls ``stackyard.notify.publish`` (channel: the
  topic ARN's last part);
* ``arn:aws:states:::states:startExecution(.sync|.sync:2)`` starts a nested execution;
* ``.waitForTaskToken`` on any of them waits for ``send_task_success|failure``.

Each attempt's work is named by the execution, the thread and the attempt key, so a driver
that resumes after a kill -9 adopts the job (or the run, or the token) it had started
instead of starting another.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from stackyard import _checks
from stackyard.errors import StackyardError, StepFailed, UsageError
from stackyard.states import _errors as E
from stackyard.states._errors import StatesError
from stackyard.states._paths import effective_input, select

if TYPE_CHECKING:
    from stackyard.states._executor import Driver, Flow

STATES = "arn:aws:states:::"
SAGEMAKER_JOBS = {"createTrainingJob": "Training", "createProcessingJob": "Processing",
                  "createTransformJob": "Transform",
                  "createHyperParameterTuningJob": "HyperParameterTuning"}
_SYNC = {"sagemaker": ("", ".sync"), "lambda": ("", ".waitForTaskToken"),
         "sns": ("", ".waitForTaskToken"),
         "states": ("", ".sync", ".sync:2", ".waitForTaskToken")}
_ACTIONS = {"sagemaker": {*SAGEMAKER_JOBS, "createModel"}, "lambda": {"invoke"},
            "sns": {"publish"},
            "states": {"startExecution"}}
TOKEN_POLL = 0.1


def parse_resource(resource: str) -> tuple[str, str, str]:
    """(service, action, pattern) of a resource ARN; ("lambda", NAME, "function") for a
    function ARN. ``UsageError`` for anything else."""
    if resource.startswith("arn:aws:lambda:"):
        parts = resource.split(":")
        if len(parts) in (7, 8) and parts[5] == "function" and parts[6]:
            return "lambda", parts[6], "function"
    elif resource.startswith(STATES):
        service, _, rest = resource[len(STATES):].partition(":")
        action, dot, pattern = rest.partition(".")
        pattern = dot + pattern
        if action in _ACTIONS.get(service, ()) and pattern in _SYNC[service] and (
                service != "sagemaker" or (action == "createModel") == (pattern == "")):
            return service, action, pattern
    raise UsageError(f"unsupported resource {resource!r}")


def supported_resource(resource: str) -> bool:
    """What ``validate`` accepts: the resources above (SageMaker jobs only with ``.sync``,
    as the job runs here, not in a service that could be polled; ``createModel`` only as
    a plain call, as AWS offers it)."""
    try:
        parse_resource(resource)
    except UsageError:
        return False
    return True


def _sagemaker_error(message: str) -> StatesError:
    """A refused SageMaker request, as Step Functions reports the service's exception."""
    return StatesError("SageMaker.AmazonSageMakerException",
                       f"{message} (Service: AmazonSageMaker; Status Code: 400; Error Code: "
                       f"ValidationException; Request ID: {uuid.uuid4()}; Proxy: null)")


class Watch:
    """Ends a task's blocking work when its TimeoutSeconds or HeartbeatSeconds pass or
    its thread is cancelled: calls the stop functions the work registered, and says why."""

    def __init__(self, cancel: threading.Event, deadline: float | None,
                 timeout: float | None) -> None:
        self.cancel = cancel
        self.deadline = deadline
        self.timeout = timeout
        self.heartbeat: Callable[[], bool] | None = None
        self.stops: list[Callable[[], None]] = []
        self.reason: str | None = None
        self._ended = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="sfn-watch")

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._ended.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._ended.wait(0.1):
            self.poll()
            if self.reason is not None:
                for stop in self.stops:
                    try:
                        stop()
                    except Exception:  # noqa: BLE001,S110 - best effort; the work ends anyway
                        pass
                return

    def poll(self) -> None:
        if self.reason is None:
            if self.cancel.is_set():
                self.reason = "aborted"
            elif self.deadline is not None and time.time() >= self.deadline:
                self.reason = "timeout"
            elif self.heartbeat is not None and not self.heartbeat():
                self.reason = "heartbeat"

    def check(self) -> None:
        """Raise what ended the work, if anything did."""
        from stackyard.states._executor import Aborted

        self.poll()
        if self.reason == "aborted":
            raise Aborted
        if self.reason == "timeout":
            raise StatesError(E.TIMEOUT, f"The task timed out after {self.timeout:g} "
                              "seconds.")
        if self.reason == "heartbeat":
            raise StatesError(E.HEARTBEAT_TIMEOUT, "The task did not send a heartbeat in "
                              "time.")


class Tasks:
    """The Task states of one execution's driver."""

    def __init__(self, driver: Driver) -> None:
        self.d = driver

    def job_dir(self, th: Flow, key: str) -> Path:
        from stackyard.states._executor import execution_dir

        part = th.path.strip("/").replace("/", "_") or "root"
        return execution_dir(self.d.arn) / "tasks" / part / key

    def attempt_id(self, th: Flow, key: str) -> str:
        return hashlib.sha256(f"{self.d.arn}|{th.path}|{key}".encode()).hexdigest()

    # ---- one attempt ---------------------------------------------------------------
    def run(self, th: Flow, name: str, state: dict[str, Any], data: Any, key: str
            ) -> tuple[Any, list]:
        resource = state["Resource"]
        service, action, pattern = parse_resource(resource)
        legacy = pattern == "function"   # a plain function ARN: LambdaFunction* events
        rtype = "lambda" if legacy else service
        rname = action + pattern if not legacy else resource
        ctx = self.d.context(th, name)
        token = None
        if pattern == ".waitForTaskToken":
            token = self.d.store.open_token(uuid.uuid4().hex + uuid.uuid4().hex, self.d.arn,
                                            th.path, key)
            ctx["Task"] = {"Token": token}
        params = effective_input(state, data, ctx)
        timeout = _seconds(state, "TimeoutSeconds", data)
        heartbeat = _seconds(state, "HeartbeatSeconds", data)
        phase = th.row.get("phase") or ""
        if not phase.endswith(f":{key}"):
            from stackyard.states._executor import check_size, dump

            check_size(params, f"input of task '{name}'")
            now = time.time()
            if legacy:
                events = [("LambdaFunctionScheduled", {
                    "resource": resource, "input": dump(params),
                    "inputDetails": {"truncated": False},
                    **({"timeoutInSeconds": timeout} if timeout else {})}),
                    ("LambdaFunctionStarted", None)]
            else:
                events = [("TaskScheduled", {
                    "resourceType": rtype, "resource": rname, "region": "local",
                    "parameters": dump(params),
                    **({"timeoutInSeconds": timeout} if timeout else {}),
                    **({"heartbeatInSeconds": heartbeat} if heartbeat else {})}),
                    ("TaskStarted", {"resourceType": rtype, "resource": rname})]
            fields = {"phase": f"task:{key}", "phase_at": now}
            self.d.store.transition(self.d.arn, [(th.path, k, v) for k, v in events],
                                    {th.path: fields})
            th.row.update(fields)
        deadline = th.row["phase_at"] + timeout if timeout else None
        try:
            with Watch(th.cancel, deadline, timeout) as watch:
                if th.row["phase"] != f"token:{key}":
                    result = self._call(service, action, pattern, params, th, key, watch)
                    watch.check()
                if token is not None:
                    if th.row["phase"] != f"token:{key}":
                        self.d.store.transition(self.d.arn, threads={
                            th.path: {"phase": f"token:{key}"}})
                        th.row["phase"] = f"token:{key}"
                    result = self._await_token(token, heartbeat, watch)
        except StatesError as e:
            if token is not None:   # the task failed before its answer: nothing may count
                self.d.store.answer_token(token, "TIMED_OUT")
            self._failed(th, e, legacy, rtype, rname)
            raise
        from stackyard.states._executor import dump

        text = dump(result)
        if legacy:
            return result, [("LambdaFunctionSucceeded", {
                "output": text, "outputDetails": {"truncated": False}})]
        return result, [("TaskSucceeded", {"resourceType": rtype, "resource": rname,
                                           "output": text,
                                           "outputDetails": {"truncated": False}})]

    def _failed(self, th: Flow, e: StatesError, legacy: bool, rtype: str, rname: str
                ) -> None:
        timed_out = e.error in (E.TIMEOUT, E.HEARTBEAT_TIMEOUT)
        if legacy:
            kind = "LambdaFunctionTimedOut" if timed_out else "LambdaFunctionFailed"
            details = {"error": e.error, "cause": e.cause}
        else:
            kind = "TaskTimedOut" if timed_out else "TaskFailed"
            details = {"resourceType": rtype, "resource": rname, "error": e.error,
                       "cause": e.cause}
        self.d.emit(th.path, kind, details)

    def _call(self, service: str, action: str, pattern: str, params: Any, th: Flow,
              key: str, watch: Watch) -> Any:
        if service == "lambda":
            if pattern == "function":
                return self._lambda(action, params, th, key, watch)
            if not isinstance(params, dict) or not params.get("FunctionName"):
                raise StatesError(E.RUNTIME, "lambda:invoke needs Parameters.FunctionName")
            payload = params.get("Payload", {})
            out = self._lambda(str(params["FunctionName"]), payload, th, key, watch)
            rid = str(uuid.UUID(self.attempt_id(th, key)[:32]))
            return {"ExecutedVersion": "$LATEST", "Payload": out,
                    "SdkHttpMetadata": {"HttpStatusCode": 200},
                    "SdkResponseMetadata": {"RequestId": rid}, "StatusCode": 200}
        if service == "sns":
            return self._publish(params, th, key)
        if service == "states":
            return self._start_execution(params, pattern, th, key, watch)
        if action == "createModel":
            return _create_model(params)
        return self._sagemaker(action, params, th, key, watch)

    # ---- Lambda --------------------------------------------------------------------
    def _lambda(self, ref: str, event: Any, th: Flow, key: str, watch: Watch) -> Any:
        from stackyard import runtime
        from stackyard.lambdas import get_function
        from stackyard.lambdas._registry import error_of, invocation_spec, response_of

        rid = str(uuid.UUID(self.attempt_id(th, key)[:32]))
        try:
            record = get_function(ref)
        except UsageError as e:
            raise StatesError("Lambda.ResourceNotFoundException",
                              f"Function not found: {ref} ({e}) (Service: AWSLambda; Status "
                              "Code: 404; Error Code: ResourceNotFoundException; Request "
                              f"ID: {rid}; Proxy: null)") from None
        job_dir = self.job_dir(th, key)
        try:
            spec = invocation_spec(record, event, rid)
            result = runtime.run(spec, job_dir, adopt=job_dir.exists(),
                                 on_started=lambda pid, st: watch.stops.append(
                                     lambda: runtime.stop(pid, st)))
        except (StackyardError, StepFailed, OSError) as e:
            raise StatesError("Lambda.ServiceException", str(e)) from None
        watch.check()
        if result.ok:
            return response_of(job_dir)
        error = error_of(job_dir)
        if error is not None:
            error["requestId"] = rid
            raise StatesError(error["errorType"], json.dumps(
                {k: error[k] for k in ("errorMessage", "errorType", "requestId",
                                       "stackTrace") if k in error}))
        if result.error_type == "Timeout":
            raise StatesError("Sandbox.Timedout", json.dumps({
                "errorType": "Sandbox.Timedout", "errorMessage":
                f"RequestId: {rid} Error: Task timed out after "
                f"{float(record['Timeout']):.2f} seconds"}))
        raise StatesError("Lambda.Unknown", json.dumps({
            "errorType": "Lambda.Unknown", "errorMessage": (result.reason or "")[:2000]}))

    # ---- SNS -----------------------------------------------------------------------
    def _publish(self, params: Any, th: Flow, key: str) -> Any:
        from stackyard import notify

        if not isinstance(params, dict) or "Message" not in params or not params.get(
                "TopicArn"):
            raise StatesError("SNS.InvalidParameterException",
                              "sns:publish needs Parameters.TopicArn and Parameters.Message")
        message = params["Message"]
        text = message if isinstance(message, str) else json.dumps(message)
        channel = str(params["TopicArn"]).rsplit(":", 1)[-1]
        message_id = str(uuid.UUID(self.attempt_id(th, key)[:32]))
        try:   # the attempt's id dedupes: a resumed driver publishing again sends nothing
            notify.publish(channel, text, subject=params.get("Subject"), dedupe=message_id,
                           event={"source": "states", "execution": self.d.arn})
        except UsageError as e:
            raise StatesError("SNS.InvalidParameterException", str(e)) from None
        return {"MessageId": message_id, "SdkHttpMetadata": {"HttpStatusCode": 200},
                "SdkResponseMetadata": {"RequestId": message_id}}

    # ---- tokens --------------------------------------------------------------------
    def _await_token(self, token: str, heartbeat: float | None, watch: Watch) -> Any:
        store = self.d.store
        if heartbeat:
            watch.heartbeat = lambda: (row := store.get_token(token)) is not None and (
                row["status"] != "WAITING" or time.time() - row["heartbeat_at"] < heartbeat)
        while True:
            row = store.get_token(token)
            assert row is not None
            if row["status"] == "SUCCEEDED":
                return row["output"]
            if row["status"] == "FAILED":
                raise StatesError(row["error"] or "", row["cause"] or "")
            try:
                watch.check()
            except StatesError:
                # close the token in the same conditional UPDATE an answer uses, so exactly
                # one of them counts: a late answer is refused (TaskTimedOut), and an answer
                # that came first is taken on the next pass
                if store.answer_token(token, "TIMED_OUT"):
                    raise
                continue
            time.sleep(TOKEN_POLL)

    # ---- nested executions ---------------------------------------------------------
    def _start_execution(self, params: Any, pattern: str, th: Flow, key: str,
                         watch: Watch) -> Any:
        from stackyard.states._api import create_execution, describe_execution
        from stackyard.states._executor import Driver, ExecutionLock, drive_detached

        if not isinstance(params, dict) or not params.get("StateMachineArn"):
            raise StatesError("StepFunctions.InvalidArnException",
                              "states:startExecution needs Parameters.StateMachineArn")
        machine = str(params["StateMachineArn"]).rsplit(":", 1)[-1]
        name = params.get("Name") or f"{self.d.row['name'][:40]}-{self.attempt_id(th, key)[:24]}"
        value = params.get("Input", {})
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise StatesError("StepFunctions.InvalidExecutionInputException",
                                  "Input is not valid JSON") from None
        try:
            arn = create_execution(machine, value, name, parent=self.d.arn)
        except UsageError as e:
            raise StatesError("StepFunctions.StateMachineDoesNotExistException",
                              str(e)) from None
        child = self.d.store.get_execution(arn)
        assert child is not None
        started = {"ExecutionArn": arn, "StartDate": _ms(child["start_time"])}
        if pattern not in (".sync", ".sync:2"):
            drive_detached(arn)
            return started
        watch.stops.append(lambda: self.d.store.request_stop_execution(
            arn, "States.Aborted", "the parent execution stopped this one"))
        while True:
            row = self.d.store.get_execution(arn)
            assert row is not None
            if row["status"] != "RUNNING":
                break
            if not ExecutionLock(arn).held_elsewhere():
                try:
                    Driver(arn, self.d.store).run()
                except UsageError:   # another process took it over meanwhile
                    pass
                continue
            watch.check()
            time.sleep(TOKEN_POLL)
        desc = describe_execution(arn)
        out = {"ExecutionArn": arn, "Input": desc["input"],
               "InputDetails": {"Included": True}, "Name": desc["name"],
               "Output": desc["output"], "OutputDetails": {"Included": True},
               "StartDate": _ms(row["start_time"]), "StateMachineArn": desc["stateMachineArn"],
               "Status": desc["status"], "StopDate": _ms(row["stop_time"])}
        if pattern == ".sync:2":
            out["Input"] = json.loads(desc["input"])
            out["Output"] = None if desc["output"] is None else json.loads(desc["output"])
        if desc["status"] != "SUCCEEDED":
            out.pop("Output")
            out.update(Error=desc.get("error"), Cause=desc.get("cause"))
            raise StatesError(E.TASK_FAILED, json.dumps(out))
        return out

    # ---- SageMaker -----------------------------------------------------------------
    def _sagemaker(self, action: str, req: Any, th: Flow, key: str, watch: Watch) -> Any:
        from stackyard import engine
        from stackyard.store import open_store

        kind = SAGEMAKER_JOBS[action]
        if not isinstance(req, dict):
            raise _sagemaker_error(f"{action} needs a request object; got {req!r}")
        name_key = f"{kind}JobName"
        try:
            job = _checks.check_name(req.get(name_key), "job")
        except UsageError as e:
            raise _sagemaker_error(f"{name_key}: {e}") from None
        run_id = "sfn-" + self.attempt_id(th, key)[:20]
        started = time.time()
        run = open_store().get_run(run_id)
        try:
            if run is None:   # a refused request creates no job: checked before the claim
                step = {"Name": job, "Type": _STEP_TYPE[kind],
                        "Arguments": self._arguments(kind, req)}
                _claim_job_name(kind, job, f"{self.d.arn}|{th.path}|{key.split('.')[0]}")
                definition = {"Version": "2020-12-01", "Name": f"sfn-{job}"[:256],
                              "Parameters": [], "Steps": [step]}
                watch.stops.append(lambda: engine.stop_run(run_id))
                engine.start_run(definition, run_id=run_id)
            elif run["status"] == "Executing":
                watch.stops.append(lambda: engine.stop_run(run_id))
                engine.resume_run(run_id)
        except UsageError as e:
            raise _sagemaker_error(str(e)) from None
        watch.check()
        desc = engine.describe_run(run_id)
        step_row = desc["steps"][0] if desc["steps"] else {}
        out = _describe(kind, job, req, step_row.get("outputs") or {}, started)
        if step_row.get("status") != "Succeeded":
            out[f"{kind}JobStatus"] = "Failed"
            out["FailureReason"] = step_row.get("failure_reason") or desc.get(
                "failure_reason") or "the job did not complete"
            raise StatesError(E.TASK_FAILED, json.dumps(out, default=str))
        return out

    def _arguments(self, kind: str, req: dict[str, Any]) -> dict[str, Any]:
        """The engine step's arguments for a SageMaker API request."""
        if kind == "Training":
            return _training_arguments(req, self.d.arn)
        if kind == "HyperParameterTuning":
            job = dict(req.get("TrainingJobDefinition") or {})
            job["HyperParameters"] = job.pop("StaticHyperParameters", {})
            args = _training_arguments(job, self.d.arn)
            args["StaticHyperParameters"] = args.pop("HyperParameters")
            return {**{k: v for k, v in req.items() if k != "HyperParameterTuningJobName"},
                    "TrainingJobDefinition": args}
        return {k: v for k, v in req.items() if k != f"{kind}JobName"}


def _claim_job_name(kind: str, job: str, owner: str) -> None:
    """SageMaker job names are unique per account and kind: the first state to use one
    owns it (a file created atomically under ``$STACKYARD_HOME/sagemaker-names``);
    its retries and a resumed driver use it again, anyone else gets SageMaker's
    ``ResourceInUse`` error. (AWS refuses a retry's reuse too; stackyard lets a Retry
    rerun the job under its name.) Names compare as AWS's ARNs do: lower-cased."""
    from stackyard import _home

    folder = _home.home() / "sagemaker-names" / kind
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / job.lower()
    tmp = folder / f".{job.lower()}.{uuid.uuid4().hex}"
    tmp.write_text(owner)
    try:
        os.link(tmp, target)
    except FileExistsError:
        if target.read_text() != owner:
            kinds = {"Training": "Training job", "Processing": "Processing job",
                     "Transform": "Transform job",
                     "HyperParameterTuning": "Hyper parameter tuning job"}
            raise StatesError("SageMaker.AmazonSageMakerException", (
                f"{kinds[kind]} names must be unique within an AWS account and region, and "
                f"a {kinds[kind].lower()} with this name already exists "
                f"({_job_arn(kind, job)}) (Service: AmazonSageMaker; Status Code: 400; Error "
                f"Code: ResourceInUse; Request ID: {uuid.uuid4()}; Proxy: null)")) from None
    finally:
        tmp.unlink()


def _job_arn(kind: str, job: str) -> str:
    arn_kind = {"Training": "training-job", "Processing": "processing-job",
                "Transform": "transform-job", "Model": "model",
                "HyperParameterTuning": "hyper-parameter-tuning-job"}[kind]
    return f"arn:aws:sagemaker:local:000000000000:{arn_kind}/{job.lower()}"


def _create_model(req: Any) -> dict[str, Any]:
    """CreateModel: a named model a transform job can run. Framework containers find the
    inference code through ``SAGEMAKER_PROGRAM`` and ``SAGEMAKER_SUBMIT_DIRECTORY`` (a
    folder or ``file://`` URI, or the entry point file alone) in the container's
    environment, so those name it here.
    The same model created again (a resumed driver) is a no-op; another model under a
    taken name is refused, as SageMaker refuses it."""
    from stackyard.transform._models import create_model

    if not isinstance(req, dict):
        raise _sagemaker_error(f"createModel needs a request object; got {req!r}")
    container = dict(req.get("PrimaryContainer") or (req.get("Containers") or [{}])[0])
    env = dict(container.get("Environment") or {})
    program, submit = env.pop("SAGEMAKER_PROGRAM", None), env.pop(
        "SAGEMAKER_SUBMIT_DIRECTORY", None)
    if not container.get("ModelDataUrl"):
        raise _sagemaker_error("createModel: PrimaryContainer.ModelDataUrl is required")
    name = req.get("ModelName")
    source = _checks.uri_to_path(str(submit)) if submit else None
    if source is not None and source.is_file():     # the entry point file alone
        program, source = str(source), None
    try:
        create_model({"ModelName": name, "PrimaryContainer": {
            "ModelDataUrl": str(container["ModelDataUrl"]), "EntryPoint": program,
            "SourceDir": str(source) if source else None,
            "Image": container.get("Image"), "Environment": env}})
    except UsageError as e:
        if "exists" not in str(e):
            raise _sagemaker_error(str(e)) from None
        raise StatesError("SageMaker.AmazonSageMakerException", (
            f'Cannot create already existing model "{_job_arn("Model", str(name))}". '
            "(Service: AmazonSageMaker; Status Code: 400; Error Code: ValidationException; "
            f"Request ID: {uuid.uuid4()}; Proxy: null)")) from None
    return {"ModelArn": _job_arn("Model", str(name))}


_STEP_TYPE = {"Training": "Training", "Processing": "Processing", "Transform": "Transform",
              "HyperParameterTuning": "Tuning"}


def _unquote(value: Any) -> Any:
    """A hyperparameter as the SageMaker SDK writes it (JSON text: ``"\\"train.py\\""``)."""
    if isinstance(value, str) and value.startswith('"'):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _training_arguments(req: dict[str, Any], arn: str) -> dict[str, Any]:
    """CreateTrainingJob as the engine's training step: ``sagemaker_program`` and
    ``sagemaker_submit_directory`` (a folder, ``file://`` URI or ``.tar.gz``; or the entry
    point file alone, as the SDK writes an estimator without ``source_dir``) name the entry
    point and its source, as SageMaker's framework containers read them."""
    hps = dict(req.get("HyperParameters") or {})
    program = _unquote(hps.pop("sagemaker_program", None))
    submit = _unquote(hps.pop("sagemaker_submit_directory", None))
    for k in [k for k in hps if k.startswith("sagemaker_")]:
        hps.pop(k)
    if not program or not submit:
        raise UsageError("HyperParameters must name the entry point (sagemaker_program) and "
                         "its source folder or .tar.gz (sagemaker_submit_directory)")
    source: Path | None = _checks.uri_to_path(str(submit))
    code: dict[str, Any] = {"EntryPoint": str(program), "Dependencies": []}
    if source.is_file() and source.name.endswith((".tar.gz", ".tgz")):
        source = _unpacked(source, arn)
    elif source.is_file():            # the entry point file alone (no source_dir)
        code.update(EntryPoint=source.name, EntryPointPath=str(source))
        source = None
    code["SourceDir"] = str(source) if source else None
    if source is not None and not source.is_dir():
        raise UsageError(f"sagemaker_submit_directory {submit!r} is not a folder, a .tar.gz "
                         "or the entry point file")
    algo = dict(req.get("AlgorithmSpecification") or {})
    algo.setdefault("MetricDefinitions", [])
    return {"AlgorithmSpecification": algo,
            "Code": code,
            "Environment": dict(req.get("Environment") or {}),
            "HyperParameters": hps, "InputDataConfig": list(req.get("InputDataConfig") or []),
            "OutputDataConfig": dict(req.get("OutputDataConfig") or {}),
            "ResourceConfig": dict(req.get("ResourceConfig") or {}),
            "StoppingCondition": dict(req.get("StoppingCondition") or {})}


def _unpacked(archive: Path, arn: str) -> Path:
    """A source ``.tar.gz`` unpacked once per content into the execution's folder (its
    members checked by the one safe tar reader, over the very bytes that were hashed).
    Parallel branches and Map items that share one archive take turns on a file lock: the
    first unpacks, the others reuse its folder."""
    from filelock import FileLock

    from stackyard import artifacts
    from stackyard.states._executor import execution_dir

    sha = artifacts.sha256_file(archive)
    dest = execution_dir(arn) / "code" / sha
    dest.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(dest.with_name(sha + ".lock")):
        if not dest.is_dir():
            with artifacts.building(dest) as tmp:
                artifacts.unpack_tar(archive, tmp, sha256=sha)
    return dest


def _ms(ts: float | None) -> int | None:
    return None if ts is None else int(ts * 1000)


def _describe(kind: str, job: str, req: dict[str, Any], outputs: dict[str, Any],
              started: float) -> dict[str, Any]:
    """The ``Describe<kind>Job`` response of a finished job (request fields, then what the
    job produced, in the API's shapes)."""
    out = {**req, f"{kind}JobName": job, f"{kind}JobArn": _job_arn(kind, job),
           f"{kind}JobStatus": "Completed", "CreationTime": _ms(started)}
    if kind == "Training":
        out.update(SecondaryStatus="Completed",
                   ModelArtifacts=outputs.get("ModelArtifacts", {}),
                   TrainingStartTime=_ms(started), TrainingEndTime=_ms(time.time()),
                   FinalMetricDataList=[
                       {"MetricName": m["MetricName"], "Value": m["Value"],
                        "Timestamp": _ms(time.time())}
                       for m in (outputs.get("FinalMetricDataList") or {}).values()])
        if outputs.get("OutputDataConfig"):
            out["OutputDataConfig"] = {**req.get("OutputDataConfig", {}),
                                       "S3OutputPath": req.get("OutputDataConfig", {}).get(
                                           "S3OutputPath") or outputs["OutputDataConfig"][
                                           "S3OutputPath"]}
    elif kind == "Processing":
        stored = (outputs.get("ProcessingOutputConfig") or {}).get("Outputs") or {}
        out["ProcessingOutputConfig"] = {**req.get("ProcessingOutputConfig", {}), "Outputs": [
            {"OutputName": n, "S3Output": {**o.get("S3Output", {}),
                                           "S3Uri": o["S3Output"]["S3Uri"]}}
            for n, o in stored.items()]}
        out["ProcessingEndTime"] = _ms(time.time())
    elif kind == "Transform":
        out.update({k: v for k, v in outputs.items() if v is not None and (
            k not in out or k == "TransformOutput") and k not in ("OutputUri", "InputFiles")})
        for k in ("TransformStartTime", "TransformEndTime"):   # seconds -> epoch ms
            if isinstance(out.get(k), float):
                out[k] = _ms(out[k])
    else:
        out.update({k: v for k, v in outputs.items() if v is not None and k not in out})
        out.update(_tuning_counters(outputs.get("TrainingJobStatusCounters") or {}))
        best = outputs.get("BestTrainingJob")
        if best:
            out["BestTrainingJob"] = {
                **best, "TrainingJobArn": _job_arn("Training", best["TrainingJobName"]),
                "TrainingJobStatus": "Completed", "ObjectiveStatus": "Succeeded"}
    return out


def _tuning_counters(trials: dict[str, int]) -> dict[str, dict[str, int]]:
    """The tuning job's trial counts in DescribeHyperParameterTuningJob's two shapes
    (every key present, as the API returns them)."""
    done, failed = trials.get("Completed", 0), trials.get("Failed", 0)
    running = trials.get("InProgress", 0)
    return {"TrainingJobStatusCounters": {
                "Completed": done, "InProgress": running, "RetryableError": 0,
                "NonRetryableError": failed, "Stopped": trials.get("Stopped", 0)},
            "ObjectiveStatusCounters": {"Succeeded": done, "Pending": running,
                                        "Failed": failed}}


def _seconds(state: dict[str, Any], field: str, data: Any) -> float | None:
    if field in state:
        return float(state[field])
    if f"{field}Path" in state:
        value = select(state[f"{field}Path"], data)
        try:
            return float(_checks.check_number(value, f"{field}Path", lo=1, integer=True))
        except UsageError as e:
            raise StatesError(E.RUNTIME, str(e)) from None
    return None
