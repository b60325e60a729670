"""`python evaluate.py`: method specs, test sets, the scoring loop and the report files."""

from facerevive.data.sources import SourceError
from facerevive.evaluation.methods import MethodError, MethodKind, MethodSpec, MethodUnavailableError, parse_method
from facerevive.evaluation.options import SettingError
from facerevive.evaluation.report import MethodResult, Results
from facerevive.evaluation.report_files import write_report
from facerevive.evaluation.runner import evaluate_methods
from facerevive.evaluation.testsets import DatasetError, TestSet, load_test_set

# Errors that end the command with one clear line instead of a traceback.
EvaluationError = (MethodError, DatasetError, SourceError, SettingError)

__all__ = [
    "DatasetError",
    "EvaluationError",
    "MethodError",
    "MethodKind",
    "MethodResult",
    "MethodSpec",
    "MethodUnavailableError",
    "Results",
    "SettingError",
    "TestSet",
    "evaluate_methods",
    "load_test_set",
    "parse_method",
    "write_report",
]
