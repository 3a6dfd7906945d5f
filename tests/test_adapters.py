"""Parameter-efficient methods (issue 13): bottleneck adapters, the MAD-X stack and LoRA on tiny BERT and XLM-R
models built here; what each leaves unchanged, trains and saves; bad input named; one short run of each method
through the normal run path on the tiny world."""
from pathlib import Path

import pytest
import torch
from transformers import (BertConfig, BertForMaskedLM, BertForSequenceClassification, XLMRobertaConfig,
                          XLMRobertaForSequenceClassification)

from xltlib.core.config import RunConfig
from xltlib.core.errors import ConfigError, XltError
from xltlib.methods import METHODS
from xltlib.methods.adapters import (AdapterConfig, ModifierContext, add_adapter, adapter_stack, head_parameter_names,
                                     load_adapter, save_adapter, swap_adapter)

SIZES = dict(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
INPUT = torch.randint(5, 120, (3, 9), generator=torch.Generator().manual_seed(0))


def bert(seed=0, **kw):
    torch.manual_seed(seed)
    return BertForSequenceClassification(BertConfig(**SIZES, num_labels=3, **kw)).eval()


def xlmr(seed=0):
    torch.manual_seed(seed)
    return XLMRobertaForSequenceClassification(XLMRobertaConfig(**SIZES, num_labels=3)).eval()


def logits(model):
    with torch.no_grad():
        return model(input_ids=INPUT).logits


def nudge(module, seed=1):
    """Move every parameter of `module` off its init, as training would."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=generator))


@pytest.mark.parametrize("config", [AdapterConfig("pfeiffer", 4), AdapterConfig("houlsby", 8, invertible=True)])
def test_an_adapter_whose_output_projection_is_zero_leaves_the_outputs_as_the_base_models(config):
    model = bert()
    base = logits(model)
    adapter = add_adapter(model, "task", config, seed=1)
    assert all(torch.count_nonzero(site.up.weight) == 0 for site in adapter.sites.values())
    assert torch.equal(logits(model), base)
    sites = {key.split("_")[1] for key in adapter.sites}
    assert sites == ({"ffn"} if config.placement == "pfeiffer" else {"attn", "ffn"})
    nudge(adapter)
    assert not torch.allclose(logits(model), base)  # the hooks are live: the adapter does act once trained


def test_the_invertible_adapter_is_inverted_before_an_mlm_head():
    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(**SIZES)).eval()
    adapter = add_adapter(model, "lang", AdapterConfig("pfeiffer", 2, invertible=True), seed=0)
    nudge(adapter)
    x = torch.randn(4, 32)
    assert torch.allclose(adapter.invertible.inverse(adapter.invertible(x)), x, atol=1e-5)


@pytest.mark.parametrize("method", ["bottleneck", "lora", "madx"])
def test_only_adapter_and_head_parameters_get_gradients_and_change_after_a_step(method, tmp_path):
    model = bert()
    lang_dir = None
    if method == "madx":  # a language adapter as MLM training leaves it: nonzero
        donor = bert()
        nudge(add_adapter(donor, "lang", AdapterConfig("pfeiffer", 2, invertible=True), seed=0))
        lang_dir = save_adapter(donor, "lang", tmp_path / "en")
    spec = METHODS[method]
    context = ModifierContext(seed=1, eval_langs=("en",), language_adapter=lambda lang: lang_dir)
    model = spec.modifier.apply(model, spec.resolve({}), context)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    head = set(head_parameter_names(model))
    marker = {"bottleneck": "xlt_adapters.adapters.task.", "madx": "xlt_adapters.adapters.task.",
              "lora": ".lora_"}[method]
    assert trainable == head | {n for n in before if marker in n} and head <= trainable
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model(input_ids=INPUT, labels=torch.tensor([0, 1, 2])).loss.backward()
    assert all(p.grad is None for n, p in model.named_parameters() if n not in trainable)
    optimizer.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed <= trainable
    assert head <= changed and any(marker in n for n in changed)
    if method == "madx":  # the language adapter is frozen under the task adapter
        assert not any("adapters.lang." in n for n in changed)


def test_saving_and_loading_an_adapter_alone_restores_the_same_predictions(tmp_path):
    model = bert()
    nudge(add_adapter(model, "task", AdapterConfig("houlsby", 4, invertible=True), seed=3))
    expected = logits(model)
    folder = save_adapter(model, "task", tmp_path / "task")
    assert sorted(p.name for p in folder.iterdir()) == ["adapter.safetensors", "adapter_config.json"]
    fresh = bert()  # the same base weights, no adapter
    assert not torch.allclose(logits(fresh), expected)
    load_adapter(fresh, folder, "task")
    assert torch.allclose(logits(fresh), expected, atol=1e-6)


def test_swapping_the_language_adapter_changes_only_the_language_part_of_the_stack(tmp_path):
    model = bert()
    folders = {}
    for seed, lang in enumerate(("en", "de"), 1):
        donor = bert()
        nudge(add_adapter(donor, "lang", AdapterConfig("pfeiffer", 2, invertible=True), seed=0), seed=seed)
        folders[lang] = save_adapter(donor, "lang", tmp_path / lang)
    load_adapter(model, folders["en"], "lang")
    nudge(add_adapter(model, "task", AdapterConfig("pfeiffer", 16), seed=1), seed=9)
    stack = adapter_stack(model)
    task_before = {k: v.clone() for k, v in stack.adapters["task"].state_dict().items()}
    with_en = logits(model)
    swap_adapter(model, "lang", folders["de"])
    assert stack.order == ["lang", "task"]  # the language adapter stays below the task adapter
    assert all(torch.equal(v, task_before[k]) for k, v in stack.adapters["task"].state_dict().items())
    de_donor = bert()
    load_adapter(de_donor, folders["de"], "lang")
    assert all(torch.equal(v, de_donor.xlt_adapters.adapters["lang"].state_dict()[k])
               for k, v in stack.adapters["lang"].state_dict().items())
    assert not torch.allclose(logits(model), with_en)
    swap_adapter(model, "lang", folders["en"])
    assert torch.allclose(logits(model), with_en, atol=1e-6)


@pytest.mark.parametrize("build,prefix", [(bert, "bert"), (xlmr, "roberta")])
def test_lora_targets_the_query_and_value_projections_of_every_layer(build, prefix):
    model = build()
    base = logits(model)
    METHODS["lora"].modifier.apply(model, METHODS["lora"].resolve({}), ModifierContext())
    adapted = sorted(name for name, module in model.named_modules() if hasattr(module, "lora_A"))
    assert adapted == [f"{prefix}.encoder.layer.{i}.attention.self.{m}" for i in range(2) for m in ("query", "value")]
    assert torch.equal(logits(model), base)  # B starts at zero
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert f"{prefix}.encoder.layer.0.attention.self.query.base_layer.weight" in frozen
    assert not any(n.startswith("classifier") for n in frozen)


def test_lora_target_module_the_model_does_not_have_is_named_with_the_models_modules():
    with pytest.raises(ConfigError, match=r"target module 'q_proj' is not in this model \(bert\); its linear "
                                          r"modules: dense, key, query, value"):
        METHODS["lora"].modifier.apply(bert(), METHODS["lora"].resolve({"target_modules": ["q_proj"]}),
                                       ModifierContext())
    with pytest.raises(ConfigError, match="option 'rank' must be an integer >= 1, got 0"):
        METHODS["lora"].resolve({"rank": 0})


@pytest.mark.parametrize("method,option", [("bottleneck", "reduction_factor"), ("madx", "lang_reduction_factor")])
def test_a_reduction_factor_that_does_not_divide_the_hidden_size_is_named(method, option):
    spec = METHODS[method]
    with pytest.raises(ConfigError, match=rf"method '{method}': {option} 5 does not divide the model's hidden size "
                                          r"32; use one of 2, 4, 8, 16, 32"):
        spec.modifier.apply(bert(), spec.resolve({option: 5}), ModifierContext(language_adapter=lambda lang: None))


# -- through the run path, on the tiny world ----------------------------------------------------------------------

BUDGET = dict(world_preset="tiny", tasks=["xnli"], seeds=[1], eval_langs=["en", "rlx"], generalized=False,
              max_train_samples=64, max_eval_samples=24, num_train_epochs=1.0, per_device_train_batch_size=16,
              per_device_eval_batch_size=64, learning_rate=1e-3, warmup_ratio=0.0, evals_per_epoch=1)
LANG_BUDGET = {"lang_steps": 4, "lang_batch_size": 16}


def test_lora_and_bottleneck_runs_go_through_the_run_path_and_a_kept_model_evaluates_alike(cached_tiny_world,
                                                                                          tmp_path):
    from xltlib.run.experiment import run_experiment

    cfg = RunConfig(**BUDGET, methods=["lora", "bottleneck"])
    records = run_experiment(cfg, tmp_path / "run", cached_tiny_world)
    test = records[records.split == "test"]
    assert sorted(set(test.method)) == ["bottleneck", "lora"] and set(test.lang) == {"en", "rlx"}
    assert test.value.between(0, 1).all()
    # Another evaluation of the same trainings loads the kept models (adapters and LoRA layers re-applied, their
    # weights loaded back) and scores English as the trained model did.
    again = run_experiment(cfg.replace(eval_langs=("en", "rlx", "adn")), tmp_path / "run", cached_tiny_world)
    key = ["method", "lang", "metric"]
    pairs = test.merge(again[again.split == "test"], on=key, suffixes=("", "_again"))
    assert len(pairs) == 4 and (pairs.value == pairs.value_again).all()


def test_madx_trains_language_adapters_once_and_evaluates_each_language_under_its_own(cached_tiny_world, tmp_path):
    from xltlib.app.language_adapters import train_language_adapters
    from xltlib.run.experiment import run_experiment

    cfg = RunConfig(**BUDGET, methods=["madx"], method_options={"madx": LANG_BUDGET})
    with pytest.raises(XltError, match=r"no language adapter for evaluation language 'en' .* train it first"):
        run_experiment(cfg, tmp_path / "run", cached_tiny_world)
    folders = train_language_adapters(cfg, cached_tiny_world, tmp_path / "run")
    assert set(folders) == {"en", "rlx"} and folders["en"] != folders["rlx"]
    stamps = {lang: (f / "adapter.safetensors").stat().st_mtime_ns for lang, f in folders.items()}
    assert train_language_adapters(cfg, cached_tiny_world, tmp_path / "run") == folders  # kept, not retrained
    assert stamps == {lang: (f / "adapter.safetensors").stat().st_mtime_ns for lang, f in folders.items()}
    records = run_experiment(cfg, tmp_path / "run", cached_tiny_world)
    test = records[records.split == "test"]
    assert set(test.lang) == {"en", "rlx"} and test.value.between(0, 1).all()
    # A language with no adapter is named before anything trains, with how to train one.
    with pytest.raises(XltError, match=r"no language adapter for evaluation language 'adn' .*train_language_adapters"):
        run_experiment(cfg.replace(eval_langs=("en", "rlx", "adn")), tmp_path / "run", cached_tiny_world)


def test_a_language_adapter_is_keyed_by_model_language_settings_and_text(tmp_path):
    from xltlib.run.adapters import corpus_id, language_adapter_dir

    text = tmp_path / "sw.txt"
    text.write_text("habari ya asubuhi\n")
    options = METHODS["madx"].resolve({"lang_corpus": {"sw": str(text)}})
    folder = language_adapter_dir(tmp_path, "model", "sw", options, corpus_id("sw", options, None))
    assert folder == language_adapter_dir(tmp_path, "model", "sw", options, corpus_id("sw", options, None))
    assert folder.name.startswith("lang-adapter-sw-")
    others = [language_adapter_dir(tmp_path, "other-model", "sw", options, corpus_id("sw", options, None)),
              language_adapter_dir(tmp_path, "model", "sw", {**options, "lang_steps": 7},
                                   corpus_id("sw", options, None))]
    # the task adapter's own settings are not the language adapter's: runs that differ in them share it
    assert language_adapter_dir(tmp_path, "model", "sw", {**options, "reduction_factor": 8},
                                corpus_id("sw", options, None)) == folder
    text.write_text("habari ya jioni, rafiki\n")  # another text: another adapter
    others.append(language_adapter_dir(tmp_path, "model", "sw", options, corpus_id("sw", options, None)))
    assert folder not in others and len(set(others)) == 3


def test_madx_on_the_real_path_trains_language_adapters_from_text_files(tiny_model_dir, xnli_files, xnli_rows,
                                                                        tmp_path):
    from xltlib.run.experiment import run_experiment

    corpus = {}
    for lang in ("en", "de"):
        corpus[lang] = str(tmp_path / f"{lang}.txt")
        Path(corpus[lang]).write_text("\n".join(r["premise"] + " " + r["hypothesis"] for r in xnli_rows[lang]))
    cfg = RunConfig(world="real", tasks=["xnli"], model_name_or_path=str(tiny_model_dir), methods=["madx"],
                    seeds=[1], eval_langs=["en", "de"], generalized=False, data_files={"xnli": xnli_files},
                    num_train_epochs=1.0, per_device_train_batch_size=4, per_device_eval_batch_size=8,
                    learning_rate=1e-3, method_options={"madx": {**LANG_BUDGET, "lang_corpus": corpus}})
    records = run_experiment(cfg, tmp_path / "run", None)
    assert set(records[records.split == "test"].lang) == {"en", "de"}
    assert sorted(p.name.split("-")[2] for p in (tmp_path / "run/work").glob("lang-adapter-*") if p.is_dir()) \
        == ["de", "en"]


def test_what_an_adapter_run_cannot_do_yet_is_refused_by_name():
    spec = METHODS["madx"]
    with pytest.raises(ConfigError, match="the generalized setting puts two languages in one example: set "
                                          "generalized: false"):
        spec.modifier.apply(bert(), spec.resolve({}), ModifierContext(mixes_languages=True))
    with pytest.raises(ConfigError, match=r"method 'lora' trains its adapter one task a stage \(seq: schedules\); a "
                                          r"multi-task or joint stage"):
        METHODS["lora"].modifier.apply(bert(), METHODS["lora"].resolve({}), ModifierContext(stages=2, multi_task=True))


@pytest.mark.parametrize("stack", [False, True])
def test_madx_through_stages_keeps_the_language_adapter_below_and_continues_or_stacks_the_task_adapter(stack,
                                                                                                     tmp_path):
    """`madx+seq:mnli`'s target stage (`ModelModifier.enter_stage`, a fresh head): the same language adapter at the
    bottom, MNLI's task adapter carried on (continue) or frozen below a new, identity-initialised one (stack)."""
    donor = bert()
    nudge(add_adapter(donor, "lang", AdapterConfig("pfeiffer", 2, invertible=True), seed=0))
    lang_dir = save_adapter(donor, "lang", tmp_path / "en")
    spec = METHODS["madx+seq:mnli"]
    options = spec.resolve({"intermediate_adapter": "stack" if stack else "continue"})
    context = ModifierContext(seed=1, eval_langs=("en",), language_adapter=lambda lang: lang_dir, stages=2)
    previous = spec.modifier.apply(bert(), options, context)
    nudge(adapter_stack(previous).adapters["task"])  # as the MNLI stage leaves it
    model = spec.modifier.enter_stage(previous, bert(seed=5), options, context, stack=stack)
    stack_of = adapter_stack(model)
    assert stack_of.order == (["lang", "task0", "task"] if stack else ["lang", "task"])
    carried = stack_of.adapters["task0" if stack else "task"]
    mnli = adapter_stack(previous).adapters["task"].state_dict()
    assert all(torch.equal(v, mnli[k]) for k, v in carried.state_dict().items())
    assert all(torch.equal(v, adapter_stack(previous).adapters["lang"].state_dict()[k])
               for k, v in stack_of.adapters["lang"].state_dict().items())
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == set(head_parameter_names(model)) | {n for n, _ in model.named_parameters()
                                                            if n.startswith("xlt_adapters.adapters.task.")}
    if stack:  # the new task adapter starts as the identity: the model computes what MNLI's stack does, new head aside
        assert not any(stack_of.adapters["task"].sites[k].up.weight.any() for k in stack_of.adapters["task"].sites)
