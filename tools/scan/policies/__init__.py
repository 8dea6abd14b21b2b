"""The platform's invariants as checkov custom policies (CKV_VIDEO_*), loaded by `tools.scan.scan` through
checkov's `--external-checks-dir`. See docs/custom-policies.md.

checkov loads every .py file here as a top-level module (this folder on sys.path), so the checks import their
shared code as `video_policy_model`, never through this package."""

from pathlib import Path

DIRECTORY = Path(__file__).resolve().parent
