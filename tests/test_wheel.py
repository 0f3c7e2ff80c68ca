"""The built wheel installs into a fresh venv outside the source tree and works there."""
import os
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]

CHECK = r"""
import sys, pathlib
import numpy as np
import sipctl, _media
from _media import g711, rtp, resampler, jitter, plc, mixer
import sipctl.sip.message, sipctl.sip.transaction, sipctl.transport, sipctl.registration
root = pathlib.Path(sys.argv[1])
for mod in (sipctl, _media, g711, rtp, resampler, jitter, plc, mixer, sipctl.sip.message, sipctl.transport):
    assert root not in pathlib.Path(mod.__file__).resolve().parents, mod.__file__
x = (np.sin(np.arange(160) * 0.3) * 8000).astype(np.int16)
y = np.frombuffer(g711.ulaw_decode(g711.ulaw_encode(x)), np.int16)
assert np.max(np.abs(y.astype(int) - x)) < 300
assert len(resampler.Resampler(8000, 48000).process(x)) == 960
pkt = rtp.build(0, 1, 160, 42, b"\x00" * 160)
assert rtp.parse(pkt).payload_type == 0
print("wheel ok", sipctl.__version__)
"""


def test_wheel_installs_and_imports_outside_tree(tmp_path):
    dist = tmp_path / "dist"
    # run from tmp_path: in the source tree a build/ directory would shadow the `build` module
    r = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
                        str(dist), str(ROOT)],
                       cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    wheels = list(dist.glob("sipctl-*.whl"))
    assert len(wheels) == 1, wheels
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    vpy = venv / "bin" / "python"
    r = subprocess.run([str(vpy), "-m", "pip", "install", "-q", str(wheels[0])],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([str(vpy), "-c", CHECK, str(ROOT)], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "wheel ok" in r.stdout
    r = subprocess.run([str(venv / "bin" / "sipctl"), "--version"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "sipctl" in r.stdout
