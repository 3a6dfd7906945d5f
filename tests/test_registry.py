"""Registries: duplicates are rejected, unknown names list the known ones, and the real tasks' language
lists (XNLI's 15, PAWS-X's 7) are all registered languages."""
import pytest

from xltlib.core.errors import UnknownNameError
from xltlib.core.languages import LANGUAGES, check_languages
from xltlib.core.registry import Registry
from xltlib.methods import METHODS
from xltlib.tasks.benchmarks import PAWSX_LANGS, XNLI_LANGS
from xltlib.tasks.catalogue import TASKS
from xltlib.tasks.models import MODELS


def test_duplicate_registration_is_rejected():
    reg = Registry("widget")
    reg.register("a", 1)
    with pytest.raises(ValueError, match="duplicate widget name 'a'"):
        reg.register("a", 2)
    assert reg["a"] == 1 and len(reg) == 1


def test_unknown_name_lists_known_ones():
    reg = Registry("widget")
    reg.register("alpha", 1)
    reg.register("beta", 2)
    with pytest.raises(UnknownNameError) as info:
        reg["gamma"]
    assert str(info.value) == "unknown widget 'gamma'; known widgets: alpha, beta"
    assert isinstance(info.value, KeyError)  # so `except KeyError` code keeps working


def test_unhashable_name_is_an_unknown_name():
    reg = Registry("widget")
    with pytest.raises(UnknownNameError, match=r"unknown widget \['a'\]"):
        reg[["a"]]


def test_registry_listing():
    reg = Registry("widget")
    reg.register("b", 1)
    reg.register("a", 2)
    assert reg.names() == ["b", "a"] and list(reg) == ["b", "a"]  # registration order
    assert "a" in reg and "c" not in reg
    assert dict(reg.items()) == {"b": 1, "a": 2}


@pytest.mark.parametrize("registry, typo, known", [
    (TASKS, "xnly", "xnli"), (METHODS, "standrad", "standard"), (MODELS, "xlmr", "xlm-roberta-base"),
    (LANGUAGES, "gr", "el"),
])
def test_real_registries_list_known_names(registry, typo, known):
    with pytest.raises(UnknownNameError, match=f"'{typo}'.*{known}"):
        registry[typo]


def test_xnli_and_pawsx_languages_are_registered():
    assert len(XNLI_LANGS) == 15 and len(set(XNLI_LANGS)) == 15
    assert len(PAWSX_LANGS) == 7 and len(set(PAWSX_LANGS)) == 7
    assert TASKS["xnli"].langs == XNLI_LANGS and TASKS["pawsx"].langs == PAWSX_LANGS
    for code in XNLI_LANGS + PAWSX_LANGS:
        assert LANGUAGES[code].world == "real"


def test_every_task_is_consistent():
    for name, spec in TASKS.items():
        assert spec.name == name
        assert all(code in LANGUAGES for code in spec.langs), name
        if spec.type in ("pair_classification", "tagging", "multiple_choice"):
            assert spec.num_labels == len(set(spec.labels)) > 1, name
        if name not in ("xcopa", "tatoeba", "bucc2018"):  # not evaluated in their English source
            assert spec.src_lang in spec.langs, name


def test_check_languages_names_the_unknown_code():
    assert check_languages(["en", "de"], XNLI_LANGS, "eval_langs") == ("en", "de")
    with pytest.raises(UnknownNameError, match="unknown language 'ja' in eval_langs; allowed: ar, bg"):
        check_languages(["en", "ja"], XNLI_LANGS, "eval_langs")
