"""Speed measurements and the reference loops they time: scripts, not harness code.

Nothing in the harness imports this package; its scripts may import methods/ and baselines/.
"""
