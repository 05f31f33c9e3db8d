"""Find or build llama-bench (and llama-fit-params, for llama.cpp's own memory numbers).

The source is the llama.cpp vendored in the PyPI sdist of llama-cpp-python (pinned), built into
${XDG_CACHE_HOME:-~/.cache}/vtt/llama.cpp/ with this layout, which an existing build must match:
  dl/llama_cpp_python-0.3.36.tar.gz   llama_cpp_python-0.3.36/   build-cpu/   build-vulkan/
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from vtt.errors import BadQuery, EnvironmentProblem

SDIST_NAME = "llama-cpp-python"
SDIST_VERSION = "0.3.36"
LLAMA_CPP_COMMIT = "0c1e57098bba43ac29e6e3b677cdceebdd22334f"
# The sdist's clone is shallow, so the binaries report build 1 rather than the real bNNNN.
REPORTED_BUILD_NUMBER = 1
BACKENDS = ("cpu", "vulkan")
# Everything vtt drives, built in one go so each cache holds a matching set: llama-server for
# `bench serve`, rpc-server for split runs, test-backend-ops for operator rows.
TARGETS = ("llama-bench", "llama-fit-params", "llama-server", "ggml-rpc-server", "test-backend-ops")
VULKAN_APT_PACKAGES = ("libvulkan-dev", "glslc", "spirv-headers", "mesa-vulkan-drivers")
CMAKE_FLAGS = ("-DCMAKE_BUILD_TYPE=Release", "-DGGML_NATIVE=OFF", "-DLLAMA_OPENSSL=OFF",
               "-DLLAMA_BUILD_TESTS=ON", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=ON",
               "-DGGML_RPC=ON")

Progress = Callable[[str, int, int], None]  # (step, done, total)


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vtt" / "llama.cpp"


def source_dir(root: Path | None = None) -> Path:
    return (root or cache_root()) / f"llama_cpp_python-{SDIST_VERSION}" / "vendor" / "llama.cpp"


def build_dir(backend: str, root: Path | None = None) -> Path:
    return (root or cache_root()) / f"build-{backend}"


def build_identity() -> dict:
    return {"sdist": f"{SDIST_NAME}=={SDIST_VERSION}", "commit": LLAMA_CPP_COMMIT,
            "reported_build_number": REPORTED_BUILD_NUMBER}


def read_version(binary: Path) -> dict | None:
    """`binary --version` parsed to {version, build_number, build_commit, compiler}, or None if it fails."""
    try:
        proc = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    text = (proc.stdout + proc.stderr).strip()
    m = re.search(r"version:\s*(\S+)\s*\(build (\d+), commit (\w+)\)", text)
    if proc.returncode != 0 or not m:
        return None
    compiler = re.search(r"built with (.*)", text)
    return {"version": m.group(1), "build_number": int(m.group(2)), "build_commit": m.group(3),
            "compiler": compiler.group(1).strip() if compiler else None}


def find_llama_bench(explicit: str | Path | None = None) -> Path:
    """--llama-bench PATH, else $VTT_LLAMA_BENCH, else a cached build (cpu, then vulkan)."""
    given = explicit or os.environ.get("VTT_LLAMA_BENCH")
    if given:
        path = Path(given).expanduser()
        if not path.is_file() or not os.access(path, os.X_OK):
            raise EnvironmentProblem(f"llama-bench not found at {path}", code="llama_bench_missing",
                                     hint="pass an executable with --llama-bench, or run: vtt bench install")
        return path
    for backend in BACKENDS:
        candidate = build_dir(backend) / "bin" / "llama-bench"
        if candidate.is_file() and read_version(candidate):
            return candidate
    raise EnvironmentProblem("llama-bench not found (no cached build, VTT_LLAMA_BENCH unset)",
                             code="llama_bench_missing",
                             hint="build it once with: vtt bench install --backend cpu")


def find_tool(name: str, explicit: str | Path | None = None, env_var: str | None = None) -> Path:
    """A llama.cpp tool by name (llama-server, ggml-rpc-server, ...): the path given, else $env_var,
    else $LLAMA_BIN_DIR/name (a build made elsewhere, e.g. validation/gpu/build_vulkan.sh), else the
    cached build (cpu, then vulkan)."""
    if name not in TARGETS:
        raise BadQuery(f"unknown llama.cpp tool '{name}'", hint=f"one of: {', '.join(TARGETS)}")
    code = name.replace("-", "_").removeprefix("ggml_") + "_missing"
    given = explicit or (os.environ.get(env_var) if env_var else None)
    if not given and os.environ.get("LLAMA_BIN_DIR"):
        given = str(Path(os.environ["LLAMA_BIN_DIR"]) / name)
    if given:
        path = Path(given).expanduser()
        if not path.is_file() or not os.access(path, os.X_OK):
            raise EnvironmentProblem(f"{name} not found at {path}", code=code,
                                     hint="pass an executable path, or run: vtt bench install")
        return path
    for backend in BACKENDS:
        candidate = build_dir(backend) / "bin" / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise EnvironmentProblem(f"{name} not found (no cached build has it{', ' + env_var + ' unset' if env_var else ''})",
                             code=code, hint="build it once with: vtt bench install --backend cpu")


@contextmanager
def build_lock(root: Path | None = None, *, wait: bool = True):
    """An exclusive fcntl lock on the cache's build folder: two `vtt bench install` runs at once would
    configure and build into the same folders and wreck them. The lock dies with the process."""
    import fcntl

    root = root or cache_root()
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / "build.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise EnvironmentProblem(f"another llama.cpp build holds {root / 'build.lock'}", code="build_locked",
                                     hint="wait for the other vtt bench install to finish") from None
        yield
    finally:
        os.close(fd)


def _require_tools(backend: str) -> None:
    missing = [t for t in ("cmake", "ninja") if not shutil.which(t)]
    if not (shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")):
        missing.append("a C++ compiler (g++ or clang++)")
    if missing:
        raise EnvironmentProblem(f"cannot build llama-bench: missing {', '.join(missing)}",
                                 code="build_tools_missing",
                                 hint="apt-get install cmake ninja-build g++")
    if backend == "vulkan" and not shutil.which("glslc"):
        _install_vulkan_packages()


def _install_vulkan_packages() -> None:
    """Debian's Vulkan SDK pieces; only attempted as root, else we say what to run."""
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *VULKAN_APT_PACKAGES]
    hint = "run: apt-get install -y " + " ".join(VULKAN_APT_PACKAGES)
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise EnvironmentProblem("cannot build the Vulkan llama-bench: glslc not found",
                                 code="build_tools_missing", hint=hint)
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0 or not shutil.which("glslc"):
        raise EnvironmentProblem(f"apt-get install of the Vulkan packages failed: {proc.stderr.strip()[-200:]}",
                                 code="build_tools_missing", hint=hint)


