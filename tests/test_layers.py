"""The apps are layered as their foreign keys go (docs/ARCHITECTURE.md): a lower app never
imports a higher one, at module level or inside a function, and no modules import each
other in a loop. Read from the source, so it needs no database."""

from tools import import_graph


def test_no_app_imports_a_higher_or_sibling_app():
    assert import_graph.layer_violations(import_graph.module_imports()) == []


def test_no_modules_import_each_other_in_a_cycle():
    assert import_graph.cycles(import_graph.module_imports()) == []


def test_no_app_module_is_over_400_lines():
    assert import_graph.long_modules() == []


def test_every_app_of_the_project_has_a_layer():
    apps = {path.parent.name for path in import_graph.ROOT.glob("*/apps.py")}
    assert apps == set(import_graph.APPS) - {"config"}


def test_the_reader_sees_imports_inside_functions_and_relative_ones(tmp_path, monkeypatch):
    for app in ("core", "systems"):
        (tmp_path / app).mkdir()
        (tmp_path / app / "__init__.py").write_text("")
    (tmp_path / "systems" / "models.py").write_text("")
    (tmp_path / "core" / "a.py").write_text("def f():\n    from systems import models\n")
    (tmp_path / "core" / "b.py").write_text("from . import a\n")
    (tmp_path / "systems" / "c.py").write_text("from .models import x\n")
    monkeypatch.setattr(import_graph, "ROOT", tmp_path)
    graph = import_graph.module_imports()
    assert graph["core.a"] == {"systems.models"}
    assert graph["core.b"] == {"core.a"}
    assert graph["systems.c"] == {"systems.models"}
    assert import_graph.layer_violations(graph) == ["core.a imports systems.models"]


def test_the_cycle_finder_finds_a_loop_and_only_the_loop():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_graph.cycles(graph) == [["a", "b", "c"]]
