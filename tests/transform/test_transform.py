"""Batch transform end to end with real worker processes: what lands in each ``.out``
(order, joins, filters, mini-batches), in which formats, and where it is published."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from transform_helpers import BIAS, COEF, calls, csv_file, predict

from stackyard.errors import DefinitionError, UsageError
from stackyard.jobs import Model, Transformer, TransformInput
from stackyard.transform._inputs import units_of


def _rows(n: int, first: int = 0) -> list[list[int]]:
    return [[first + i, i % 7, i % 3] for i in range(n)]


def test_csv_join_appends_the_prediction_as_columns_and_output_filter_picks_them(
        tmp_path: Path, model_name: str) -> None:
    rows = [[i, 10 + i, 3, 5] for i in range(50)]  # column 0 is an id the model never sees
    data = csv_file(tmp_path / "in" / "part-01.csv", rows)
    out = tmp_path / "out"
    job = Transformer(model_name, assemble_with="Line", output_path=str(out)).transform(
        str(data.parent), content_type="text/csv", split_type="Line", input_filter="$[1:3]",
        join_source="Input", output_filter="$[0,4]")
    lines = (out / "part-01.csv.out").read_text().splitlines()
    assert lines == [f"{r[0]},{predict(COEF, BIAS, r[1:])!r}" for r in rows]
    assert job["TransformOutput"]["S3OutputPath"] == out.resolve().as_uri()
    assert job["TransformJobStatus"] == "Completed"
    # the whole joined row without an output filter: input columns, then the answer
    Transformer(model_name, assemble_with="Line", output_path=str(tmp_path / "all")).transform(
        str(data), content_type="text/csv", split_type="Line", input_filter="$[1:]",
        join_source="Input")
    first = (tmp_path / "all" / "part-01.csv.out").read_text().splitlines()[0]
    assert first == f"0,10,3,5,{predict(COEF, BIAS, [10, 3, 5])!r}"


def test_json_lines_join_puts_the_answer_under_sagemaker_output(
        tmp_path: Path, register) -> None:
    ref = register("Approved")
    docs = [{"id": f"r{i}", "features": [i, 1, 2]} for i in range(20)]
    data = tmp_path / "in" / "rows.jsonl"
    data.parent.mkdir()
    data.write_text("".join(json.dumps(d) + "\n" for d in docs))
    out = tmp_path / "out"
    Transformer(ref, assemble_with="Line", accept="application/jsonlines",
                output_path=str(out)).transform(
        str(data), content_type="application/jsonlines", split_type="Line",
        input_filter="$.features", join_source="Input",
        output_filter="$['id','SageMakerOutput']")
    got = [json.loads(ln) for ln in (out / "rows.jsonl.out").read_text().splitlines()]
    assert got == [{"id": d["id"], "SageMakerOutput": {"prediction": predict(COEF, BIAS,
                                                                         d["features"])}}
                   for d in docs]
    # an input that is not a JSON object is kept under SageMakerInput
    arrays = tmp_path / "arrays" / "a.jsonl"
    arrays.parent.mkdir()
    arrays.write_text("[1,2,3]\n[4,5,6]\n")
    Transformer(ref, assemble_with="Line", output_path=str(tmp_path / "out2")).transform(
        str(arrays), content_type="application/jsonlines", split_type="Line",
        join_source="Input")
    got = [json.loads(ln) for ln in (tmp_path / "out2" / "a.jsonl.out").read_text().splitlines()]
    assert got == [{"SageMakerInput": [1, 2, 3], "SageMakerOutput": {"prediction": 14.5}},
                   {"SageMakerInput": [4, 5, 6], "SageMakerOutput": {"prediction": 32.5}}]


def test_single_record_sends_one_record_per_call_multi_record_batches_them(
        tmp_path: Path, model_name: str, tx_log: Path) -> None:
    data = csv_file(tmp_path / "in" / "d.csv", _rows(30))
    Transformer(model_name, strategy="SingleRecord", assemble_with="Line",
                output_path=str(tmp_path / "single")).transform(
        str(data), content_type="text/csv", split_type="Line")
    assert [c["rows"] for c in calls(tx_log)] == [1] * 30
    tx_log.unlink()
    Transformer(model_name, strategy="MultiRecord", assemble_with="Line",
                output_path=str(tmp_path / "multi")).transform(
        str(data), content_type="text/csv", split_type="Line")
    assert [c["rows"] for c in calls(tx_log)] == [30]
    single = (tmp_path / "single" / "d.csv.out").read_text()
    assert single == (tmp_path / "multi" / "d.csv.out").read_text()
    assert single.splitlines() == [repr(predict(COEF, BIAS, r)) for r in _rows(30)]


def test_max_payload_splits_a_file_into_mini_batches_no_larger_than_it(
        tmp_path: Path, model_name: str, tx_log: Path) -> None:
    line = 35  # every line "0000123,1.000000000000000,2.000000\n" is 35 bytes
    rows = [f"{i:07d},{1:.15f},{2:.6f}" for i in range(80_000)]
    assert {len(r) + 1 for r in rows} == {line}
    data = tmp_path / "in" / "big.csv"
    data.parent.mkdir()
    data.write_text("".join(r + "\n" for r in rows))  # 2.8 MB
    Transformer(model_name, max_payload=1, assemble_with="Line",
                output_path=str(tmp_path / "out")).transform(
        str(data), content_type="text/csv", split_type="Line")
    batches = [c["rows"] for c in calls(tx_log)]
    units = units_of("big.csv", data, True, False, 1, tmp_path / "w")
    assert len(units) == 3  # cut at about 1 MB (UNIT_MIN) so that workers share the file
    # a mini-batch never spans units: each unit's records fill at most one mini-batch of
    # max_payload and a remainder
    sizes = [(u["end"] - u["start"]) // line for u in units]
    assert sum(batches) == len(rows) and 3 <= len(batches) <= 2 * len(units)
    assert max(batches) * line <= 1 << 20
    edges = {sum(sizes[:k]) for k in range(1, len(sizes))}
    starts = {sum(batches[:k]) for k in range(1, len(batches))}
    assert edges <= starts  # every unit boundary starts a new mini-batch
    firsts = [v for c in calls(tx_log) for v in c["first"]]
    assert firsts == list(range(80_000))  # in input order, each record once
    out = (tmp_path / "out" / "big.csv.out").read_text().splitlines()
    assert len(out) == len(rows) and out[-1] == repr(79_999 + 2 + 6 + 0.5)


def test_a_record_larger_than_max_payload_fails_its_file_naming_the_line(
        tmp_path: Path, model_name: str) -> None:
    from stackyard.transform import TransformError

    data = tmp_path / "in" / "wide.csv"
    data.parent.mkdir()
    data.write_text("1,2,3\n" + "1,2," + "3" * (1 << 20) + "\n")
    with pytest.raises(TransformError, match=r"wide\.csv:2: the record is more than "
                                             r"max_payload \(1 MB\)"):
        Transformer(model_name, max_payload=1).transform(str(data), split_type="Line")


def test_parquet_and_gzip_inputs_stream_as_records(tmp_path: Path, model_name: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = _rows(1000)
    table = pa.table({"a": [r[0] for r in rows], "b": [float(r[1]) for r in rows],
                      "c": [r[2] for r in rows]})
    (tmp_path / "pq").mkdir()
    pq.write_table(table, tmp_path / "pq" / "p.parquet", row_group_size=300)  # 4 row groups
    (tmp_path / "gz").mkdir()
    with gzip.open(tmp_path / "gz" / "g.csv.gz", "wt") as f:
        f.write("".join(f"{a},{b},{c}\n" for a, b, c in rows))
    expected = [repr(predict(COEF, BIAS, r)) for r in rows]
    for folder, compression, out_name in [("gz", "Gzip", "g.csv.gz.out"),
                                          ("pq", None, "p.parquet.out")]:
        out = tmp_path / f"out-{folder}"
        Transformer(model_name, instance_count=2, assemble_with="Line",
                    output_path=str(out)).transform(
            str(tmp_path / folder), content_type="text/csv", split_type="Line",
            compression_type=compression)
        assert (out / out_name).read_text().splitlines() == expected


def test_split_none_sends_each_file_whole_and_folders_with_spaces_and_non_ascii_work(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tx_log: Path) -> None:
    from transform_helpers import write_model

    monkeypatch.setenv("STACKYARD_HOME", str(tmp_path / "home dir ü"))
    tar, code = write_model(tmp_path / "my model é", COEF, BIAS)
    name = Model(model_data=str(tar), entry_point="inference.py", source_dir=str(code)).create()
    folder = tmp_path / "input data ñ"
    csv_file(folder / "sub dir" / "a b.csv", _rows(5))
    csv_file(folder / "c.csv", _rows(3, first=100))
    (folder / ".hidden.csv").write_text("junk\n")
    out = tmp_path / "out ✓"
    job = Transformer(name, output_path=out.as_uri()).transform(folder.as_uri(),
                                                                content_type="text/csv")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "c.csv.out", "sub dir/a b.csv.out"]
    assert [c["rows"] for c in calls(tx_log)] == [3, 5]  # one call per file (split None)
    assert (out / "sub dir" / "a b.csv.out").read_text().splitlines() == [
        repr(predict(COEF, BIAS, r)) for r in _rows(5)]
    assert job["OutputUri"].startswith((tmp_path / "home dir ü").as_uri())


@pytest.mark.slow
def test_a_saved_stackyard_ensemble_transforms_with_no_inference_code(tmp_path: Path) -> None:
    import tarfile

    import numpy as np
    from sklearn.linear_model import LinearRegression

    from stackyard.ensemble import EnsembleRegressor

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    ens = EnsembleRegressor(members=[("lin", LinearRegression())], cv=2).fit(x, x @ [1, 2, 3])
    ens.save(tmp_path / "ens")
    tar = tmp_path / "model.tar.gz"
    with tarfile.open(tar, "w:gz") as t:
        for p in (tmp_path / "ens").iterdir():
            t.add(p, p.name)
    name = Model(model_data=str(tar), name="ens").create()
    data = tmp_path / "in.csv"
    np.savetxt(data, x[:10], delimiter=",")
    Transformer(name, output_path=str(tmp_path / "out")).transform(str(data),
                                                                   split_type="Line")
    got = np.loadtxt(tmp_path / "out" / "in.csv.out")
    assert np.allclose(got, ens.predict(x[:10]))


def test_in_a_pipeline_session_transform_and_create_return_step_arguments(
        tmp_path: Path, model_name: str) -> None:
    from stackyard.workflow import ParameterString, PipelineSession

    session = PipelineSession()
    model = ParameterString("Model", default_value="g/1")
    args = Transformer(model, instance_count=2, max_concurrent_transforms=3, max_payload=4,
                       strategy="SingleRecord", assemble_with="Line", accept="text/csv",
                       output_path=str(tmp_path / "out"), sagemaker_session=session).transform(
        str(tmp_path / "in"), content_type="text/csv", split_type="Line",
        input_filter="$[1:]", join_source="Input")
    assert args.kind == "Transform"
    req = args.request
    assert req["ModelName"] is model
    assert req["TransformInput"] == {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                        "S3Uri": (tmp_path / "in").as_uri()}},
        "ContentType": "text/csv", "CompressionType": "None", "SplitType": "Line"}
    assert req["TransformOutput"] == {"S3OutputPath": (tmp_path / "out").as_uri(),
                                      "Accept": "text/csv", "AssembleWith": "Line"}
    assert req["DataProcessing"] == {"InputFilter": "$[1:]", "OutputFilter": "$",
                                     "JoinSource": "Input"}
    assert (req["BatchStrategy"], req["MaxPayloadInMB"], req["MaxConcurrentTransforms"],
            req["TransformResources"]["InstanceCount"]) == ("SingleRecord", 4, 3, 2)
    created = Model(model_data=str(tmp_path / "model" / "model.tar.gz"),
                    sagemaker_session=session).create(instance_type="ml.m5.large")
    assert created.kind == "CreateModel"
    assert created.request["PrimaryContainer"]["ModelDataUrl"].endswith("model.tar.gz")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"strategy": "Batch"}, "BatchStrategy 'Batch'"),
    ({"assemble_with": "Lines"}, "AssembleWith 'Lines'"),
    ({"max_payload": 0}, "max_payload"),
    ({"max_payload": 101}, "max_payload"),
    ({"max_concurrent_transforms": 0}, "max_concurrent_transforms"),
    ({"instance_count": float("nan")}, "instance_count"),
])
def test_bad_transformer_arguments_fail_when_it_is_made(model_name: str, kwargs: dict,
                                                        message: str) -> None:
    with pytest.raises(UsageError, match=message):
        Transformer(model_name, **kwargs)


def test_bad_transform_arguments_fail_before_anything_is_written(
        tmp_path: Path, model_name: str, sy) -> None:
    t = Transformer(model_name)
    data = csv_file(tmp_path / "in.csv", _rows(2))
    for kwargs, message in [({"split_type": "RecordIO"}, "SplitType 'RecordIO'"),
                            ({"input_filter": "$[*]"}, "input_filter '\\$\\[\\*\\]'"),
                            ({"join_source": "Output"}, "JoinSource"),
                            ({"compression_type": "Zip"}, "CompressionType"),
                            ({"content_type": "text/html"}, "content_type 'text/html'")]:
        with pytest.raises(UsageError, match=message):
            t.transform(str(data), **kwargs)
    with pytest.raises(DefinitionError, match="only S3Prefix"):
        TransformInput(str(data), data_type="ManifestFile")
    with pytest.raises(TypeError, match="unexpected keyword argument.*input_filtr"):
        t.transform(str(data), input_filtr="$")
    assert sy.db_query("SELECT COUNT(*) FROM transform_jobs") == [(0,)]
    assert not (sy.home / "transform").exists()
