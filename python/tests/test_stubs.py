"""The type stubs and the docstrings: every public name of the package has a stub
(shmrt/*.pyi, beside the modules, with py.typed), every public method and
property of every public class is in its class's stub, and each has a docstring
of its own. The stubs are read as Python syntax trees (no type checker is needed);
if mypy is importable, its stubtest compares them with the runtime too."""
import ast
import importlib
import inspect
import os
import subprocess
import sys

import pytest

import shmrt

PKG = os.path.dirname(shmrt.__file__)
MODULES = ["shmrt", "shmrt.queues", "shmrt.connection", "shmrt.shared_memory",
           "shmrt.managers"]
# The protocol methods a stub must also have when the class defines them.
DUNDERS = {"__len__", "__getitem__", "__setitem__", "__delitem__", "__iter__",
           "__contains__", "__enter__", "__exit__", "__reversed__"}
# Re-exported from the standard library, as multiprocessing's: their stubs and
# docstrings are the standard library's.
STDLIB = {"Process", "Pool", "get_context", "current_process", "active_children",
          "parent_process", "cpu_count", "freeze_support", "set_start_method",
          "get_start_method", "get_all_start_methods", "TimeoutError", "ProcessError",
          "BufferTooShort", "AuthenticationError", "BrokenBarrierError"}


def stub_tree(module):
    rel = module.split(".")[1:] or ["__init__"]
    path = os.path.join(PKG, *rel) + ".pyi"
    assert os.path.exists(path), f"no stub {path}"
    with open(path) as f:
        return ast.parse(f.read(), path)


def stub_names(tree):
    """Top-level names of a stub: {name: ClassDef or None}."""
    out = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            out[node.name] = node
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out[node.name] = None
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    out[t.id] = None
        elif isinstance(node, ast.ImportFrom):
            for a in node.names:
                if a.asname:                          # "import X as X": re-exported
                    out[a.asname] = None
    return out


def class_members(node, classes):
    """Names a stub class defines, with its stub bases' (same module)."""
    names = set()
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(item.name)
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            names.add(item.target.id)
        elif isinstance(item, ast.Assign):
            names.update(t.id for t in item.targets if isinstance(t, ast.Name))
    for base in node.bases:
        b = base.value if isinstance(base, ast.Subscript) else base
        if isinstance(b, ast.Name) and isinstance(classes.get(b.id), ast.ClassDef):
            names |= class_members(classes[b.id], classes)
    return names


def public_classes(module):
    mod = importlib.import_module(module)
    names = getattr(mod, "__all__", None) or [n for n in vars(mod) if not n.startswith("_")]
    for name in names:
        if name in STDLIB:
            continue
        obj = getattr(mod, name)
        if inspect.isclass(obj) and obj.__module__.startswith("shmrt"):
            yield name, obj


def own_members(cls):
    """Public methods and properties that shmrt's classes of cls's MRO define."""
    out = {}
    for klass in reversed(cls.__mro__):
        if not klass.__module__.startswith("shmrt"):
            continue
        for name, value in vars(klass).items():
            if (name.startswith("_") and name not in DUNDERS) or not (
                    callable(value) or isinstance(value, property)
                    or inspect.isdatadescriptor(value)
                    or inspect.ismethoddescriptor(value)):
                continue
            out[name] = value
    return out


@pytest.mark.parametrize("module", MODULES)
def test_every_public_name_has_a_stub(module):
    mod = importlib.import_module(module)
    names = stub_names(stub_tree(module))
    public = getattr(mod, "__all__", None) or [
        n for n, v in vars(mod).items() if not n.startswith("_") and
        getattr(v, "__module__", module).startswith("shmrt")
        and not inspect.ismodule(v)]
    missing = [n for n in public if n not in names and n not in STDLIB]
    assert missing == []


@pytest.mark.parametrize("module", MODULES)
def test_every_public_method_is_in_its_class_stub(module):
    tree = stub_tree(module)
    classes = stub_names(tree)
    missing = []
    for name, cls in public_classes(module):
        if name not in classes:
            missing.append(name)
            continue
        node = classes[name]
        if not isinstance(node, ast.ClassDef):
            continue              # re-exported from a submodule: checked with it
        have = class_members(node, classes)
        missing += [f"{name}.{m}" for m in own_members(cls) if m not in have]
    # RawValue and RawArray are factories at run time, classes in the stub: their
    # types' methods are checked against those classes.
    for name in ("RawValue", "RawArray"):
        if module == "shmrt":
            cls = getattr(shmrt._shmrt, name)
            have = class_members(classes[name], classes)
            missing += [f"{name}.{m}" for m in own_members(cls) if m not in have]
    assert missing == []


@pytest.mark.parametrize("module", MODULES)
def test_every_public_method_has_a_docstring(module):
    undocumented = []
    classes = dict(public_classes(module))
    if module == "shmrt":
        classes.update(RawValue=shmrt._shmrt.RawValue, RawArray=shmrt._shmrt.RawArray)
        for f in ("Value", "RawValue", "Array", "RawArray", "Manager"):
            if not (getattr(shmrt, f).__doc__ or "").strip():
                undocumented.append(f)
    for name, cls in classes.items():
        if not (cls.__doc__ or "").strip():
            undocumented.append(name)
        for m, value in own_members(cls).items():
            if m in DUNDERS:
                continue
            doc = getattr(value, "__doc__", None)
            if not (doc or "").strip():
                undocumented.append(f"{name}.{m}")
    assert undocumented == []


def test_py_typed_and_stubs_ship_with_the_package():
    assert os.path.exists(os.path.join(PKG, "py.typed"))
    with open(os.path.join(os.path.dirname(__file__), "..", "pyproject.toml")) as f:
        text = f.read()
    assert '"py.typed"' in text and '"*.pyi"' in text


def test_stubtest_when_mypy_is_there(tmp_path):
    try:
        import mypy.stubtest  # noqa: F401
    except ImportError:
        pytest.skip("mypy is not installed for this interpreter (the checks above "
                    "stand without it)")
    allow = tmp_path / "allow.txt"
    # Documented differences: RawValue and RawArray are factories at run time and
    # classes in the stubs; the C types' constructors take generic *args.
    allow.write_text("shmrt.RawValue\nshmrt.RawArray\nshmrt.(Lock|RLock|Event).__init__\n")
    env = dict(os.environ)
    r = subprocess.run([sys.executable, "-m", "mypy.stubtest", "--concise",
                        "--allowlist", str(allow), "shmrt"], capture_output=True,
                       text=True, timeout=300, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
