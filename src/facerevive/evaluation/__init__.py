"""`python evaluate.py`: methods, test sets, the scoring loop and the report files."""

from facerevive.data.sources import SourceError
from facerevive.evaluation.methods import Method, MethodError, parse_method
from facerevive.evaluation.report import MethodResult, Results, write_report
from facerevive.evaluation.runner import evaluate_methods
from facerevive.evaluation.testsets import DatasetError

# Errors that end the command with one clear line instead of a traceback.
EvaluationError = (MethodError, DatasetError, SourceError)

__all__ = [
    "DatasetError",
    "EvaluationError",
    "Method",
    "MethodError",
    "MethodResult",
    "Results",
    "evaluate_methods",
    "parse_method",
    "write_report",
]
