"""After `sam build`: does every function import from what was built?

    python scripts/check_build.py .aws-sam/build

Each handler is imported by the template's runtime (python3.13) with only
the built function and the built layer on sys.path, as Lambda arranges them.
The layer is built for arm64; on another machine its compiled modules
cannot load, so the host's own build of exactly those packages is put in
front of them for the check, and the layer is checked to carry arm64 builds.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

COMPILED = {"pydantic_core": "pydantic-core"}


def runtime_python(runtime: str) -> str:
    version = runtime.removeprefix("python")
    for candidate in (f"python{version}", "python3"):
        path = shutil.which(candidate)
        if not path:
            continue
        # The interpreter's own path: a pyenv shim needs PYENV_VERSION, which the check does not pass on.
        probe = subprocess.run(
            [path, "-c", "import sys; print(sys.version); print(sys.executable)"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.splitlines()
        if probe and probe[0].startswith(version):
            return probe[1]
    sys.exit(f"no {runtime} interpreter on PATH (with pyenv: PYENV_VERSION={version}.x)")


def main(build_dir: str) -> None:
    build = Path(build_dir)
    template = yaml.safe_load((build / "template.yaml").read_text().replace("!", ""))
    runtime = template["Globals"]["Function"]["Runtime"]
    python = runtime_python(runtime)
    layer = build / "SharedLayer" / "python"
    host_dir = build.parent / "hostcheck"
    host_arch = platform.machine()
    if host_arch not in ("aarch64", "arm64"):
        for module, dist in COMPILED.items():
            built = next(layer.glob(f"{module}/*.so"), None)
            if built is None or "aarch64" not in built.name:
                sys.exit(f"layer's {module} is not an arm64 build: {built}")
            version = next(layer.glob(f"{module}-*.dist-info")).name.removesuffix(".dist-info").split("-")[1]
            subprocess.run(
                [python, "-m", "pip", "install", "--quiet", "--target", str(host_dir), f"{dist}=={version}"], check=True
            )
    failures = 0
    for name, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        module, _, attribute = resource["Properties"]["Handler"].rpartition(".")
        code = (
            "import sys; sys.path[:0] = sys.argv[1:]; "
            f"import importlib; m = importlib.import_module('{module}'); assert callable(m.{attribute})"
        )
        result = subprocess.run(
            [python, "-c", code, str(build / name), str(host_dir), str(layer)],
            capture_output=True,
            text=True,
            check=False,
            env={"AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true", "PATH": "/usr/bin:/bin"},
        )
        status = "ok" if result.returncode == 0 else "FAILED"
        failures += result.returncode != 0
        print(f"{name:28} {resource['Properties']['Handler']:28} {status}")
        if result.returncode:
            print(result.stderr[-2000:])
    if failures:
        sys.exit(f"{failures} function(s) do not import")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".aws-sam/build")
