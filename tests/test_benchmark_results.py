"""benchmarks/results.py: figures appended to the results table, bars recorded as met or missed."""
import os

from benchmarks import results


def test_bars_record_each_figure_and_collect_the_misses(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(results, "RESULTS", tmp_path / "RESULTS.md")
    monkeypatch.setattr(results, "machine", lambda: "test machine")
    bars = results.Bars("bench_test", prefix="digits: ")
    bars.check("accuracy", 0.991, True, ">= 0.98")
    bars.check("error", 3e-6, False, "<= 1e-06", note="float64", fmt=".1e")
    bars.fail("the notebook did not report its FID")
    assert bars.finish("module 99") == 1
    rows = (tmp_path / "RESULTS.md").read_text().splitlines()
    assert rows[-2].endswith("| bench_test | digits: accuracy | 0.9910 | bar: >= 0.98 -> pass |")
    assert rows[-1].endswith("| bench_test | digits: error | 3.0e-06 | bar: <= 1e-06 -> FAIL (missed); float64 |")
    out = capsys.readouterr().out
    assert "digits: error = 3.0e-06 (needs <= 1e-06)" in out and "digits: the notebook did not report its FID" in out
    assert "accuracy =" not in out.split("Bars missed:")[1]


def test_bars_finish_zero_when_every_bar_is_met(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(results, "RESULTS", tmp_path / "RESULTS.md")
    monkeypatch.setattr(results, "machine", lambda: "test machine")
    bars = results.Bars("bench_test")
    bars.check("accuracy", 0.5, True, ">= 0.4")
    assert bars.finish("module 99") == 0
    assert "All module 99 bars pass." in capsys.readouterr().out


def test_a_dataset_missing_from_the_cache_is_reported_as_not_measured(cache, capsys):
    assert results.dataset_in_cache("cifar10", "CIFAR-10") is False
    out = capsys.readouterr().out
    assert "CIFAR-10 is not in the cache" in out and "cvcourse data download cifar10" in out


def test_files_a_run_should_write_are_misses_when_missing(tmp_path, capsys):
    (tmp_path / "ddpm.npz").write_bytes(b"")
    bars = results.Bars("bench_test")
    bars.expect_files(tmp_path / f"{name}.npz" for name in ("ddpm", "ddim50"))
    assert bars.failures == [f"{tmp_path / 'ddim50.npz'} was not written"]
    assert f"written: {tmp_path / 'ddpm.npz'}" in capsys.readouterr().out


def test_a_sample_run_sets_its_environment_or_stops_without_mnist(cache, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(results, "RESULTS", tmp_path / "RESULTS.md")
    monkeypatch.setattr(results, "machine", lambda: "test machine")
    monkeypatch.delenv("CVCOURSE_SAMPLES_OUT", raising=False)
    monkeypatch.delenv("CVCOURSE_TEST_DATASET", raising=False)
    assert results.prepare_sample_run("bench_test", "mnist", tmp_path / "out", "CVCOURSE_TEST_DATASET") is False
    assert "MNIST figures | not measured" in (tmp_path / "RESULTS.md").read_text()
    assert "CVCOURSE_TEST_DATASET" not in os.environ and not (tmp_path / "out").exists()
    assert results.prepare_sample_run("bench_test", "digits", tmp_path / "out", "CVCOURSE_TEST_DATASET") is True
    assert os.environ["CVCOURSE_TEST_DATASET"] == "digits" and (tmp_path / "out").is_dir()
    assert os.environ["CVCOURSE_SAMPLES_OUT"] == str((tmp_path / "out").resolve())