def _download_sdist(root: Path, log) -> Path:
    tarball = root / "dl" / f"llama_cpp_python-{SDIST_VERSION}.tar.gz"
    if tarball.is_file():
        return tarball
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", SDIST_NAME,
           f"{SDIST_NAME}=={SDIST_VERSION}", "-d", str(root / "dl")]
    proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0 or not tarball.is_file():
        raise EnvironmentProblem(f"could not download {SDIST_NAME}=={SDIST_VERSION} from PyPI",
                                 code="download_failed", hint=f"see {log.name}")
    return tarball


def _extract_sdist(root: Path, tarball: Path) -> None:
    if (source_dir(root) / "CMakeLists.txt").is_file():
        return
    with tarfile.open(tarball) as tf:
        tf.extractall(root, filter="data")


def patch_vk_layer_settings(source: Path) -> bool:
    """Guard VK_EXT_layer_settings, which Debian 12's Vulkan headers (1.3.239) lack; no-op on newer ones."""
    path = source / "ggml" / "src" / "ggml-vulkan" / "ggml-vulkan.cpp"
    text = path.read_text()
    if "#if defined(VK_EXT_layer_settings)" in text:
        return False
    a = "    VkBool32 enable_best_practice = layer_settings;\n"
    b = ("    vk::InstanceCreateInfo instance_create_info(vk::InstanceCreateFlags{}, &app_info, layers, "
         "extensions, &layer_setting_info);\n")
    if text.count(a) != 1 or text.count(b) != 1:
        raise EnvironmentProblem(f"cannot apply the Vulkan header patch to {path}: anchor lines not found")
    text = text.replace(a, "#if defined(VK_EXT_layer_settings)\n" + a)
    text = text.replace(b, b + "#else\n    vk::InstanceCreateInfo instance_create_info(vk::InstanceCreateFlags{}, "
                               "&app_info, layers, extensions);\n#endif\n")
    path.write_text(text)
    return True


