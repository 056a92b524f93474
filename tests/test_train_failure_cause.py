"""The one line a user sees when a training job fails names the real cause, not a banner."""

from corpusforge.flows.train import failure_cause

TORCHRUN_OUTPUT = """\
[rank1]: Traceback (most recent call last):
[rank1]:   File "model/pretrain.py", line 300, in prepare_pretrain
[rank1]:     set_optimizer_state_dict(model, optimizer, state)
[rank1]: KeyError: 'state.0.step'
W1207 10:00:00.000000 123 torch/distributed/elastic/multiprocessing/api.py:900] Sending SIGTERM
E1207 10:00:01.000000 123 torch/distributed/elastic/multiprocessing/api.py:874] failed (exitcode: 1)
Traceback (most recent call last):
  File "torch/distributed/run.py", line 900, in main
torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
============================================================
corpusforge.model.pretrain FAILED
------------------------------------------------------------
Failures:
  <NO_OTHER_FAILURES>
------------------------------------------------------------
============================================================
""".splitlines()


def test_the_failing_rank_s_exception_is_the_cause():
    assert failure_cause(TORCHRUN_OUTPUT) == "KeyError: 'state.0.step'"


def test_the_job_s_own_error_line_wins():
    lines = ["step 10 loss 3.2", "error: token shards at tok (val) hold no tokens", "====="]
    assert failure_cause(lines) == "token shards at tok (val) hold no tokens"


def test_without_an_exception_the_last_meaningful_line():
    assert failure_cause(["loading", "Killed", "======"]) == "Killed"
    assert failure_cause([]) == "no output"
