"""Frames from the child are checked by type, size and order (a bad one: ``invalid``), and
answers are read by exact-type access paths; both without starting a sandbox."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from verifier._capture import Capture, Missing, read_path
from verifier._notebook import read_text
from verifier._sandbox_report import FunctionRequest, Read, Request, Search, interpret

SUB = read_text("# %%\nx = 1\n# %%\ny = 2\n", ".py")
REQUEST = Request(["y"], [FunctionRequest("f", ["x"], [[1.0]], derivatives=["value"])],
                  [Read("x.grad")], [Search(2)])
ANSWER = {"shape": [2], "dtype": "float64", "data": [1.0, 2.5]}


def frames(*extra_capture, result=True, seconds=0.01):
    out = [{"start": 1}, {"cell": {"index": 1, "ok": True, "error": None, "seconds": seconds, "output": ""}},
           {"capture": {"cell": 1, "values": {"y": {"error": "missing"}}, "found": {}, "functions": {}}},
           {"start": 2}, {"cell": {"index": 2, "ok": True, "error": None, "seconds": 0.0, "output": "hi"}},
           {"capture": {"cell": 2, "values": {"y": ANSWER, "x.grad": {"error": "missing: none"}},
                        "found": {"any:2": [["w.grad", ANSWER]]},
                        "functions": {"f": [{"value": {"shape": [], "dtype": "float64", "data": [3.0]}}]}}},
           *extra_capture]
    if result:
        out.append({"result": {"memory": False, "cell_timeout": False}})
    return out


def report(fr, **kw):
    return {"frames": fr, "exit_code": 0, "signal": None, **kw}


def test_a_well_formed_run_is_read_whole():
    out = interpret(report(frames()), REQUEST, SUB)
    assert out.status == "ok" and out.values["y"]["data"] == [1.0, 2.5]
    assert out.found["any:2"][0][0] == "w.grad" and out.functions["f"][0]["value"]["data"] == [3.0]
    assert [c.label for c in out.cells] == ["In [ ] (code cell 1)", "In [ ] (code cell 2)"]


def test_answers_captured_before_the_process_ended_are_kept():
    fr = frames(result=False)[:3] + [{"start": 2}]
    out = interpret(report(fr, exit_code=None, signal=11), REQUEST, SUB)
    assert out.status == "crash" and out.values["y"] == {"error": "missing"}
    assert out.cells[1].error.startswith("killed") and out.reason[:3] == ("signal", "11 (segmentation fault)",
                                                                         "In [ ] (code cell 2)")
    assert "were kept" in out.why and out.functions["f"][0]["value"]["error"].startswith("no result")


BAD = {
    "huge int seconds": lambda f: f[1]["cell"].update(seconds=10**400),
    "nan seconds": lambda f: f[1]["cell"].update(seconds=float("nan")),
    "negative seconds": lambda f: f[1]["cell"].update(seconds=-1),
    "string seconds": lambda f: f[1]["cell"].update(seconds="1"),
    "extra cell key": lambda f: f[1]["cell"].update(evil=1),
    "ok not bool": lambda f: f[1]["cell"].update(ok=1),
    "huge output": lambda f: f[1]["cell"].update(output="x" * 20_000),
    "cell out of order": lambda f: f.insert(0, {"start": 2}),
    "log for another cell": lambda f: f[1]["cell"].update(index=2),
    "two keys": lambda f: f[0].update(cell=1),
    "unknown frame": lambda f: f.insert(0, {"score": 100}),
    "not a dict": lambda f: f.insert(0, [1, 2]),
    "unasked answer": lambda f: f[2]["capture"]["values"].update(secret=ANSWER),
    "answer with huge int": lambda f: f[5]["capture"]["values"].update(y={**ANSWER, "data": [10**400, 1.0]}),
    "answer too short": lambda f: f[5]["capture"]["values"].update(y={**ANSWER, "data": [1.0]}),
    "answer of strings": lambda f: f[5]["capture"]["values"].update(y={**ANSWER, "data": ["1", "2"]}),
    "answer with extra key": lambda f: f[5]["capture"]["values"].update(y={**ANSWER, "pwn": 1}),
    "bool in data": lambda f: f[5]["capture"]["values"].update(y={**ANSWER, "data": [True, 1.0]}),
    "capture for a future cell": lambda f: f[2]["capture"].update(cell=2),
    "too many hits": lambda f: f[5]["capture"]["found"].update({"any:2": [["a", ANSWER]] * 65}),
    "function points mismatch": lambda f: f[5]["capture"]["functions"]["f"].append({}),
    "frame after result": lambda f: f.append({"start": 3}),
    "result before the end": lambda f: f.insert(2, {"result": {"memory": False, "cell_timeout": False}}),
}


@pytest.mark.parametrize("what", sorted(BAD))
def test_a_bad_frame_makes_the_submission_invalid(what):
    fr = frames()
    BAD[what](fr)
    out = interpret(report(fr), REQUEST, SUB)
    assert out.status == "invalid", what
    assert out.values["y"]["error"].startswith("no result") and out.found["any:2"] == []
    assert out.reason[0] == "frame"


def test_too_many_frames_or_garbage_is_invalid():
    assert interpret(report(frames() * 5), REQUEST, SUB).status == "invalid"
    assert interpret(report(frames(), garbage=True), REQUEST, SUB).status == "invalid"


# -- exact-type access paths ---------------------------------------------------------------------

class Attr:
    def __getattr__(self, name):
        raise AssertionError("student __getattr__ called")


class Items(dict):
    def __getitem__(self, key):
        raise AssertionError("student __getitem__ called")


class Key(str):
    armed = False

    def __eq__(self, other):
        if Key.armed:
            raise AssertionError("student __eq__ called")
        return str.__eq__(self, other)

    def __hash__(self):
        return hash("loss")  # collides with the key looked up


class Sub(torch.Tensor):
    pass


@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf")
def test_paths_follow_exact_types_only():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    (x**2).sum().backward()
    ns = {"x": x, "t": (x, [np.eye(2)]),
          "a": Attr(), "i": Items(loss=1), "s": torch.ones(2).as_subclass(Sub), "y": x * 2}
    ns["d"] = {Key("lost"): 1.0, "loss": torch.tensor(3.0)}
    Key.armed = True
    assert read_path(ns, "x", [["attr", "grad"]]).tolist() == [2.0, 4.0]
    assert float(read_path(ns, "d", [["index", "loss"]])) == 3.0
    assert read_path(ns, "t", [["index", 1], ["index", 0], ["index", [1, 1]]]) == 1.0
    assert read_path(ns, "t", [["index", -2], ["attr", "grad"], ["index", 1]]).item() == 4.0
    for name, steps in [("a", [["attr", "grad"]]), ("i", [["index", "loss"]]), ("s", [["attr", "grad"]]),
                        ("x", [["index", "k"]]), ("t", [["index", 5]]), ("nope", []),
                        ("y", [["attr", "grad"]]), ("x", [["attr", "foo"]])]:
        with pytest.raises(Missing):
            read_path(ns, name, steps)
    Key.armed = False


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(2, 1)
        self.note = "plain"


class Hooked(torch.nn.Module):
    def __getattr__(self, name):
        raise AssertionError("student __getattr__ called")


class Prop:
    @property
    def loss(self):
        raise AssertionError("student property called")


class Meta(type):
    def __eq__(cls, other):
        raise AssertionError("student metaclass called")

    __hash__ = type.__hash__


class WithMeta(metaclass=Meta):
    pass


def test_modules_and_plain_objects_give_members_from_their_dict_only():
    net = Net()
    net.fc(torch.ones(2)).sum().backward()
    plain = WithMeta()
    plain.loss = 1.0
    ns = {"net": net, "h": Hooked(), "p": Prop(), "m": plain}
    assert read_path(ns, "net", [["attr", "fc"], ["attr", "weight"], ["attr", "grad"]]).tolist() == [[1.0, 1.0]]
    assert read_path(ns, "net", [["attr", "note"]]) == "plain"
    for name, steps in [("h", [["attr", "x"]]), ("p", [["attr", "loss"]]), ("m", [["attr", "loss"]]),
                        ("net", [["attr", "training2"]])]:
        with pytest.raises(Missing):
            read_path(ns, name, steps)


def test_capture_sends_a_value_again_only_when_it_changed():
    ns: dict = {}
    request = {"reads": [{"key": "w.grad", "path": ["w", [["attr", "grad"]]], "cell": None},
                         {"key": "w@1", "path": ["w", []], "cell": 1}],
               "searches": [{"key": "any:2", "size": 2, "cell": None}], "functions": []}

    def to_answer(obj):
        return {"shape": list(obj.shape), "dtype": "float32", "data": obj.reshape(-1).tolist()}

    cap = Capture(request, ns, to_answer, lambda fr: [])
    assert cap.after_cell(1)["values"] == {"w.grad": {"error": "missing"}, "w@1": {"error": "missing"}}
    ns["w"] = torch.ones(2, requires_grad=True)
    (ns["w"] * 3).sum().backward()
    frame = cap.after_cell(2)
    assert frame["values"] == {"w.grad": to_answer(torch.full((2,), 3.0))}  # w@1 is read after cell 1 only
    assert [n for n, _ in frame["found"]["any:2"]] == ["w", "w.grad"]
    assert cap.after_cell(3) == {"cell": 3, "values": {}, "found": {}, "functions": {}}
    (ns["w"] * 3).sum().backward()  # accumulated in place: the same tensor, a new version
    assert cap.after_cell(4)["values"]["w.grad"]["data"] == [6.0, 6.0]
