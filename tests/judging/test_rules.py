"""Bad judged tasks are refused before anything runs, each naming its field, in the language form and the plain one."""

from __future__ import annotations

from typing import Any

import pytest

from faber_ray import ExecutorConfig, TaskValidationError, validate_batch
from faber_ray.judging import Checker, TestCase
from faber_ray.languages import task

CPP = "int main(){}"


def refusal(spec: dict[str, Any]) -> tuple[str | None, str]:
    with pytest.raises(TaskValidationError) as caught:
        validate_batch([{"language": "cpp", "source": CPP, **spec}], ExecutorConfig())
    return caught.value.field, caught.value.reason


@pytest.mark.parametrize(("spec", "field", "words"), [
    ({"tests": [{"input": "1"}], "checker": "levenshtein"}, "checker", "unknown checker"),
    ({"tests": [{"input": "1"}], "checker": "float:tiny"}, "checker", "number"),
    ({"tests": [{"input": "1", "points": -1}]}, "tests.0.points", "greater than or equal to 0"),
    ({"tests": [{"input": "1"}, {"input": "2", "group": ""}]}, "tests.1.group", "needs a name"),
    ({"tests": [{"input": "1"}], "interactor": {"language": "cpp", "source": CPP}, "stop": "first_failure"},
     "stop", "never"),
    ({"tests": [{"input": "1"}], "interactor": {"language": "cpp", "source": CPP},
      "checker": {"language": "cpp", "source": CPP}}, "checker", "the interactor judges"),
    ({"tests": [{"input": "1"}], "interactor": {"language": "cobol", "source": CPP}}, "interactor.language", "unknown"),
    ({"tests": [{"input": "1"}], "interactor": {"language": "cpp", "source": CPP, "extra": 1}}, "interactor.extra", ""),
    ({"tests": [{"input": "1"}], "inputs": ["1"]}, "inputs", "not both"),
    ({"tests": [{"input": "1"}], "stdin": "1"}, "stdin", "not both"),
    ({"tests": []}, "tests", "empty"),
    ({"tests": [{"input": "1"}], "stop": "sometimes"}, "stop", ""),
    ({"tests": [{"input": "1", "answer": "2"}]}, "tests.0.answer", ""),
    ({"tests": [{"input": "1"}], "checker": {"language": "cobol", "source": "x"}}, "checker.language", "unknown"),
    ({"tests": [{"input": "1"}], "checker": {"language": "cpp", "source": "x", "limits": {"timeout": -1}}},
     "checker.limits.timeout", ""),
])
def test_the_language_form_refuses_naming_the_field(spec: dict[str, Any], field: str, words: str) -> None:
    got_field, reason = refusal(spec)
    assert got_field == field
    assert words in reason


def test_the_python_api_refuses_the_same() -> None:
    with pytest.raises(TaskValidationError) as caught:
        task("cpp", CPP, tests=[TestCase(input="1")], checker="float:x")
    assert caught.value.field == "checker"
    with pytest.raises(TaskValidationError) as caught:
        TestCase(points=-0.5)
    assert caught.value.field == "points"
    with pytest.raises(TaskValidationError) as caught:
        task("cpp", CPP, tests=[TestCase()], interactor=Checker(language="cpp", source=CPP), stop="group")
    assert caught.value.field == "stop"
    built = task("cpp", CPP, tests=[TestCase()], interactor=Checker(language="python", source="print(1)"))
    assert built.judging is not None and built.judging.interactor is not None


def test_a_plain_task_with_judging_is_checked_too() -> None:
    base = {"steps": [{"command": "./main"}], "judging": {"tests": [{"input": "1"}]}}
    assert validate_batch([base], ExecutorConfig())[0].judging is not None
    for change, field in [
        ({"steps": [{"command": "./main", "stdin": "x"}]}, "steps.0.stdin"),
        ({"collect": ["*"]}, "collect"),
        ({"judging": {"tests": [{"group": " "}]}}, "judging.tests.0.group"),
        ({"steps": None, "command": "true"}, "judging"),
    ]:
        with pytest.raises(TaskValidationError) as caught:
            validate_batch([{**base, **change}], ExecutorConfig())
        assert caught.value.field == field, change


def test_old_results_and_tasks_stay_valid() -> None:
    from faber_ray import TaskResult

    result = TaskResult.model_validate({"execution_id": "x", "status": "SUCCESS"})
    assert (result.verdict, result.score, result.max_score, result.tests) == (None, 0.0, 0.0, None)
    assert TaskResult.model_validate_json(result.model_dump_json()) == result
