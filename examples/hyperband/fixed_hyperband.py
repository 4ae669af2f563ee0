"""NNI 3.0's Hyperband with the fix for NNI issue 5263, as a customized tuner.

NNI 3.0's Hyperband sends string parameter ids ("0-1_0_0"), and its dispatcher then
compares the id of the first metric of every trial with an integer in
``Recoverable.is_created_in_previous_exp`` (``"0-1_0_0" <= -1``): TypeError, and the
experiment stops. Ids that are not integers can never come from a resumed experiment's
integer ids, so this subclass answers False for them and leaves the rest to NNI.

Use it from config.yml (see config.yml next to this file)::

    tuner:
      codeDirectory: .
      className: fixed_hyperband.FixedHyperband
      classArgs: {optimize_mode: maximize, R: 27, eta: 3}
"""

from nni.algorithms.hpo.hyperband_advisor import Hyperband


class FixedHyperband(Hyperband):
    """Hyperband whose string parameter ids do not crash the dispatcher (NNI issue 5263)."""

    def is_created_in_previous_exp(self, param_id):
        if not isinstance(param_id, int):
            return False
        return super().is_created_in_previous_exp(param_id)
