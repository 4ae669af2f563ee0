"""NNI 3.0's BOHB with the fix for NNI issue 5263, as a customized tuner.

BOHB sends string parameter ids ("2_0_7") and crashes on the first metric the same
way as Hyperband (see fixed_hyperband.py). BOHB also needs the ConfigSpace package
in NNI's Python (``pip install nni[BOHB]``).

    tuner:
      codeDirectory: .
      className: fixed_bohb.FixedBOHB
      classArgs: {optimize_mode: maximize, min_budget: 1, max_budget: 27, eta: 3}
"""

from nni.algorithms.hpo.bohb_advisor.bohb_advisor import BOHB


class FixedBOHB(BOHB):
    """BOHB whose string parameter ids do not crash the dispatcher (NNI issue 5263)."""

    def is_created_in_previous_exp(self, param_id):
        if not isinstance(param_id, int):
            return False
        return super().is_created_in_previous_exp(param_id)
