"""Every import runs one way: each module's imports, read with `ast`, against the layers below.

From the bottom up:

- `settings` (configuration from the environment) imports nothing of ours;
  `celeryconfig` only settings; `startup` (what each process checks before it
  works: settings, database, broker) only settings, and the web and worker call it;
  `telemetry` (JSON logs, request ids, Prometheus metrics) only settings, and the
  web and worker use it.
- `worker.clients` (HTTP and SMTP to the outside) take and return plain values
  and import only each other. The Stripe client is the one exception: it
  implements the domain's payment gateway, so it imports that interface
  (`models.payment_gateway`) to answer with the domain's outcomes and errors.
- `models` (the domain) imports only models: no worker, no client, no web.
  Tasks leave through `models.tasks`, whose publisher each process registers.
- `worker` (Celery tasks) imports models, the clients and settings; never api.
- `api` (the web core) imports models and settings. Its exceptions are the
  places that put processes together: the app factory (`api.app`) holds the
  route catalogue of both surfaces and registers the web process's task
  publisher (`worker.celery.publish`); the command line (`api.cli`) registers
  its own and runs a renewal pass in its process; `api.errors` speaks each
  surface's error dialect.
- The surfaces `api.zellyy` and `api.rabbit` import the web core and models,
  never each other. Zellyy also imports clients: the web process itself charges
  the first period (Stripe) and checks a social platform's token when an
  account is connected.
- `tests`, `bench` and `migrations` may import anything, and are not read.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_READ = {"tests", "bench", "migrations", ".venv", "var"}

# Module prefix -> layer; a module's layer is that of its longest matching prefix.
LAYERS = {
    "settings": "settings",
    "celeryconfig": "celeryconfig",
    "startup": "startup",
    "telemetry": "telemetry",
    "worker.clients": "clients",
    "models": "models",
    "worker": "worker",
    "api": "web",
    "api.zellyy": "zellyy",
    "api.rabbit": "rabbit",
}
# Layer -> the layers its modules may import.
ALLOWED = {
    "settings": set(),
    "celeryconfig": {"settings"},
    "startup": {"settings"},
    "telemetry": {"settings"},
    "clients": {"clients"},
    "models": {"models"},
    "worker": {"worker", "models", "clients", "settings", "startup", "telemetry"},
    "web": {"web", "models", "settings", "startup", "telemetry"},
    "zellyy": {"zellyy", "web", "models", "clients"},
    "rabbit": {"rabbit", "web", "models"},
}
# Module -> module prefixes it may import besides its layer's (the reasons are above).
EXCEPTIONS = {
    "worker.clients.stripe_client": {"models.payment_gateway"},
    "api.app": {"api.zellyy", "api.rabbit", "worker.celery"},
    "api.cli": {"worker.celery", "worker.billing", "worker.clients.stripe_client"},
    "api.errors": {"api.zellyy.errors", "api.rabbit.errors"},
}


def our_modules(root: Path) -> dict[str, Path]:
    """Dotted name -> file of every importable module of ours outside NOT_READ."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[0] in NOT_READ or "." in parts[-1]:  # gunicorn.conf.py is a file, not a module
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def imports_of(module: str, path: Path, ours: set[str]) -> list[tuple[str, int]]:
    """(our module, line) for every import in the file, top-level or inside functions."""
    tops = {name.split(".")[0] for name in ours}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from models import webhooks` imports the module models.webhooks.
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in ours else base
                for alias in node.names
            ]
        else:
            continue
        found += [(name, node.lineno) for name in names if name.split(".")[0] in tops]
    return list(dict.fromkeys(found))


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def layer_of(module: str) -> str | None:
    prefixes = [prefix for prefix in LAYERS if _under(module, prefix)]
    return LAYERS[max(prefixes, key=len)] if prefixes else None


def wrong_imports(root: Path) -> list[str]:
    modules = our_modules(root)
    wrong = []
    for module, path in modules.items():
        layer = layer_of(module)
        if layer is None:
            wrong.append(f"{module}: in no layer (add it to LAYERS)")
            continue
        for imported, line in imports_of(module, path, set(modules)):
            if layer_of(imported) in ALLOWED[layer]:
                continue
            if any(_under(imported, prefix) for prefix in EXCEPTIONS.get(module, ())):
                continue
            wrong.append(f"{path.relative_to(root)}:{line}: {layer} {module} imports {imported}")
    return wrong


def test_every_import_runs_an_allowed_way():
    assert wrong_imports(ROOT) == []


def test_the_check_sees_imports_inside_functions_and_relative_ones(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "__init__.py").write_text("")
    (tmp_path / "models" / "clock.py").write_text("")
    (tmp_path / "models" / "cards.py").write_text(
        "from . import clock\ndef f():\n    from worker.celery import app\n    import api.app\n"
    )
    (tmp_path / "worker").mkdir()
    (tmp_path / "worker" / "__init__.py").write_text("")
    (tmp_path / "worker" / "celery.py").write_text("from models import clock\n")
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "__init__.py").write_text("")
    (tmp_path / "api" / "app.py").write_text("")
    (tmp_path / "newpackage.py").write_text("")

    assert wrong_imports(tmp_path) == [
        "models/cards.py:3: models models.cards imports worker.celery",
        "models/cards.py:4: models models.cards imports api.app",
        "newpackage: in no layer (add it to LAYERS)",
    ]
