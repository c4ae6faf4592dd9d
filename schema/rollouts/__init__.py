"""Group rollouts: GroupRollout with its counts and skips, the groupRollouts query, and the staff's
startGroupRollout, pauseGroupRollout, resumeGroupRollout and cancelGroupRollout."""
