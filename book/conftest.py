"""nbval on the chapters with the book's comparison rule: every output is compared except durations,
stderr and a float's last printed digit (:mod:`neurcomp.book.nbcompare` says why)."""
import nbval.plugin

from neurcomp.book.nbcompare import differences


def _compare_outputs(self, test, ref, skip_compare=None):
    self.comparison_traceback = differences(test, ref, skip_compare or self.parent.skip_compare)
    return not self.comparison_traceback


nbval.plugin.IPyNbCell.compare_outputs = _compare_outputs
