"""The SageMaker container contract: from a resolved job request to a ``JobSpec``.

Training jobs get the script-mode environment (``SM_*``), ``--name value`` hyperparameter
arguments and ``/opt/ml/input/config/*.json``; processing jobs get their inputs and outputs
at the ``/opt/ml/processing/...`` paths they named.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stackyard import _home
from stackyard._checks import uri_to_path
from stackyard.runtime._spec import JobSpec

HOST = "algo-1"


def _hp_str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict | list):
        return json.dumps(v)
    return str(v)


def _hp_value(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def _max_runtime(req: dict[str, Any]) -> float | None:
    v = req.get("StoppingCondition", {}).get("MaxRuntimeInSeconds")
    return float(v) if v else None


def processing_spec(name: str, req: dict[str, Any]) -> JobSpec:
    app = req["AppSpecification"]
    inputs, code = [], []
    for inp in req.get("ProcessingInputs", []):
        s3 = inp["S3Input"]
        if inp["InputName"] == "code":
            code.append((str(uri_to_path(s3["S3Uri"])), s3["LocalPath"]))
        else:
            inputs.append((str(s3["S3Uri"]), s3["LocalPath"]))
    outputs = {o["OutputName"]: o["S3Output"]["LocalPath"]
               for o in req.get("ProcessingOutputConfig", {}).get("Outputs", [])}
    argv = [*app["ContainerEntrypoint"], *[str(a) for a in app.get("ContainerArguments", [])]]
    env = {k: str(v) for k, v in req.get("Environment", {}).items()}
    env.setdefault("SM_CURRENT_HOST", HOST)
    env.setdefault("SM_HOSTS", json.dumps([HOST]))
    config = {"/opt/ml/config/processingjobconfig.json": {
        "ProcessingJobName": name, **{k: v for k, v in req.items() if k != "Environment"}},
        "/opt/ml/config/resourceconfig.json": {"current_host": HOST, "hosts": [HOST]}}
    cluster = req.get("ProcessingResources", {}).get("ClusterConfig", {})
    return JobSpec(name=name, kind="Processing", argv=argv, env=env, cwd="/opt/ml/processing",
                   inputs=inputs, outputs=outputs, code=code,
                   max_runtime=_max_runtime(req), config_files=config,
                   instance_type=cluster.get("InstanceType"),
                   instance_count=int(cluster.get("InstanceCount") or 1))


def training_spec(name: str, req: dict[str, Any], num_cpus: int | None = None) -> JobSpec:
    """``num_cpus`` is this job's share of the machine (parallel tuning trials split it),
    announced as ``SM_NUM_CPUS`` and as the default thread count of numeric libraries."""
    code = req["Code"]
    entry = code["EntryPoint"]
    source_dir = code.get("SourceDir")
    hps = {k: _hp_str(v) for k, v in req.get("HyperParameters", {}).items()}
    channels = [c["ChannelName"] for c in req.get("InputDataConfig", [])]
    inputs = [(str(c["DataSource"]["S3DataSource"]["S3Uri"]),
               f"/opt/ml/input/data/{c['ChannelName']}") for c in req.get("InputDataConfig", [])]
    ncpu = num_cpus or _home.cpu_count()
    model_dir, out_data = "/opt/ml/model", "/opt/ml/output/data"
    parsed_hps = {k: _hp_value(v) for k, v in hps.items()}
    user_args = [a for k, v in hps.items() for a in (f"--{k}", v)]
    training_env = {
        "job_name": name, "current_host": HOST, "hosts": [HOST], "num_cpus": ncpu,
        "num_gpus": 0, "hyperparameters": parsed_hps, "channel_input_dirs":
            {c: f"/opt/ml/input/data/{c}" for c in channels},
        "model_dir": model_dir, "output_data_dir": out_data, "output_dir": "/opt/ml/output",
        "input_dir": "/opt/ml/input", "input_config_dir": "/opt/ml/input/config",
        "module_dir": "/opt/ml/code", "module_name": Path(entry).stem,
        "user_entry_point": entry, "log_level": 20, "network_interface_name": "lo",
        "resource_config": {"current_host": HOST, "hosts": [HOST]},
        "input_data_config": {c.get("ChannelName"): {k: v for k, v in c.items()
                                                      if k != "DataSource"}
                              for c in req.get("InputDataConfig", [])},
    }
    env = {k: str(v) for k, v in req.get("Environment", {}).items()}
    if num_cpus:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(var, str(ncpu))
    env.update({
        "SM_MODEL_DIR": model_dir, "SM_OUTPUT_DATA_DIR": out_data,
        "SM_OUTPUT_DIR": "/opt/ml/output", "SM_INPUT_DIR": "/opt/ml/input",
        "SM_INPUT_CONFIG_DIR": "/opt/ml/input/config", "SM_MODULE_DIR": "/opt/ml/code",
        "SM_CHANNELS": json.dumps(channels), "SM_HPS": json.dumps(parsed_hps),
        "SM_CURRENT_HOST": HOST, "SM_HOSTS": json.dumps([HOST]), "SM_NUM_CPUS": str(ncpu),
        "SM_NUM_GPUS": "0", "SM_USER_ENTRY_POINT": entry, "SM_MODULE_NAME": Path(entry).stem,
        "SM_LOG_LEVEL": "20", "SM_USER_ARGS": json.dumps(user_args),
        "SM_TRAINING_ENV": json.dumps(training_env),
        "SM_RESOURCE_CONFIG": json.dumps(training_env["resource_config"]),
        "SM_INPUT_DATA_CONFIG": json.dumps(training_env["input_data_config"]),
        "SM_OUTPUT_INTERMEDIATE_DIR": "/opt/ml/output/intermediate",
        "TRAINING_JOB_NAME": name,
        "PYTHONPATH": "/opt/ml/code",  # the launcher appends an inherited PYTHONPATH
    })
    for c in channels:
        env[f"SM_CHANNEL_{c.upper().replace('-', '_')}"] = f"/opt/ml/input/data/{c}"
    for k, v in hps.items():
        env[f"SM_HP_{k.upper().replace('-', '_')}"] = v
    code_files = [(source_dir or code["EntryPointPath"], "/opt/ml/code")]
    # SageMaker copies each dependency folder into the code folder under its own name
    code_files += [(d, f"/opt/ml/code/{Path(d).name}" if Path(d).is_dir() else "/opt/ml/code")
                   for d in code.get("Dependencies", [])]
    req_file = Path(source_dir) / "requirements.txt" if source_dir else None  # dir only
    config = {
        "/opt/ml/input/config/hyperparameters.json": hps,
        "/opt/ml/input/config/resourceconfig.json": training_env["resource_config"],
        "/opt/ml/input/config/inputdataconfig.json": training_env["input_data_config"],
    }
    return JobSpec(
        name=name, kind="Training", argv=["python3", entry, *user_args], env=env,
        cwd="/opt/ml/code", inputs=inputs,
        outputs={"model": model_dir, "output": out_data},
        code=code_files,
        requirements=str(req_file) if req_file is not None and req_file.is_file() else None,
        max_runtime=_max_runtime(req),
        metric_definitions=req.get("AlgorithmSpecification", {}).get("MetricDefinitions", []),
        config_files=config,
        instance_type=req.get("ResourceConfig", {}).get("InstanceType"),
        instance_count=int(req.get("ResourceConfig", {}).get("InstanceCount") or 1),
    )
