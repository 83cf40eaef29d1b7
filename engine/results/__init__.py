"""What a run measured and how it looks: metrics computed from the store, cost projections, the live
run view folded from events (and the feed that follows a store into it), the leaderboard, and the
predictions export. Pure reads of the store; nothing here starts or changes a run.
"""
