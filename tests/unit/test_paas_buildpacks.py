"""Buildpack logic over the fake tool runner: no pip runs here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nimbus.errors import NON_RETRYABLE, InvalidSpec
from paas.buildpacks import STATIC_COMMAND, StageResult, StagingError, detect, stage
from paas.tools import FakeToolRunner, ScriptedTool

NO_MATCH = "ERROR: No matching distribution found for nope==1"


def files(root: Path, **content: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in content.items():
        (root / name.replace("__", ".")).write_text(text)
    return root


def run(app: Path, tmp_path: Path, runner: FakeToolRunner, **kw: str) -> StageResult:
    logged: list[str] = []
    result = stage(app, tmp_path / "out", tmp_path / "cache", logged.append, runner=runner, **kw)
    assert logged[-1].startswith("-----> Droplet ready")
    return result


def tools(runner: FakeToolRunner) -> list[str]:
    return [name for name, _ in runner.calls]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ({"requirements__txt": "flask\n"}, "python"),
        ({"Procfile": "web: python3 main.py\n"}, "python"),
        ({"main__py": ""}, "python"),
        ({"index__html": "<p>hi</p>", "app__py": ""}, "python"),
        ({"index__html": "<p>hi</p>"}, "static"),
    ],
)
def test_detect_reads_the_top_of_the_app(
    tmp_path: Path, content: dict[str, str], expected: str
) -> None:
    assert detect(files(tmp_path / "app", **content)) == expected


def test_detect_names_what_it_looked_for_in_an_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(StagingError) as info:
        detect(files(tmp_path / "app"))
    assert info.value.step == "detect"
    assert "requirements.txt" in str(info.value) and "index.html" in str(info.value)


def test_a_hint_wins_but_must_be_known(tmp_path: Path) -> None:
    app = files(tmp_path / "app", index__html="x", app__py="")
    assert detect(app, "static") == "static"
    assert detect(app, "staticfile_buildpack") == "static"
    with pytest.raises(StagingError, match="unknown buildpack 'ruby'"):
        detect(app, "ruby")


def cached_wheel(tmp_path: Path) -> None:
    (tmp_path / "cache" / "wheels").mkdir(parents=True)
    (tmp_path / "cache" / "wheels" / "flask-3.1.3-py3-none-any.whl").write_bytes(b"")


def test_python_app_installs_requirements_from_the_cache_first(tmp_path: Path) -> None:
    cached_wheel(tmp_path)
    runner = FakeToolRunner()
    app = files(tmp_path / "app", app__py="", requirements__txt="flask\n")
    assert run(app, tmp_path, runner).command == "python3 app.py"
    assert tools(runner) == ["pip wheel (cache)", "pip install"]
    install = runner.calls[-1][1]
    assert "--no-index" in install and "--no-compile" not in install
    assert str(tmp_path / "out.partial" / ".deps") in install


def test_first_build_goes_straight_to_the_index(tmp_path: Path) -> None:
    runner = FakeToolRunner()
    run(files(tmp_path / "app", app__py="", requirements__txt="flask\n"), tmp_path, runner)
    assert tools(runner) == ["pip wheel (index)", "pip install"]


def test_requirements_missing_from_the_cache_come_from_the_index(tmp_path: Path) -> None:
    cached_wheel(tmp_path)
    runner = FakeToolRunner(script={"pip wheel (cache)": ScriptedTool((NO_MATCH,), 1)})
    app = files(tmp_path / "app", app__py="", requirements__txt="flask\n")
    run(app, tmp_path, runner)
    assert tools(runner) == ["pip wheel (cache)", "pip wheel (index)", "pip install"]
    assert "--no-index" not in runner.calls[1][1]


def test_a_failed_install_names_the_step_and_quotes_pip(tmp_path: Path) -> None:
    runner = FakeToolRunner(
        script={"pip wheel (cache)": ScriptedTool((NO_MATCH,), 1)},
        fail_at="pip wheel (index)",
        fail_lines=("Collecting nope==1", "ERROR: Could not find a version", NO_MATCH),
    )
    app = files(tmp_path / "app", app__py="", requirements__txt="nope==1\n")
    with pytest.raises(StagingError) as info:
        run(app, tmp_path, runner)
    assert info.value.step == "install requirements"
    assert str(info.value) == f"staging failed at step 'install requirements': {NO_MATCH}"
    assert info.value.output[-1] == NO_MATCH
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_a_pip_timeout_says_so(tmp_path: Path) -> None:
    runner = FakeToolRunner(script={"pip install": ScriptedTool(("Collecting x",), None)})
    app = files(tmp_path / "app", app__py="", requirements__txt="x\n")
    with pytest.raises(StagingError, match="timed out"):
        run(app, tmp_path, runner)


def test_start_command_comes_from_argument_then_procfile_then_app_py(tmp_path: Path) -> None:
    app = files(tmp_path / "app", app__py="", Procfile="# web\nweb: gunicorn app:app\n")
    assert run(app, tmp_path, FakeToolRunner(), command="python3 x.py").command == "python3 x.py"
    assert run(app, tmp_path, FakeToolRunner()).command == "gunicorn app:app"


def test_python_app_without_a_start_command_is_told_how_to_add_one(tmp_path: Path) -> None:
    with pytest.raises(StagingError) as info:
        run(files(tmp_path / "app", main__py=""), tmp_path, FakeToolRunner())
    assert info.value.step == "start command" and "Procfile" in str(info.value)


def test_static_site_lands_in_public_without_running_any_tool(tmp_path: Path) -> None:
    runner = FakeToolRunner()
    app = files(tmp_path / "app", index__html="<p>hi</p>", manifest__yml="applications: []")
    result = run(app, tmp_path, runner)
    assert (result.buildpack, result.runtime, result.command) == (
        "static",
        "static",
        STATIC_COMMAND,
    )
    assert sorted(p.name for p in (tmp_path / "out" / "public").iterdir()) == ["index.html"]
    assert runner.calls == []


def test_droplet_description_matches_the_result(tmp_path: Path) -> None:
    result = run(files(tmp_path / "app", index__html="<p>hi</p>"), tmp_path, FakeToolRunner())
    described = json.loads((tmp_path / "out" / "nimbus-droplet.json").read_text())
    assert StageResult(**described) == result and result.size_bytes == len("<p>hi</p>")


def test_staging_again_rebuilds_the_droplet_from_scratch(tmp_path: Path) -> None:
    app = files(tmp_path / "app", app__py="", old__py="")
    run(app, tmp_path, FakeToolRunner())
    (app / "old.py").unlink()
    run(app, tmp_path, FakeToolRunner())
    assert not (tmp_path / "out" / "old.py").exists() and (tmp_path / "out" / "app.py").exists()


def test_a_failed_staging_leaves_the_previous_droplet(tmp_path: Path) -> None:
    app = files(tmp_path / "app", app__py="", requirements__txt="x\n")
    run(app, tmp_path, FakeToolRunner())
    with pytest.raises(StagingError):
        run(app, tmp_path, FakeToolRunner(fail_at="pip install"))
    assert (tmp_path / "out" / "nimbus-droplet.json").exists()


def test_build_litter_is_not_copied_into_the_droplet(tmp_path: Path) -> None:
    app = files(tmp_path / "app", app__py="", notes__txt="", __cfignore="notes.txt\n")
    (app / "__pycache__").mkdir()
    (app / "__pycache__" / "app.cpython-311.pyc").write_text("")
    run(app, tmp_path, FakeToolRunner())
    assert not (tmp_path / "out" / "__pycache__").exists()
    assert not (tmp_path / "out" / "notes.txt").exists()


def test_staging_errors_are_not_retried_by_temporal() -> None:
    assert StagingError.__name__ in NON_RETRYABLE and issubclass(StagingError, InvalidSpec)