_STEP = re.compile(r"^\[(\d+)/(\d+)\]")


def _stream(cmd: list[str], log, step: str, progress: Progress | None) -> int:
    """Run `cmd`, copy its output to `log`, report ninja's [n/N] counters."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        log.write(line)
        log.flush()
        m = _STEP.match(line)
        if m and progress:
            progress(step, int(m.group(1)), int(m.group(2)))
    return proc.wait()


def install_llama_bench(backend: str = "cpu", *, jobs: int | None = None,
                        progress: Progress | None = None) -> dict:
    """Build (or reuse) llama-bench for `backend` in the cache; return where it is and what it is."""
    if backend not in BACKENDS:
        raise BadQuery(f"unknown backend '{backend}'", hint=f"choose one of: {', '.join(BACKENDS)}")
    root = cache_root()
    bdir = build_dir(backend, root)
    bench = bdir / "bin" / "llama-bench"
    fit = bdir / "bin" / "llama-fit-params"
    version = read_version(bench) if bench.is_file() else None
    reused = version is not None
    log_path = root / f"build-{backend}.log"
    missing = [t for t in TARGETS if not (bdir / "bin" / t).is_file()]
    if not reused or missing:
        _require_tools(backend)
        root.mkdir(parents=True, exist_ok=True)
        with build_lock(root), open(log_path, "a") as log:
            if progress:
                progress("download", 0, 1)
            tarball = _download_sdist(root, log)
            _extract_sdist(root, tarball)
            src = source_dir(root)
            if backend == "vulkan":
                patch_vk_layer_settings(src)
            if not (bdir / "build.ninja").is_file():
                cmd = ["cmake", "-S", str(src), "-B", str(bdir), "-G", "Ninja", *CMAKE_FLAGS]
                if backend == "vulkan":
                    cmd.append("-DGGML_VULKAN=ON")
                if progress:
                    progress("configure", 0, 1)
                if _stream(cmd, log, "configure", progress) != 0:
                    raise EnvironmentProblem(f"cmake configure failed for the {backend} build",
                                             code="build_failed", hint=f"see {log_path}")
            if reused and not (bdir / "bin" / "ggml-rpc-server").is_file():
                # a cache from before the extra tools: reconfigure it with the flags they need
                cmd = ["cmake", "-S", str(src), "-B", str(bdir), "-G", "Ninja", *CMAKE_FLAGS]
                if backend == "vulkan":
                    cmd.append("-DGGML_VULKAN=ON")
                _stream(cmd, log, "configure", progress)
            targets = list(TARGETS) if not reused else missing
            cmd = ["cmake", "--build", str(bdir), "--target", *targets, "-j", str(jobs or os.cpu_count() or 2)]
            rc = _stream(cmd, log, "build", progress)
            if rc != 0 and not reused:
                raise EnvironmentProblem(f"building llama-bench ({backend}) failed",
                                         code="build_failed", hint=f"see the build log {log_path}")
        version = read_version(bench)
        if version is None:
            raise EnvironmentProblem(f"the built llama-bench at {bench} does not run", code="build_failed",
                                     hint=f"see {log_path}")
    env = {"GGML_VK_VISIBLE_DEVICES": "0"} if backend == "vulkan" else {}
    return {"backend": backend, "llama_bench": str(bench),
            "llama_fit_params": str(fit) if fit.is_file() else None, "reused": reused,
            "build_log": str(log_path), "cache": str(root), "run_env": env,
            **build_identity(), **version}
