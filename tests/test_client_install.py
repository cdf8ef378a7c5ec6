"""`pip install ./client` on a machine that has nothing of the server: a bare virtualenv."""

import shutil
import subprocess
import venv

from tests.worker import ROOT


def test_the_client_installs_alone_and_its_command_runs(tmp_path):
    # A copy, so the build leaves nothing in the repository's tree.
    source = shutil.copytree(ROOT / "client", tmp_path / "client",
                             ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    venv.create(tmp_path / "venv", with_pip=True)
    python = tmp_path / "venv" / "bin" / "python"
    install = subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                              str(source)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr

    probe = subprocess.run([python, "-c", (
        "import importlib.util, ecore_client; "
        "print(ecore_client.__version__, [name for name in ('django', 'rest_framework', 'celery', 'openpyxl', 'mcp')"
        " if importlib.util.find_spec(name)])")], capture_output=True, text=True, timeout=60)
    command = subprocess.run([tmp_path / "venv" / "bin" / "ecore", "--help"], capture_output=True, text=True,
                             timeout=60)

    assert probe.stdout.split(" ", 1) == ["0.1.0", "[]\n"]
    assert command.returncode == 0 and "enrich" in command.stdout and "mcp" in command.stdout
