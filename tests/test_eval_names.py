"""`make eval`'s name and dropped-stretch metrics on known inputs."""

from __future__ import annotations

import pytest

from pipeline.lab import evaluate


@pytest.fixture(scope="module")
def quick_episode(tmp_path_factory: pytest.TempPathFactory) -> evaluate.EvalEpisode:
    return evaluate.build_set(["eval_quick"], tmp_path_factory.mktemp("set"))[0]


def _words(ep: evaluate.EvalEpisode) -> list[dict]:
    return [{"text": " " + w, "start": line.start, "end": line.end}
            for line in ep.truth.lines for w in line.text.split()]


@pytest.mark.lab
def test_a_name_written_for_another_word_is_invented_and_holes_are_measured(quick_episode):
    vocab = ["Tokio", "Carl", "Lerche", "Jeremy", "Jung"]
    words = _words(quick_episode)
    perfect = evaluate.score_episode(quick_episode, {"segments": [{"words": words}]}, "", vocab).summary()
    assert perfect["invented_names"] == 0 and perfect["longest_dropped_run"] == 0

    changed = [dict(w) for w in words]
    texts = [w["text"].strip(" .,?") for w in changed]
    changed[texts.index("problem")]["text"] = " Carl"  # a name where another word was said
    changed[texts.index("Carl")]["text"] = " Carl's"  # the right name, possessive: not invented
    first_lets = texts.index("lets")
    del changed[first_lets: first_lets + 6]  # "lets one program handle many network" dropped
    d = evaluate.score_episode(quick_episode, {"segments": [{"words": changed}]}, "", vocab).summary()
    assert d["invented"] == ["problem->Carl"]
    assert d["longest_dropped_run"] == 6
